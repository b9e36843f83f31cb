//! How the client proves itself to bitcoind: a user and password (`rpcuser`/`rpcpassword`
//! or `rpcauth`), Core's cookie file, or nothing (a node behind an authenticating proxy).
//! Passwords are secrets: they never reach `Debug`, an error or a log, and the copies we
//! make to build a header are zeroized.

use std::path::{Path, PathBuf};

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine;
use hyper::header::HeaderValue;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

/// Credentials for one node.
#[derive(Debug, Clone)]
pub enum RpcAuth {
    /// No `Authorization` header.
    None,
    /// `rpcuser`/`rpcpassword` (or a user made with Core's `rpcauth.py`).
    UserPass { user: String, password: SecretString },
    /// Core's `.cookie` file. bitcoind writes a fresh one each time it starts, so it is read
    /// again for every call: a restarted node does not lock the coordinator out.
    CookieFile(PathBuf),
}

/// The credentials could not be turned into a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read the cookie file {path}: {reason} (is bitcoind running, and may this user read its data directory?)")]
    CookieUnreadable { path: PathBuf, reason: String },
    #[error("the cookie file {path} is not USER:PASSWORD")]
    CookieMalformed { path: PathBuf },
    #[error("the RPC user name contains ':', which HTTP Basic authentication cannot carry")]
    ColonInUser,
    #[error("cannot read the RPC password file {path}: {reason}")]
    PasswordUnreadable { path: PathBuf, reason: String },
    #[error("the RPC password file {path} is empty: write the password on its first line")]
    PasswordEmpty { path: PathBuf },
}

impl RpcAuth {
    pub fn user_pass(user: impl Into<String>, password: impl Into<SecretString>) -> RpcAuth {
        RpcAuth::UserPass {
            user: user.into(),
            password: password.into(),
        }
    }

    /// `user` with the password on the first line of `path` (read once, here: unlike the
    /// cookie, an operator's password does not change when the node restarts).
    pub fn user_password_file(user: impl Into<String>, path: &Path) -> Result<RpcAuth, CredentialError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            CredentialError::PasswordUnreadable {
                path: path.to_owned(),
                reason: e.kind().to_string(),
            }
        })?);
        let password = text.lines().next().unwrap_or_default();
        if password.is_empty() {
            return Err(CredentialError::PasswordEmpty {
                path: path.to_owned(),
            });
        }
        Ok(RpcAuth::user_pass(user, password))
    }

    pub fn cookie_file(path: impl Into<PathBuf>) -> RpcAuth {
        RpcAuth::CookieFile(path.into())
    }

    /// The `Authorization` header value, marked sensitive so hyper never prints it.
    pub(crate) fn header(&self) -> Result<Option<HeaderValue>, CredentialError> {
        match self {
            RpcAuth::None => Ok(None),
            RpcAuth::UserPass { user, password } => basic(user, password.expose_secret()).map(Some),
            RpcAuth::CookieFile(path) => {
                let (user, password) = read_cookie(path)?;
                basic(&user, &password).map(Some)
            }
        }
    }
}

/// Reads `USER:PASSWORD` from a cookie file.
fn read_cookie(path: &Path) -> Result<(String, Zeroizing<String>), CredentialError> {
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| CredentialError::CookieUnreadable {
                path: path.to_owned(),
                reason: e.kind().to_string(),
            })?,
        );
    let (user, password) = text
        .trim_end_matches(['\r', '\n'])
        .split_once(':')
        .filter(|(user, _)| !user.is_empty())
        .ok_or_else(|| CredentialError::CookieMalformed {
            path: path.to_owned(),
        })?;
    Ok((user.to_owned(), Zeroizing::new(password.to_owned())))
}

fn basic(user: &str, password: &str) -> Result<HeaderValue, CredentialError> {
    if user.contains(':') {
        return Err(CredentialError::ColonInUser);
    }
    let mut plain = Zeroizing::new(String::with_capacity(user.len() + 1 + password.len()));
    plain.push_str(user);
    plain.push(':');
    plain.push_str(password);
    let header = Zeroizing::new(format!("Basic {}", BASE64.encode(plain.as_bytes())));
    // Base64 is always a valid header value; the fallback is unreachable but not a panic.
    let mut value = HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_rfc7617_and_sensitive() {
        // RFC 7617, section 2: "Aladdin" / "open sesame".
        let auth = RpcAuth::user_pass("Aladdin", "open sesame");
        let value = auth.header().unwrap().unwrap();
        assert_eq!(value.to_str().unwrap(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(value.is_sensitive());
        assert!(!format!("{auth:?}").contains("sesame"));
    }

    #[test]
    fn cookie_file_is_read_at_each_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".cookie");
        let auth = RpcAuth::cookie_file(&path);
        assert!(matches!(
            auth.header(),
            Err(CredentialError::CookieUnreadable { .. })
        ));
        std::fs::write(&path, "__cookie__:abc\n").unwrap();
        let first = auth.header().unwrap().unwrap();
        assert_eq!(
            first.to_str().unwrap(),
            format!("Basic {}", BASE64.encode("__cookie__:abc"))
        );
        std::fs::write(&path, "__cookie__:def").unwrap();
        assert_ne!(auth.header().unwrap().unwrap(), first);
        std::fs::write(&path, "no colon").unwrap();
        assert!(matches!(
            auth.header(),
            Err(CredentialError::CookieMalformed { .. })
        ));
    }

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpc-password");
        assert!(matches!(
            RpcAuth::user_password_file("op", &path),
            Err(CredentialError::PasswordUnreadable { .. })
        ));
        std::fs::write(&path, "open sesame\nignored\n").unwrap();
        let auth = RpcAuth::user_password_file("Aladdin", &path).unwrap();
        assert_eq!(
            auth.header().unwrap().unwrap().to_str().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            RpcAuth::user_password_file("op", &path),
            Err(CredentialError::PasswordEmpty { .. })
        ));
    }

    #[test]
    fn a_colon_in_the_user_is_refused() {
        assert_eq!(
            RpcAuth::user_pass("a:b", "p").header(),
            Err(CredentialError::ColonInUser)
        );
    }
}
