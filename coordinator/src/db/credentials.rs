//! Console credentials (one row per staff member who enrolled for the console) and
//! console sessions. The service decides; this only stores.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use super::DbError;
use crate::time::UnixTime;

/// A staff member's stored console credentials. `Debug` hides the secrets.
pub struct CredentialRecord {
    pub staff_name: String,
    /// Argon2id, PHC string format.
    pub password_hash: String,
    pub totp_secret: Zeroizing<Vec<u8>>,
    pub totp_last_step: Option<u64>,
    pub failed_attempts: u32,
    pub locked_until: Option<UnixTime>,
}

impl std::fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRecord")
            .field("staff_name", &self.staff_name)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

/// Sets (or replaces) a staff member's password and TOTP secret, clearing the lockout
/// and the used-step record.
pub fn set(
    conn: &Connection,
    staff_name: &str,
    password_hash: &str,
    totp_secret: &[u8],
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO staff_credentials (staff_name, password_hash, totp_secret, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (staff_name) DO UPDATE SET password_hash = excluded.password_hash,
            totp_secret = excluded.totp_secret, totp_last_step = NULL, failed_attempts = 0,
            locked_until = NULL, updated_at = excluded.updated_at",
        params![staff_name, password_hash, totp_secret, now.secs()],
    )?;
    Ok(())
}

pub fn find(conn: &Connection, staff_name: &str) -> Result<Option<CredentialRecord>, DbError> {
    let raw = conn
        .query_row_cached(
            "SELECT staff_name, password_hash, totp_secret, totp_last_step, failed_attempts, locked_until
             FROM staff_credentials WHERE staff_name = ?1",
            [staff_name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    Zeroizing::new(r.get::<_, Vec<u8>>(2)?),
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            },
        )
        .optional()?;
    raw.map(|(staff_name, password_hash, totp_secret, step, failed, locked)| {
        let corrupt = |what: &str| DbError::Corrupt(format!("staff_credentials of {staff_name}: {what}"));
        Ok(CredentialRecord {
            totp_last_step: step
                .map(u64::try_from)
                .transpose()
                .map_err(|_| corrupt("negative totp_last_step"))?,
            failed_attempts: u32::try_from(failed).map_err(|_| corrupt("failed_attempts out of range"))?,
            locked_until: locked.map(UnixTime::from_secs),
            staff_name,
            password_hash,
            totp_secret,
        })
    })
    .transpose()
}

/// After a refused attempt: the new failure count and lockout.
pub fn record_failure(
    conn: &Connection,
    staff_name: &str,
    failed_attempts: u32,
    locked_until: Option<UnixTime>,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "UPDATE staff_credentials SET failed_attempts = ?2, locked_until = ?3, updated_at = ?4
         WHERE staff_name = ?1",
        params![
            staff_name,
            failed_attempts,
            locked_until.map(UnixTime::secs),
            now.secs()
        ],
    )?;
    Ok(())
}

/// After a successful sign-in: the TOTP step used, failures cleared.
pub fn record_success(
    conn: &Connection,
    staff_name: &str,
    totp_step: u64,
    now: UnixTime,
) -> Result<(), DbError> {
    let step = i64::try_from(totp_step).map_err(|_| DbError::Corrupt("TOTP step out of range".to_owned()))?;
    conn.execute_cached(
        "UPDATE staff_credentials SET totp_last_step = ?2, failed_attempts = 0, locked_until = NULL,
            updated_at = ?3 WHERE staff_name = ?1",
        params![staff_name, step, now.secs()],
    )?;
    Ok(())
}

/// A console session as stored (found by the SHA-256 of its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSessionRecord {
    pub staff_name: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub ended: bool,
}

pub fn insert_session(
    conn: &Connection,
    id_hash: &str,
    staff_name: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO console_sessions (id_hash, staff_name, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?3)",
        params![id_hash, staff_name, now.secs()],
    )?;
    Ok(())
}

pub fn find_session(conn: &Connection, id_hash: &str) -> Result<Option<ConsoleSessionRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            "SELECT staff_name, created_at, last_seen_at, ended_at IS NOT NULL
             FROM console_sessions WHERE id_hash = ?1",
            [id_hash],
            |r| {
                Ok(ConsoleSessionRecord {
                    staff_name: r.get(0)?,
                    created_at: UnixTime::from_secs(r.get(1)?),
                    last_seen_at: UnixTime::from_secs(r.get(2)?),
                    ended: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub fn touch_session(conn: &Connection, id_hash: &str, now: UnixTime) -> Result<(), DbError> {
    conn.execute_cached(
        "UPDATE console_sessions SET last_seen_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL",
        params![id_hash, now.secs()],
    )?;
    Ok(())
}

/// Returns whether an open session was ended.
pub fn end_session(conn: &Connection, id_hash: &str, now: UnixTime) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE console_sessions SET ended_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL",
        params![id_hash, now.secs()],
    )? == 1)
}

/// Ends every open session of `staff_name` (new credentials, deactivation).
pub fn end_sessions_of(conn: &Connection, staff_name: &str, now: UnixTime) -> Result<usize, DbError> {
    Ok(conn.execute_cached(
        "UPDATE console_sessions SET ended_at = ?2 WHERE staff_name = ?1 AND ended_at IS NULL",
        params![staff_name, now.secs()],
    )?)
}
