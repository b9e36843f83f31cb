//! Partial signatures returned by signers, one per (session, input, public key). The
//! service verifies each against the session's transaction before calling [`insert`];
//! the sender reads them back with [`for_session`] to complete the PSBT.

use super::cached::CachedSql;
use bitcoin::ecdsa;
use bitcoin::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};
use sluice_shared::identity::SignerId;

use super::DbError;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignature {
    pub input_index: u32,
    pub pubkey: PublicKey,
    pub signature: ecdsa::Signature,
    /// Who posted it online; `None` when it came from an imported file.
    pub signer: Option<SignerId>,
}

/// What [`insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The same signature was already stored (a retried post).
    AlreadyStored,
}

/// Stores a verified signature. A second, different signature by the same key on the
/// same input is refused as corrupt: ECDSA signatures from one honest signer over one
/// sighash are deterministic (RFC 6979), so this means a misbehaving signer or a bug.
pub fn insert(
    conn: &Connection,
    session_id: u64,
    sig: &StoredSignature,
    now: UnixTime,
) -> Result<Inserted, DbError> {
    let session =
        i64::try_from(session_id).map_err(|_| DbError::Corrupt(format!("session id {session_id}")))?;
    let pubkey = sig.pubkey.to_string();
    let signature = hex::encode(sig.signature.to_vec());
    let existing: Option<String> = conn
        .query_row_cached(
            "SELECT signature FROM partial_signatures WHERE session_id = ?1 AND input_index = ?2 AND pubkey = ?3",
            params![session, sig.input_index, pubkey],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(stored) if stored == signature => Ok(Inserted::AlreadyStored),
        Some(_) => Err(DbError::Corrupt(format!(
            "session {session_id} input {}: key {pubkey} sent a second, different signature",
            sig.input_index
        ))),
        None => {
            conn.execute_cached(
                "INSERT INTO partial_signatures (session_id, input_index, pubkey, signature, signer_id, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    session,
                    sig.input_index,
                    pubkey,
                    signature,
                    sig.signer.map(|s| s.to_string()),
                    now.secs()
                ],
            )?;
            Ok(Inserted::New)
        }
    }
}

/// Every stored signature of a session, by input then key.
pub fn for_session(conn: &Connection, session_id: u64) -> Result<Vec<StoredSignature>, DbError> {
    let session =
        i64::try_from(session_id).map_err(|_| DbError::Corrupt(format!("session id {session_id}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT input_index, pubkey, signature, signer_id FROM partial_signatures \
         WHERE session_id = ?1 ORDER BY input_index, pubkey",
    )?;
    let rows = stmt.query_map([session], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (input_index, pubkey, signature, signer) = row?;
        let corrupt =
            |what: &str| DbError::Corrupt(format!("session {session_id} input {input_index}: {what}"));
        let bytes = hex::decode(&signature).map_err(|_| corrupt("signature hex"))?;
        Ok(StoredSignature {
            input_index,
            pubkey: pubkey.parse().map_err(|_| corrupt("public key"))?,
            signature: ecdsa::Signature::from_slice(&bytes).map_err(|_| corrupt("signature"))?,
            signer: signer
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| corrupt("signer id"))?,
        })
    })
    .collect()
}
