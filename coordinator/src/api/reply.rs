//! JSON replies and the error envelope `{"error": {"code", "message"}}`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use sluice_shared::api::{ErrorBody, ErrorDetail};

use crate::service::{ErrorKind, ServiceError};

pub type Reply = Response<Full<Bytes>>;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => {
            tracing::error!("serialising a reply failed: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "could not encode the reply",
            )
        }
    }
}

pub fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    };
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec()),
    )));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Refused => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A service error as a reply. Internal errors are logged in full and answered
/// generically: database details are for operators, not clients.
pub fn service_error(err: &ServiceError) -> Reply {
    let status = status_of(err.kind());
    if err.kind() == ErrorKind::Busy {
        tracing::warn!("request refused, database busy: {err}");
        let mut reply = error(
            status,
            err.code(),
            "the coordinator's database is busy (another writer held it longer than the busy timeout); \
             nothing was changed: retry shortly (a withdrawal with the same Idempotency-Key)",
        );
        reply
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return reply;
    }
    if err.kind() == ErrorKind::Internal {
        tracing::error!("request failed: {err}");
        let message = if err.code() == "database_tampered" {
            "the coordinator's database was changed outside the coordinator and it refuses to write:              an operator must run `sluice-coordinator audit verify` and restore from a backup              (the coordinator's log has the details)"
        } else {
            "internal error: the coordinator's log has the details; retry later"
        };
        return error(status, err.code(), message);
    }
    error(status, err.code(), &err.to_string())
}
