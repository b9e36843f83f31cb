//! Sign-in and enrollment pages. Before a session exists, forms are protected against
//! login CSRF by a random pre-session cookie the form must echo (double submit).

use std::sync::Arc;

use bitcoin::base64::Engine;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use maud::{html, Markup};
use rand::rngs::OsRng;
use rand::RngCore;

use super::http::{self, CookiePolicy, PRE_SESSION_COOKIE, SESSION_COOKIE};
use super::layout::{alert, bare_page, notice};
use crate::api::{CoordinatorPool, Reply};
use crate::clock;
use crate::service::{ConsoleEnrollment, EnrollmentSecret, Password, ServiceError, MIN_PASSWORD_CHARS};

fn fresh_pre_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A page with a form guarded by a fresh pre-session token (set as a cookie too).
fn guarded(
    cookies: &CookiePolicy,
    status: StatusCode,
    title: &str,
    form: impl FnOnce(&str) -> Markup,
) -> Reply {
    let token = fresh_pre_token();
    let mut reply = http::html(status, bare_page(title, form(&token)));
    cookies.set(&mut reply, PRE_SESSION_COOKIE, &token);
    reply
}

pub fn sign_in_form(cookies: &CookiePolicy, problem: Option<&str>) -> Reply {
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    guarded(cookies, status, "Sign in", |token| {
        html! {
            @if let Some(problem) = problem { (alert(problem)) }
            form.stack method="post" action="/sign-in" {
                input type="hidden" name="pre" value=(token);
                label for="name" { "Name" }
                input #name type="text" name="name" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                label for="code" { "One-time code" }
                input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required;
                button #sign-in type="submit" { "Sign in" }
            }
            p { "First time here? " a href="/enroll" { "Enroll with the secret your admins gave you" } "." }
        }
    })
}

pub fn enroll_form(cookies: &CookiePolicy, problem: Option<&str>) -> Reply {
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    guarded(cookies, status, "Enroll", |token| {
        html! {
            @if let Some(problem) = problem { (alert(problem)) }
            p { "Paste the enrollment secret your admins handed you, and choose a password of at least "
                (MIN_PASSWORD_CHARS) " characters. The next page shows your authenticator QR code once." }
            form.stack method="post" action="/enroll" {
                input type="hidden" name="pre" value=(token);
                label for="secret" { "Enrollment secret" }
                input #secret type="text" name="secret" autocomplete="off" required;
                label for="password" { "New password" }
                input #password type="password" name="password" autocomplete="new-password" required;
                label for="password2" { "New password again" }
                input #password2 type="password" name="password2" autocomplete="new-password" required;
                button #enroll type="submit" { "Enroll" }
            }
        }
    })
}

/// Reads the form and checks its pre-session token against the cookie.
async fn guarded_form(request: Request<Incoming>) -> Result<http::Form, &'static str> {
    let cookie = http::cookie(&request, PRE_SESSION_COOKIE);
    let form = http::read_form(request)
        .await
        .map_err(|_| "The form could not be read: reload the page and try again.")?;
    match cookie {
        Some(cookie) if http::tokens_match(form.get("pre"), &cookie) => Ok(form),
        _ => Err("This form expired or came from another site: reload the page and try again."),
    }
}

pub async fn sign_in(pool: Arc<CoordinatorPool>, request: Request<Incoming>, cookies: CookiePolicy) -> Reply {
    let mut form = match guarded_form(request).await {
        Ok(form) => form,
        Err(problem) => return sign_in_form(&cookies, Some(problem)),
    };
    let name = form.get("name").to_owned();
    let code = form.get("code").to_owned();
    let password = Password::new(form.take("password"));
    let outcome = tokio::task::spawn_blocking(move || {
        pool.with(|coord| coord.sign_in(&name, &password, &code, &mut OsRng, clock::now()))
    })
    .await;
    match outcome {
        Ok(Ok(session)) => {
            let mut reply = http::redirect("/");
            cookies.set(&mut reply, SESSION_COOKIE, &session.reveal());
            cookies.clear(&mut reply, PRE_SESSION_COOKIE);
            reply
        }
        Ok(Err(ServiceError::SignIn(refusal))) => sign_in_form(&cookies, Some(&refusal.to_string())),
        Ok(Err(e)) => {
            tracing::error!("console sign-in: {e}");
            sign_in_form(&cookies, Some("Sign-in is not available right now: retry later."))
        }
        Err(join) => {
            tracing::error!("console sign-in task failed: {join}");
            sign_in_form(&cookies, Some("Sign-in is not available right now: retry later."))
        }
    }
}

pub async fn enroll(pool: Arc<CoordinatorPool>, request: Request<Incoming>, cookies: CookiePolicy) -> Reply {
    let mut form = match guarded_form(request).await {
        Ok(form) => form,
        Err(problem) => return enroll_form(&cookies, Some(problem)),
    };
    let secret = match EnrollmentSecret::parse(form.get("secret")) {
        Ok(secret) => secret,
        Err(e) => return enroll_form(&cookies, Some(&e.to_string())),
    };
    let (password, again) = (form.take("password"), form.take("password2"));
    if password != again {
        return enroll_form(
            &cookies,
            Some("The two passwords differ: type the same one twice."),
        );
    }
    let password = Password::new(password);
    let outcome = tokio::task::spawn_blocking(move || {
        pool.with(|coord| coord.enroll_for_console(&secret, &password, &mut OsRng, clock::now()))
    })
    .await;
    match outcome {
        Ok(Ok(enrolled)) => {
            let mut reply = http::html(StatusCode::OK, enrolled_page(&enrolled));
            cookies.clear(&mut reply, PRE_SESSION_COOKIE);
            reply
        }
        Ok(Err(e)) if e.kind() != crate::service::ErrorKind::Internal => {
            enroll_form(&cookies, Some(&e.to_string()))
        }
        Ok(Err(e)) => {
            tracing::error!("console enrollment: {e}");
            enroll_form(
                &cookies,
                Some("Enrollment is not available right now: retry later."),
            )
        }
        Err(join) => {
            tracing::error!("console enrollment task failed: {join}");
            enroll_form(
                &cookies,
                Some("Enrollment is not available right now: retry later."),
            )
        }
    }
}

/// The otpauth URI as a QR code, an inline SVG image (`img-src data:` in the CSP).
fn qr_data_uri(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        bitcoin::base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// Shown once: the QR code, the secret as text, and the API token for the CLI.
fn enrolled_page(enrolled: &ConsoleEnrollment) -> String {
    let base32 = enrolled.totp.to_base32();
    let token = enrolled.token.reveal();
    bare_page(
        "Enrolled",
        html! {
            (notice(&format!("{} is enrolled. This page is shown once: scan the code now.", enrolled.staff)))
            h2 { "1. Add Sluice to your authenticator app" }
            @if let Some(src) = qr_data_uri(&enrolled.otpauth_uri) {
                img.qr src=(src) alt="QR code of your TOTP secret";
            }
            p { "Or type this secret in (SHA-1, 6 digits, 30 seconds):" }
            p.secret #totp-secret { (base32.as_str()) }
            h2 { "2. Keep your API token (for the CLI)" }
            p.secret #api-token { (token.as_str()) }
            p { a href="/sign-in" { "Go to sign-in" } }
        },
    )
}
