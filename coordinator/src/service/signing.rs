//! Signing sessions and the signers who answer them: registering signers, offering open
//! sessions to the signer whose keys they need, and accepting partial signatures, each
//! verified against the session's own transaction (`rules::signatures`) before it is
//! stored. When every input has enough signatures the session and its withdrawals become
//! `signed`, in the same transaction that stores the last signature.

use bitcoin::bip32::Fingerprint;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::XOnlyPublicKey;
use rusqlite::Connection;
use serde_json::json;
use sluice_shared::api::{EventKind, WithdrawalStatus};
use sluice_shared::identity::SignerId;
use sluice_shared::signer_api::SignatureReceipt;
use sluice_shared::tor_client_key::TorClientKey;

use super::changes::ChangeContext;
use super::{check_name, require, require_current, Actor, Coordinator, ServiceError};
use crate::db::signatures::{self, Inserted, StoredSignature};
use crate::db::signers::{self, SignerRecord};
use crate::db::{audit, session_groups, sessions, withdrawals};
use crate::rules::roles::Permission;
use crate::rules::signatures::{signatures_needed, verify_partial_signatures};
use crate::time::UnixTime;

const MAX_SIGNER_NAME: usize = 64;

/// An open session offered to a signer.
#[derive(Debug, Clone)]
pub struct SessionOffer {
    pub id: u64,
    pub wallet: String,
    pub psbt: Psbt,
}

/// Who submitted signatures.
#[derive(Debug, Clone, Copy)]
pub enum Submitter<'a> {
    /// An online signer, authenticated by its identity key: only its own keys count.
    Online(&'a SignerRecord),
    /// A file or QR code brought from an offline signer by a staff member (`session
    /// import`); any of the wallet's keys may have signed it.
    Import(&'a Actor),
}

/// A signer's contact is recorded at most this often.
const CONTACT_RESOLUTION_SECS: i64 = 30;

impl Coordinator {
    /// Records that `signer` made an authenticated request at `now` (to within 30 s).
    pub fn note_signer_contact(&mut self, signer: &SignerId, now: UnixTime) -> Result<(), ServiceError> {
        // Most requests find it recorded recently: a read, not the write lock that intake,
        // the processor and the signatures writer contend for.
        let recorded = {
            let tx = self.db.read()?;
            signers::contact_of(&tx, &signer.to_string())?
        };
        if recorded.is_some_and(|at| at.secs() > now.secs() - CONTACT_RESOLUTION_SECS) {
            return Ok(());
        }
        let tx = self.db.write()?;
        signers::note_contact(&tx, &signer.to_string(), now, CONTACT_RESOLUTION_SECS)?;
        tx.commit()?;
        Ok(())
    }

    /// Each signer's last authenticated request (to within 30 s), by signer id.
    pub fn signer_contacts(&mut self) -> Result<std::collections::BTreeMap<String, UnixTime>, ServiceError> {
        let tx = self.db.read()?;
        Ok(signers::contacts(&tx)?)
    }

    pub fn list_signers(&mut self, actor: &Actor) -> Result<Vec<SignerRecord>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(signers::list(&tx)?)
    }

    /// The active signer with this id; the caller has checked the request's signature
    /// with the returned identity key.
    pub fn active_signer(&mut self, id: &SignerId) -> Result<SignerRecord, ServiceError> {
        let tx = self.db.read()?;
        match signers::find(&tx, id)? {
            Some(signer) if signer.active => Ok(signer),
            _ => Err(ServiceError::Unauthenticated),
        }
    }

    /// Open sessions that need a signature by one of `signer`'s keys and hold none yet.
    pub fn sessions_for_signer(&mut self, signer: &SignerRecord) -> Result<Vec<SessionOffer>, ServiceError> {
        let tx = self.db.read()?;
        let mut offers = Vec::new();
        for id in sessions::ids_with_status(&tx, "open")? {
            let Some(session) = sessions::find(&tx, id)? else {
                continue;
            };
            // An abandoned group gets no more signatures.
            if session_groups::abandon_of(&tx, session_groups::root_of(&tx, id)?)?.is_some() {
                continue;
            }
            let ours: Vec<_> = session
                .psbt
                .inputs
                .iter()
                .flat_map(|input| input.bip32_derivation.iter())
                .filter(|(_, (fingerprint, _))| *fingerprint == signer.master_fingerprint)
                .map(|(key, _)| *key)
                .collect();
            if ours.is_empty() {
                continue;
            }
            let stored = signatures::for_session(&tx, id)?;
            if stored.iter().any(|s| ours.contains(&s.pubkey.inner)) {
                continue;
            }
            offers.push(SessionOffer {
                id,
                wallet: session.wallet,
                psbt: session.psbt,
            });
        }
        Ok(offers)
    }

    /// A session's PSBT for an offline signer (`session export`; any staff member may
    /// read it).
    pub fn session_psbt(&mut self, actor: &Actor, id: u64) -> Result<(String, Psbt), ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        let session =
            sessions::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
        Ok((session.status, session.psbt))
    }

    /// Verifies and stores the partial signatures in `submitted` for session `id`. All
    /// or nothing: one bad signature refuses the submission and stores none of it.
    pub fn submit_signatures(
        &mut self,
        id: u64,
        submitted: &Psbt,
        submitter: Submitter<'_>,
        now: UnixTime,
    ) -> Result<SignatureReceipt, ServiceError> {
        let tx = self.db.write()?;
        let receipt = submit_in(&tx, id, submitted, submitter, now)?;
        tx.commit()?;
        Ok(receipt)
    }

    /// Group commit for online signers' posts: [`Coordinator::submit_signatures`] for each
    /// submission in turn, in one write transaction with one durable commit. Each runs in
    /// its own savepoint and sees the ones before it (two signers completing the same
    /// session); a refused one rolls back alone and its error is returned in its place.
    /// Nothing may be acknowledged before this returns `Ok`; an `Err` means nothing was
    /// stored.
    ///
    /// `gather` is called once the transaction holds the write turn and may append the
    /// submissions that arrived meanwhile (the API's group commit); they are stored too.
    pub fn submit_online_signatures(
        &mut self,
        submissions: &mut Vec<OnlineSignatures>,
        gather: &mut dyn FnMut(&mut Vec<OnlineSignatures>),
    ) -> Result<Vec<Result<SignatureReceipt, ServiceError>>, ServiceError> {
        let mut tx = self.db.write()?;
        gather(submissions);
        let mut outcomes = Vec::with_capacity(submissions.len());
        for s in submissions.iter() {
            outcomes.push(crate::db::in_savepoint(
                &mut tx,
                |conn| submit_in(conn, s.session, &s.psbt, Submitter::Online(&s.signer), s.now),
                Result::is_ok,
            )?);
        }
        tx.commit()?;
        Ok(outcomes)
    }
}

