//! The treasury web console (issue 12): server-rendered pages on their own listener
//! (`run api --console-listen`), over TLS or on loopback only. Every page and action
//! calls the same `service` operations as the JSON API and the CLI, as the signed-in
//! person (`Coordinator::console_actor`), so no rule exists twice.
//!
//! Defences: a strict CSP with no script at all (`http::CSP`), a synchronizer CSRF token
//! derived from the session on every form and checked on every POST, HttpOnly
//! SameSite=Strict cookies (Secure under TLS), server-side sessions with idle and
//! absolute timeouts, password + TOTP sign-in with lockout (`service::sign_in`).

mod http;
mod layout;
mod pages;
mod sign_in;
mod tls;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use maud::html;

pub use self::http::CSP;
use self::http::{CookiePolicy, Form, SESSION_COOKIE};
use self::layout::{bare_page, Viewer};
pub use self::tls::{acceptor, check_plain_allowed, ConsoleListenError, TlsFiles};
use crate::api::{status_of, CoordinatorPool, Reply};
use crate::clock;
use crate::service::{ConsoleSessionId, Coordinator, ErrorKind, ServiceError, SignInRefusal};

/// A page to show (GET).
#[derive(Debug, Clone, PartialEq, Eq)]
enum View {
    Dashboard,
    Withdrawals(Option<String>),
    Withdrawal(u64),
    Proposals,
    Deposits(Option<String>),
    Deposit(u64),
    Audit,
    Staff,
}

/// An action to take (POST).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    SignOut,
    Approve(u64),
    Reject(u64),
    ApproveProposal(u64),
    RejectProposal(u64),
    ProposeStaff,
    ProposeDeactivate,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Stylesheet,
    SignInForm,
    SignIn,
    EnrollForm,
    Enroll,
    View(View),
    Action(Action),
    NotFound,
    WrongMethod,
}

fn route(method: &Method, path: &str, query: Option<&str>) -> Route {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let id = |text: &str| text.parse::<u64>().ok();
    let param = |name: &str| {
        query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.into_owned())
        })
    };
    let get = *method == Method::GET || *method == Method::HEAD;
    let post = *method == Method::POST;
    let found = match (get, post, segments.as_slice()) {
        (true, _, ["static", "console.css"]) => Some(Route::Stylesheet),
        (true, _, ["sign-in"]) => Some(Route::SignInForm),
        (_, true, ["sign-in"]) => Some(Route::SignIn),
        (true, _, ["enroll"]) => Some(Route::EnrollForm),
        (_, true, ["enroll"]) => Some(Route::Enroll),
        (_, true, ["sign-out"]) => Some(Route::Action(Action::SignOut)),
        (true, _, [""]) => Some(Route::View(View::Dashboard)),
        (true, _, ["withdrawals"]) => Some(Route::View(View::Withdrawals(param("status")))),
        (true, _, ["withdrawals", w]) => id(w).map(|w| Route::View(View::Withdrawal(w))),
        (_, true, ["withdrawals", w, "approve"]) => id(w).map(|w| Route::Action(Action::Approve(w))),
        (_, true, ["withdrawals", w, "reject"]) => id(w).map(|w| Route::Action(Action::Reject(w))),
        (true, _, ["proposals"]) => Some(Route::View(View::Proposals)),
        (_, true, ["proposals", p, "approve"]) => id(p).map(|p| Route::Action(Action::ApproveProposal(p))),
        (_, true, ["proposals", p, "reject"]) => id(p).map(|p| Route::Action(Action::RejectProposal(p))),
        (true, _, ["deposits"]) => Some(Route::View(View::Deposits(param("status")))),
        (true, _, ["deposits", d]) => id(d).map(|d| Route::View(View::Deposit(d))),
        (true, _, ["audit"]) => Some(Route::View(View::Audit)),
        (true, _, ["staff"]) => Some(Route::View(View::Staff)),
        (_, true, ["staff", "add"]) => Some(Route::Action(Action::ProposeStaff)),
        (_, true, ["staff", "deactivate"]) => Some(Route::Action(Action::ProposeDeactivate)),
        _ => None,
    };
    match found {
        Some(route) => route,
        None if get || post => Route::NotFound,
        None => Route::WrongMethod,
    }
}

/// Answers one console request. Never fails: every problem becomes a page.
pub async fn handle(pool: Arc<CoordinatorPool>, request: Request<Incoming>, tls: bool) -> Reply {
    http::harden(answer(pool, request, CookiePolicy { secure: tls }).await)
}

async fn answer(pool: Arc<CoordinatorPool>, request: Request<Incoming>, cookies: CookiePolicy) -> Reply {
    let route = route(request.method(), request.uri().path(), request.uri().query());
    match route {
        Route::Stylesheet => http::css(layout::STYLESHEET),
        Route::SignInForm => sign_in::sign_in_form(&cookies, None),
        Route::SignIn => sign_in::sign_in(pool, request, cookies).await,
        Route::EnrollForm => sign_in::enroll_form(&cookies, None),
        Route::Enroll => sign_in::enroll(pool, request, cookies).await,
        Route::NotFound => message_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
        Route::WrongMethod => message_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            "The console answers GET and POST only.",
        ),
        Route::View(view) => signed_in(pool, request, cookies, Wanted::View(view)).await,
        Route::Action(action) => signed_in(pool, request, cookies, Wanted::Action(action)).await,
    }
}

