//! The console's HTTP edges: security headers on every reply, cookies, form bodies and
//! the CSRF check. Nothing here knows about pages.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{Request, Response, StatusCode};
use zeroize::Zeroizing;

use crate::api::Reply;

/// The Content-Security-Policy of every console reply: no scripts at all, styles only
/// from our own stylesheet, images from us or inline `data:` (the enrollment QR code),
/// forms only to us, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The session cookie (64 hex digits: the session id).
pub const SESSION_COOKIE: &str = "sluice_session";
/// Before sign-in: a random value the sign-in and enrollment forms must echo (login CSRF).
pub const PRE_SESSION_COOKIE: &str = "sluice_pre";

/// Form bodies are small: names, a password, a code, a reason.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Adds the headers every console reply carries.
pub fn harden(mut reply: Reply) -> Reply {
    let headers = reply.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    reply
}

pub fn html(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    reply
}

pub fn css(body: &'static str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    reply
}

/// 303 See Other to a path of ours (after a POST, so a reload does not repeat it).
pub fn redirect(to: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(to) {
        reply.headers_mut().insert(LOCATION, location);
    }
    reply
}

/// How cookies are set: `Secure` whenever the console is served over TLS.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// Sets `name=value` for the whole console, HttpOnly, SameSite=Strict, a session
    /// cookie (no Max-Age: the server decides when the session ends).
    pub fn set(&self, reply: &mut Reply, name: &str, value: &str) {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = Zeroizing::new(format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
        ));
        if let Ok(header) = HeaderValue::from_str(&cookie) {
            reply.headers_mut().append(SET_COOKIE, header);
        }
    }

    pub fn clear(&self, reply: &mut Reply, name: &str) {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}");
        if let Ok(header) = HeaderValue::from_str(&cookie) {
            reply.headers_mut().append(SET_COOKIE, header);
        }
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(request: &Request<Incoming>, name: &str) -> Option<Zeroizing<String>> {
    for header in request.headers().get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((key, value)) = pair.trim().split_once('=') {
                if key == name {
                    return Some(Zeroizing::new(value.to_owned()));
                }
            }
        }
    }
    None
}

/// A decoded `application/x-www-form-urlencoded` body. Values are erased on drop (a
/// password passes through here).
pub struct Form(Vec<(String, Zeroizing<String>)>);

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Form").field("fields", &keys).finish()
    }
}

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect(),
        )
    }

    /// The first value of `name`, "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn take(&mut self, name: &str) -> Zeroizing<String> {
        match self.0.iter().position(|(k, _)| k == name) {
            Some(i) => self.0.swap_remove(i).1,
            None => Zeroizing::new(String::new()),
        }
    }
}

/// Why a form could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the form is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    #[error("send the form as application/x-www-form-urlencoded")]
    WrongType,
    #[error("the form did not arrive in time")]
    Timeout,
    #[error("could not read the form: {0}")]
    Unreadable(String),
}

pub async fn read_form(request: Request<Incoming>) -> Result<Form, FormError> {
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(FormError::WrongType);
    }
    let collect = Limited::new(request.into_body(), MAX_FORM_BYTES).collect();
    match tokio::time::timeout(crate::api::BODY_READ_TIMEOUT, collect).await {
        Err(_) => Err(FormError::Timeout),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(FormError::TooLarge),
        Ok(Err(e)) => Err(FormError::Unreadable(e.to_string())),
        Ok(Ok(collected)) => Ok(Form::parse(&collected.to_bytes())),
    }
}

/// Compares a submitted token with the expected one without an early exit.
pub fn tokens_match(submitted: &str, expected: &str) -> bool {
    let (a, b) = (submitted.as_bytes(), expected.as_bytes());
    !b.is_empty() && a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_tokens_compare() {
        let mut form = Form::parse(b"name=alice&reason=too+big%21&csrf=ab");
        assert_eq!(form.get("name"), "alice");
        assert_eq!(form.get("reason"), "too big!");
        assert_eq!(form.get("missing"), "");
        assert_eq!(form.take("csrf").as_str(), "ab");
        assert_eq!(form.get("csrf"), "");
        assert!(format!("{form:?}").contains("name"));
        assert!(!format!("{form:?}").contains("alice"));
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abd", "abc"));
        assert!(!tokens_match("ab", "abc"));
        assert!(!tokens_match("", ""));
    }
}
