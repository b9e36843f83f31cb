//! The signers the coordinator knows. A signer's identity key (BIP340, x-only) signs its
//! online requests; its id is derived from that key (`sluice_shared::identity`).

use super::cached::CachedSql;
use bitcoin::bip32::Fingerprint;
use bitcoin::secp256k1::XOnlyPublicKey;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sluice_shared::identity::SignerId;
use sluice_shared::tor_client_key::TorClientKey;

use super::DbError;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerRecord {
    pub id: SignerId,
    pub identity_key: XOnlyPublicKey,
    pub master_fingerprint: Fingerprint,
    pub name: String,
    pub active: bool,
    pub created_at: UnixTime,
    pub created_by: String,
    /// Stealth mode: the key the signer API's onion service lets discover it.
    pub tor_key: Option<TorClientKey>,
}

const COLUMNS: &str =
    "signer_id, identity_key, master_fingerprint, name, active, created_at, created_by, tor_key";

type Columns = (String, String, String, String, bool, i64, String, Option<String>);

fn from_row(r: &Row<'_>) -> rusqlite::Result<Columns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn parse(row: Columns) -> Result<SignerRecord, DbError> {
    let (id, key, fingerprint, name, active, created_at, created_by, tor_key) = row;
    let corrupt = |what: &str| DbError::Corrupt(format!("signer {id}: {what}"));
    let identity_key: XOnlyPublicKey = key.parse().map_err(|_| corrupt("identity key"))?;
    let parsed_id: SignerId = id.parse().map_err(|_| corrupt("id"))?;
    if SignerId::from_identity_key(&identity_key) != parsed_id {
        return Err(corrupt("id does not match the identity key"));
    }
    Ok(SignerRecord {
        id: parsed_id,
        identity_key,
        master_fingerprint: fingerprint.parse().map_err(|_| corrupt("master fingerprint"))?,
        name,
        active,
        created_at: UnixTime::from_secs(created_at),
        created_by,
        tor_key: tor_key
            .map(|key| key.parse().map_err(|_| corrupt("restricted-discovery key")))
            .transpose()?,
    })
}

/// Registers a signer by its identity key. Fails (UNIQUE) if the key or name is known.
pub fn insert(
    conn: &Connection,
    identity_key: &XOnlyPublicKey,
    master_fingerprint: Fingerprint,
    name: &str,
    created_by: &str,
    now: UnixTime,
) -> Result<SignerId, DbError> {
    let id = SignerId::from_identity_key(identity_key);
    conn.execute_cached(
        "INSERT INTO signers (signer_id, identity_key, master_fingerprint, name, active, created_at, created_by) \
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
        params![
            id.to_string(),
            identity_key.to_string(),
            master_fingerprint.to_string(),
            name,
            now.secs(),
            created_by
        ],
    )?;
    Ok(id)
}

pub fn find(conn: &Connection, id: &SignerId) -> Result<Option<SignerRecord>, DbError> {
    let row = conn
        .query_row_cached(
            &format!("SELECT {COLUMNS} FROM signers WHERE signer_id = ?1"),
            [id.to_string()],
            from_row,
        )
        .optional()?;
    row.map(parse).transpose()
}

/// The active signer holding keys under this master fingerprint, if any.
pub fn find_by_fingerprint(
    conn: &Connection,
    fingerprint: Fingerprint,
) -> Result<Option<SignerRecord>, DbError> {
    let row = conn
        .query_row_cached(
            &format!("SELECT {COLUMNS} FROM signers WHERE master_fingerprint = ?1 AND active = 1"),
            [fingerprint.to_string()],
            from_row,
        )
        .optional()?;
    row.map(parse).transpose()
}

pub fn list(conn: &Connection) -> Result<Vec<SignerRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM signers ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| parse(r?)).collect()
}

/// Turns a signer's online access on or off. Returns false if no such signer.
pub fn set_active(conn: &Connection, id: &SignerId, active: bool) -> Result<bool, DbError> {
    let n = conn.execute_cached(
        "UPDATE signers SET active = ?2 WHERE signer_id = ?1",
        params![id.to_string(), active],
    )?;
    Ok(n == 1)
}

/// Sets (or replaces, or with `None` removes) a signer's restricted-discovery key.
/// Returns false if no such signer.
pub fn set_tor_key(conn: &Connection, id: &SignerId, key: Option<&TorClientKey>) -> Result<bool, DbError> {
    let n = conn.execute_cached(
        "UPDATE signers SET tor_key = ?2 WHERE signer_id = ?1",
        params![id.to_string(), key.map(ToString::to_string)],
    )?;
    Ok(n == 1)
}

/// The restricted-discovery keys of the active signers: who may discover the signer API's
/// onion service. Ordered by signer id, so an unchanged set compares equal.
pub fn active_tor_keys(conn: &Connection) -> Result<Vec<(SignerId, TorClientKey)>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM signers WHERE active = 1 AND tor_key IS NOT NULL ORDER BY signer_id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    let mut keys = Vec::new();
    for row in rows {
        let signer = parse(row?)?;
        if let Some(key) = signer.tor_key {
            keys.push((signer.id, key));
        }
    }
    Ok(keys)
}

/// Records an authenticated request from `signer_id` at `now`, unless one was recorded
/// less than `min_interval_secs` ago (signers poll often; the dashboard needs no more).
pub fn note_contact(
    conn: &Connection,
    signer_id: &str,
    now: UnixTime,
    min_interval_secs: i64,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO signer_contacts (signer_id, last_contact_at) VALUES (?1, ?2)
         ON CONFLICT (signer_id) DO UPDATE SET last_contact_at = excluded.last_contact_at
         WHERE signer_contacts.last_contact_at <= excluded.last_contact_at - ?3",
        rusqlite::params![signer_id, now.secs(), min_interval_secs],
    )?;
    Ok(())
}

/// One signer's last recorded contact.
pub fn contact_of(conn: &Connection, signer_id: &str) -> Result<Option<UnixTime>, DbError> {
    Ok(conn
        .query_row_cached(
            "SELECT last_contact_at FROM signer_contacts WHERE signer_id = ?1",
            [signer_id],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(UnixTime::from_secs))
}

/// Each signer's last recorded contact, by signer id.
pub fn contacts(conn: &Connection) -> Result<std::collections::BTreeMap<String, UnixTime>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT signer_id, last_contact_at FROM signer_contacts")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, UnixTime::from_secs(r.get(1)?)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod contact_tests {
    use super::*;

    #[test]
    fn contacts_are_recorded_at_most_every_interval() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in super::super::schema::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let t = UnixTime::from_secs;
        assert!(contacts(&conn).unwrap().is_empty());
        note_contact(&conn, "s1", t(100), 30).unwrap();
        note_contact(&conn, "s1", t(129), 30).unwrap();
        note_contact(&conn, "s2", t(110), 30).unwrap();
        assert_eq!(
            contacts(&conn).unwrap()["s1"],
            t(100),
            "within 30 s: not rewritten"
        );
        note_contact(&conn, "s1", t(130), 30).unwrap();
        // A clock stepping back never moves the contact back.
        note_contact(&conn, "s1", t(50), 30).unwrap();
        let seen = contacts(&conn).unwrap();
        assert_eq!((seen["s1"], seen["s2"]), (t(130), t(110)));
    }
}
