//! `GET /healthz` and `GET /metrics` on the staff listener (never on the onion service).
//! Both answer without a token, for load balancers and Prometheus scrapers: they reveal
//! queue sizes and lags, nothing about any withdrawal, customer or person. Keep the staff
//! listener on loopback or a private network, as for the rest of the staff API.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use super::metrics;
use super::pool::CoordinatorPool;
use super::reply::{error, Reply};
use crate::clock;

/// The paths served here.
pub fn is_ops_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics")
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub async fn handle<B>(pool: Arc<CoordinatorPool>, request: Request<B>) -> Reply {
    if request.method() != Method::GET {
        let mut reply = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!(
                "{} is not allowed on {}; use GET",
                request.method(),
                request.uri().path()
            ),
        );
        reply.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return reply;
    }
    let metrics = request.uri().path() == "/metrics";
    let outcome = tokio::task::spawn_blocking(move || {
        pool.with(|coord| {
            if metrics {
                coord
                    .operations_snapshot(clock::now())
                    .map(|snapshot| metrics::render(&snapshot))
            } else {
                coord.health_check().map(|()| "ok\n".to_owned())
            }
        })
    })
    .await;
    match outcome {
        Ok(Ok(body)) if metrics => text(StatusCode::OK, metrics::CONTENT_TYPE, body),
        Ok(Ok(body)) => text(StatusCode::OK, "text/plain; charset=utf-8", body),
        Ok(Err(e)) => {
            tracing::error!("{}: {e}", if metrics { "metrics" } else { "health check" });
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unhealthy",
                "the coordinator cannot read its database; see its log",
            )
        }
        Err(join) => {
            tracing::error!("ops task failed: {join}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; retry later",
            )
        }
    }
}