/// What a signed-in request does, once its form (if any) is read.
enum Wanted {
    View(View),
    Action(Action),
}

/// What an action produced.
pub(crate) enum Outcome {
    /// Go here (303), e.g. back to the withdrawal just approved.
    Redirect(String),
    /// Show this page now (e.g. an enrollment secret, shown once).
    Page(String),
    /// A refusal page, answered with the status of its kind.
    Refused(ErrorKind, String),
}

async fn signed_in(
    pool: Arc<CoordinatorPool>,
    request: Request<Incoming>,
    cookies: CookiePolicy,
    what: Wanted,
) -> Reply {
    let Some(session) = http::cookie(&request, SESSION_COOKIE).and_then(|v| ConsoleSessionId::parse(&v))
    else {
        return http::redirect("/sign-in");
    };
    let csrf = session.csrf_token();
    let form = match what {
        Wanted::View(_) => None,
        Wanted::Action(_) => match http::read_form(request).await {
            Ok(form) => Some(form),
            Err(e) => return message_page(StatusCode::BAD_REQUEST, "Form refused", &e.to_string()),
        },
    };
    // The CSRF check comes before anything else a POST could do.
    if let Some(form) = &form {
        if !http::tokens_match(form.get("csrf"), &csrf) {
            return message_page(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form's security token does not match your session (it is from another session or another site). Reload the page and try again.",
            );
        }
    }
    let outcome = tokio::task::spawn_blocking(move || {
        pool.with(|coord: &mut Coordinator| {
            let now = clock::now();
            if matches!(what, Wanted::Action(Action::SignOut)) {
                coord.sign_out(&session, now)?;
                return Ok(Outcome::Redirect("/sign-in".to_owned()));
            }
            let actor = coord.console_actor(&session, now)?;
            let viewer = Viewer {
                actor: &actor,
                csrf: &csrf,
            };
            match what {
                Wanted::View(view) => pages::view(coord, &viewer, &view, now),
                Wanted::Action(action) => {
                    let form = form.unwrap_or_else(|| Form::parse(b""));
                    pages::act(coord, &viewer, &action, form, now)
                }
            }
        })
    })
    .await;
    match outcome {
        Ok(Ok(Outcome::Page(body))) => http::html(StatusCode::OK, body),
        Ok(Ok(Outcome::Refused(kind, body))) => http::html(status_of(kind), body),
        Ok(Ok(Outcome::Redirect(to))) => {
            let mut reply = http::redirect(&to);
            if to == "/sign-in" {
                cookies.clear(&mut reply, SESSION_COOKIE);
            }
            reply
        }
        Ok(Err(ServiceError::SignIn(SignInRefusal::SessionEnded) | ServiceError::Unauthenticated)) => {
            let mut reply = http::redirect("/sign-in");
            cookies.clear(&mut reply, SESSION_COOKIE);
            reply
        }
        Ok(Err(e)) => service_error_page(&e),
        Err(join) => {
            tracing::error!("console request task failed: {join}");
            message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "Retry later.",
            )
        }
    }
}

/// A refusal as a page: the service's message (it says what to do) and a way back.
fn service_error_page(e: &ServiceError) -> Reply {
    if e.kind() == ErrorKind::Internal {
        tracing::error!("console: {e}");
        return message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "Retry later, or call an operator.",
        );
    }
    message_page(status_of(e.kind()), "Refused", &e.to_string())
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Reply {
    http::html(
        status,
        bare_page(
            title,
            html! {
                (layout::alert(message))
                p { a href="/" { "Back to the dashboard" } }
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = |p: &str| route(&Method::GET, p, None);
        let post = |p: &str| route(&Method::POST, p, None);
        assert_eq!(get("/"), Route::View(View::Dashboard));
        assert_eq!(get("/withdrawals/7"), Route::View(View::Withdrawal(7)));
        assert_eq!(
            route(&Method::GET, "/withdrawals", Some("status=pending_approval")),
            Route::View(View::Withdrawals(Some("pending_approval".to_owned())))
        );
        assert_eq!(post("/withdrawals/7/approve"), Route::Action(Action::Approve(7)));
        assert_eq!(get("/withdrawals/7/approve"), Route::NotFound);
        assert_eq!(post("/withdrawals/x/approve"), Route::NotFound);
        assert_eq!(post("/sign-out"), Route::Action(Action::SignOut));
        assert_eq!(route(&Method::DELETE, "/", None), Route::WrongMethod);
        assert_eq!(get("/v1/withdrawals"), Route::NotFound);
    }
}