/// An online signer's signed PSBT for a session, as posted (authenticated by the API).
#[derive(Debug, Clone)]
pub struct OnlineSignatures {
    pub session: u64,
    pub psbt: Psbt,
    pub signer: SignerRecord,
    pub now: UnixTime,
}

/// Verifies and stores signatures inside the caller's write transaction (the caller
/// commits on `Ok`).
fn submit_in(
    tx: &Connection,
    id: u64,
    submitted: &Psbt,
    submitter: Submitter<'_>,
    now: UnixTime,
) -> Result<SignatureReceipt, ServiceError> {
    let (sender, signer_id, actor_name) = match submitter {
        Submitter::Online(signer) => (
            Some(signer.master_fingerprint),
            Some(signer.id),
            format!("signer:{}", signer.name),
        ),
        Submitter::Import(actor) => {
            require(actor, Permission::ReadWithdrawals)?;
            (None, None, format!("import:{}", actor.name()))
        }
    };
    if let Submitter::Import(actor) = submitter {
        require_current(tx, actor, Permission::ReadWithdrawals)?;
    }
    let session = sessions::find(tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
    if session.status != "open" {
        // Signatures for a session that is already signed or sent change nothing.
        return Ok(SignatureReceipt {
            stored: 0,
            already_stored: 0,
            session_signed: session.status != "abandoned",
        });
    }
    let secp = sluice_shared::secp::verification();
    let verified = verify_partial_signatures(secp, &session.psbt, submitted, sender)?;
    let mut receipt = SignatureReceipt {
        stored: 0,
        already_stored: 0,
        session_signed: false,
    };
    for sig in verified {
        let stored = StoredSignature {
            input_index: sig.input_index,
            pubkey: sig.pubkey,
            signature: sig.signature,
            signer: signer_id,
        };
        match signatures::insert(tx, id, &stored, now)? {
            Inserted::New => receipt.stored += 1,
            Inserted::AlreadyStored => receipt.already_stored += 1,
        }
    }
    let all = signatures::for_session(tx, id)?;
    let complete = session.psbt.inputs.iter().enumerate().all(|(index, input)| {
        let have = all
            .iter()
            .filter(|s| usize::try_from(s.input_index).ok() == Some(index))
            .count();
        signatures_needed(input).is_some_and(|needed| have >= needed)
    });
    if complete {
        if !sessions::transition(tx, id, "open", "signed", now)? {
            return Err(ServiceError::Invalid(format!(
                "session {id} changed while signing"
            )));
        }
        // A fee bump's withdrawals are already `broadcast` (the original is sent):
        // they keep their status and the bump is only noted.
        let bump = session_groups::replacement_of(tx, id)?;
        let note = match &bump {
            Some(bump) => format!(
                "fee bump session {id} (replacing session {}) fully signed",
                bump.replaces
            ),
            None => format!("session {id} fully signed"),
        };
        for (withdrawal, _) in &session.withdrawals {
            if bump.is_some() {
                withdrawals::insert_event(
                    tx,
                    *withdrawal,
                    EventKind::FeeBump,
                    &actor_name,
                    Some(&note),
                    now,
                )?;
                continue;
            }
            withdrawals::set_status(
                tx,
                *withdrawal,
                WithdrawalStatus::Signing,
                WithdrawalStatus::Signed,
                now,
            )?;
            withdrawals::insert_event(tx, *withdrawal, EventKind::Signed, &actor_name, Some(&note), now)?;
        }
        receipt.session_signed = true;
    }
    Ok(receipt)
}

/// Registers a signer by the identity key and master fingerprint `sluice-signer id`
/// prints (the approved `signer add`).
pub(super) fn signer_add(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    name: &str,
    identity_key: &str,
    fingerprint: &str,
    tor_key: Option<&str>,
) -> Result<SignerId, ServiceError> {
    check_name("signer name", name, MAX_SIGNER_NAME)?;
    let tor_key = tor_key.map(parse_tor_key).transpose()?;
    let key: XOnlyPublicKey = identity_key.trim().parse().map_err(|_| {
        ServiceError::Invalid(format!(
            "identity key {identity_key:?} is not a 32-byte x-only public key in hex (`sluice-signer id` prints it)"
        ))
    })?;
    let fingerprint: Fingerprint = fingerprint.trim().parse().map_err(|_| {
        ServiceError::Invalid(format!(
            "master fingerprint {fingerprint:?} is not 8 hex digits (`sluice-signer id` prints it)"
        ))
    })?;
    let id = SignerId::from_identity_key(&key);
    if signers::find(conn, &id)?.is_some() {
        return Err(ServiceError::AlreadyExists(format!("signer {id}")));
    }
    if signers::list(conn)?.iter().any(|s| s.name == name) {
        return Err(ServiceError::AlreadyExists(format!("signer named {name:?}")));
    }
    if signers::find_by_fingerprint(conn, fingerprint)?.is_some() {
        return Err(ServiceError::AlreadyExists(format!(
            "an active signer with master fingerprint {fingerprint}"
        )));
    }
    signers::insert(conn, &key, fingerprint, name, ctx.proposer, ctx.now)?;
    if let Some(tor_key) = &tor_key {
        signers::set_tor_key(conn, &id, Some(tor_key))?;
    }
    audit::record(
        conn,
        ctx.proposer,
        "signer add",
        name,
        &json!({
            "signer_id": id.to_string(),
            "identity_key": key.to_string(),
            "fingerprint": fingerprint.to_string(),
            "tor_key": tor_key.map(|k| k.to_string()),
        }),
        ctx.now,
    )?;
    Ok(id)
}

fn parse_tor_key(text: &str) -> Result<TorClientKey, ServiceError> {
    text.parse()
        .map_err(|e: sluice_shared::tor_client_key::TorClientKeyError| ServiceError::Invalid(e.to_string()))
}

fn parse_signer_id(signer_id: &str) -> Result<SignerId, ServiceError> {
    signer_id.trim().parse().map_err(|_| {
        ServiceError::Invalid(format!(
            "{signer_id:?} is not a signer id (`signer list` shows them)"
        ))
    })
}

/// Sets, rotates or removes a signer's restricted-discovery key (the approved change).
/// A running onion service picks the change up within seconds, without a restart.
pub(super) fn signer_set_tor_key(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    signer_id: &str,
    tor_key: Option<&str>,
) -> Result<(), ServiceError> {
    let id = parse_signer_id(signer_id)?;
    let tor_key = tor_key.map(parse_tor_key).transpose()?;
    if !signers::set_tor_key(conn, &id, tor_key.as_ref())? {
        return Err(ServiceError::NotFound(format!("signer {id}")));
    }
    audit::record(
        conn,
        ctx.proposer,
        "signer tor-key",
        &id.to_string(),
        &json!({"tor_key": tor_key.map(|k| k.to_string())}),
        ctx.now,
    )?;
    Ok(())
}

/// Turns a signer's online access off (or on again) at once (the approved change).
pub(super) fn signer_set_active(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    signer_id: &str,
    active: bool,
) -> Result<(), ServiceError> {
    let id = parse_signer_id(signer_id)?;
    if !signers::set_active(conn, &id, active)? {
        return Err(ServiceError::NotFound(format!("signer {id}")));
    }
    let action = if active {
        "signer activate"
    } else {
        "signer deactivate"
    };
    audit::record(conn, ctx.proposer, action, &id.to_string(), &json!({}), ctx.now)?;
    Ok(())
}
