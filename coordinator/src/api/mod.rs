//! The HTTP/1.1 JSON API (hyper 1), for treasury staff and the exchange backend:
//!
//! | method | path | role |
//! |---|---|---|
//! | POST | /v1/withdrawals (header `Idempotency-Key`) | requester |
//! | POST | /v1/withdrawals/{id}/approve | approver |
//! | POST | /v1/withdrawals/{id}/reject (`{"reason": ...}`) | approver |
//! | POST | /v1/withdrawals/{id}/cancel (`{"reason": ...}`): an approved one, not yet batched | approver |
//! | GET | /v1/withdrawals[?status=&limit=&before=] | any |
//! | GET | /v1/withdrawals/{id} | any |
//!
//! Online signers use `/v1/signer/...` (see `signer_routes`), authenticated by their
//! identity keys instead of tokens. The web console (`crate::console`) is served by the
//! same accept loop on its own listener (`serve_console`), optionally over TLS.
//!
//! Every staff request carries `Authorization: Bearer TOKEN`. Errors are
//! `{"error": {"code", "message"}}` with the matching status. Bodies are limited to
//! `sluice_shared::api::MAX_BODY_BYTES` (a signed PSBT and a blocklist file excepted, see
//! `routes`) and unknown fields are refused.

mod group_commit;
pub mod messages;
mod metrics;
mod ops;
mod pool;
mod reply;
mod routes;
mod signer_routes;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

pub use self::pool::CoordinatorPool;
pub use self::reply::{status_of, Reply};
pub use self::signer_routes::NonceCache;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client that has not sent its headers by then is dropped (slow-loris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body not received in full by then is refused (slow-loris on the body).
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// On shutdown, in-flight requests get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Staff and signer routes (the loopback or LAN listener).
    All,
    /// `/v1/signer/...` only: the onion service. Staff routes answer 404 there, so the
    /// staff API is never reachable through the signers' onion service.
    SignerOnly,
    /// The web console (`crate::console`) and nothing else; `tls` says whether its
    /// connections are TLS (cookies are then `Secure`).
    Console { tls: bool },
}

/// A TLS handshake not finished by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests
/// finish (up to a grace period). Each request's database work runs on the blocking pool.
pub async fn serve(
    listener: TcpListener,
    pool: Arc<CoordinatorPool>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let poll_accept = move |cx: &mut Context<'_>| {
        listener
            .poll_accept(cx)
            .map(|accepted| Some(accepted.map(|(stream, _peer)| stream)))
    };
    serve_connections(poll_accept, pool, Surface::All, None, shutdown).await
}

/// Serves the web console on `listener`, over TLS when `tls` is given, until `shutdown`.
pub async fn serve_console(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    pool: Arc<CoordinatorPool>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let poll_accept = move |cx: &mut Context<'_>| {
        listener
            .poll_accept(cx)
            .map(|accepted| Some(accepted.map(|(stream, _peer)| stream)))
    };
    let surface = Surface::Console { tls: tls.is_some() };
    serve_connections(poll_accept, pool, surface, tls, shutdown).await
}

/// Serves `surface` on each connection `connections` yields (e.g. an onion service's
/// streams) until `shutdown` completes or the connections end.
pub async fn serve_stream_of<S>(
    mut connections: impl futures_core::Stream<Item = S> + Unpin + Send,
    pool: Arc<CoordinatorPool>,
    surface: Surface,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let poll_accept =
        move |cx: &mut Context<'_>| Pin::new(&mut connections).poll_next(cx).map(|next| next.map(Ok));
    serve_connections(poll_accept, pool, surface, None, shutdown).await
}

/// The accept loop: `poll_accept` yields the next connection, `None` when there are no more.
async fn serve_connections<S>(
    mut poll_accept: impl FnMut(&mut Context<'_>) -> Poll<Option<std::io::Result<S>>> + Send,
    pool: Arc<CoordinatorPool>,
    surface: Surface,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = std::future::poll_fn(&mut poll_accept) => match accepted {
                None => break,
                Some(Ok(stream)) => stream,
                Some(Err(e)) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let pool = pool.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_one(stream, pool, surface, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_one(stream, pool, surface, stop).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("some connections did not finish within {SHUTDOWN_GRACE:?}; closing them");
        connections.abort_all();
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection until it ends or `stop` changes (then gracefully).
async fn serve_one<S>(
    stream: S,
    pool: Arc<CoordinatorPool>,
    surface: Surface,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let pool = pool.clone();
        async move {
            let reply = match surface {
                Surface::All => routes::handle(pool, request).await,
                Surface::SignerOnly => routes::handle_signer_only(pool, request).await,
                Surface::Console { tls } => crate::console::handle(pool, request, tls).await,
            };
            Ok::<_, Infallible>(reply)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection ended: {e}");
            }
        }
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
