//! Group commit for the API's most frequent writes: withdrawal intake (`POST
//! /v1/withdrawals`) and online signers' signatures (`POST
//! /v1/signer/sessions/{id}/signatures`). Concurrent requests of one kind queue here, and
//! one writer thread per kind records whatever has queued in one write transaction with one
//! durable commit (`Coordinator::request_withdrawals`,
//! `Coordinator::submit_online_signatures`). Each request is answered only after the commit
//! that holds it returned, so an acknowledged request survives power loss exactly as before
//! (`synchronous=FULL`); what changes is that eight requests arriving together cost one
//! `fsync` instead of eight.
//!
//! While the writer commits one group, the next one gathers: nobody waits for a timer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

use bitcoin::Network;
use sluice_shared::signer_api::SignatureReceipt;

use crate::db::DbError;
use crate::service::{
    Coordinator, ErrorKind, Intake, IntakeRequest, OnlineSignatures, ServiceError, Submitter,
};

/// Most requests in one transaction: bounds how long one commit holds the write lock.
pub(crate) const MAX_GROUP: usize = 256;

/// A kind of request written in groups: how a group is recorded, and how one request is
/// recorded alone when its group failed.
pub(crate) trait GroupWrite: 'static {
    type Request: Send + 'static;
    type Outcome: Send + 'static;
    /// Names the writer thread and the log lines (`intake`, `signatures`).
    const NAME: &'static str;
    /// Records the requests in order in one transaction; each outcome in its place.
    /// `gather` is called once the transaction holds the write turn, and appends the
    /// requests that queued while it waited for it.
    fn group(
        coordinator: &mut Coordinator,
        requests: &mut Vec<Self::Request>,
        gather: &mut dyn FnMut(&mut Vec<Self::Request>),
    ) -> Result<Vec<Result<Self::Outcome, ServiceError>>, ServiceError>;
    /// Records one request in its own transaction.
    fn alone(coordinator: &mut Coordinator, request: &Self::Request) -> Result<Self::Outcome, ServiceError>;
}

/// Withdrawal intake.
#[derive(Debug)]
pub(crate) struct IntakeWrites;

impl GroupWrite for IntakeWrites {
    type Request = IntakeRequest;
    type Outcome = Intake;
    const NAME: &'static str = "intake";

    fn group(
        coordinator: &mut Coordinator,
        requests: &mut Vec<IntakeRequest>,
        gather: &mut dyn FnMut(&mut Vec<IntakeRequest>),
    ) -> Result<Vec<Result<Intake, ServiceError>>, ServiceError> {
        coordinator.request_withdrawals(requests, gather)
    }

    fn alone(coordinator: &mut Coordinator, r: &IntakeRequest) -> Result<Intake, ServiceError> {
        coordinator.request_withdrawal(&r.actor, &r.idempotency_key, &r.request, r.now)
    }
}

/// Online signers' signatures.
#[derive(Debug)]
pub(crate) struct SignatureWrites;

impl GroupWrite for SignatureWrites {
    type Request = OnlineSignatures;
    type Outcome = SignatureReceipt;
    const NAME: &'static str = "signatures";

    fn group(
        coordinator: &mut Coordinator,
        requests: &mut Vec<OnlineSignatures>,
        gather: &mut dyn FnMut(&mut Vec<OnlineSignatures>),
    ) -> Result<Vec<Result<SignatureReceipt, ServiceError>>, ServiceError> {
        coordinator.submit_online_signatures(requests, gather)
    }

    fn alone(
        coordinator: &mut Coordinator,
        request: &OnlineSignatures,
    ) -> Result<SignatureReceipt, ServiceError> {
        coordinator.submit_signatures(
            request.session,
            &request.psbt,
            Submitter::Online(&request.signer),
            request.now,
        )
    }
}

struct Queued<W: GroupWrite> {
    request: W::Request,
    reply: Sender<Result<W::Outcome, ServiceError>>,
}

/// The queue in front of one kind's writer thread. The thread stops when this is dropped.
pub(crate) struct GroupQueue<W: GroupWrite> {
    queue: Mutex<Sender<Queued<W>>>,
}

impl<W: GroupWrite> std::fmt::Debug for GroupQueue<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupQueue")
            .field("kind", &W::NAME)
            .finish_non_exhaustive()
    }
}

impl<W: GroupWrite> GroupQueue<W> {
    /// Starts the writer thread on its own connection to `db_path`.
    pub(crate) fn start(db_path: PathBuf, network: Network) -> Result<GroupQueue<W>, ServiceError> {
        let coordinator = Coordinator::open(&db_path, Some(network))?;
        coordinator.journal_statements_in_memory()?;
        let (queue, queued) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("sluice-{}", W::NAME))
            .spawn(move || write_groups::<W>(coordinator, &queued))
            .map_err(|e| internal(format!("cannot start the {} writer thread: {e}", W::NAME)))?;
        Ok(GroupQueue {
            queue: Mutex::new(queue),
        })
    }

    /// Records `request` in the next group and waits for that group's commit (blocking:
    /// call from `spawn_blocking`). `Ok` means the request is durable.
    pub(crate) fn submit(&self, request: W::Request) -> Result<W::Outcome, ServiceError> {
        let (reply, outcome) = mpsc::channel();
        let sent = self
            .queue
            .lock()
            .map_err(|_| internal(format!("the {} queue's lock is poisoned", W::NAME)))?
            .send(Queued { request, reply });
        if sent.is_err() {
            return Err(internal(format!("the {} writer thread has stopped", W::NAME)));
        }
        outcome.recv().unwrap_or_else(|_| {
            Err(internal(format!(
                "the {} writer thread stopped before answering",
                W::NAME
            )))
        })
    }
}

/// The error a busy database gives, for each request of a group that met one.
fn busy() -> ServiceError {
    ServiceError::Database(DbError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the database was held by another writer; nothing was recorded".to_owned()),
    )))
}

fn internal(message: String) -> ServiceError {
    ServiceError::Database(DbError::Corrupt(message))
}

/// The writer thread: waits for a request, then records it together with everything
/// queued by the time its transaction holds the write turn (up to `MAX_GROUP`), and
/// answers. The group closes when the turn comes, not when the writer starts to wait for
/// it: under load the turn is mostly held by another writer, and the requests arriving
/// meanwhile join this commit instead of waiting for the next one.
fn write_groups<W: GroupWrite>(mut coordinator: Coordinator, queued: &Receiver<Queued<W>>) {
    while let Ok(first) = queued.recv() {
        let mut requests = vec![first.request];
        let mut replies = vec![first.reply];
        let grouped = {
            let mut gather = |requests: &mut Vec<W::Request>| {
                while requests.len() < MAX_GROUP {
                    match queued.try_recv() {
                        Ok(next) => {
                            requests.push(next.request);
                            replies.push(next.reply);
                        }
                        Err(_) => break,
                    }
                }
            };
            catch_unwind(AssertUnwindSafe(|| {
                W::group(&mut coordinator, &mut requests, &mut gather)
            }))
        };
        match grouped {
            Ok(Ok(outcomes)) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // The requester may have gone (its connection closed): the request is
                    // recorded all the same (intake's idempotency key finds it; a signer
                    // posting again is told the signatures are already stored).
                    let _ = reply.send(outcome);
                }
            }
            Ok(Err(e)) if e.kind() == ErrorKind::Busy => {
                // Another writer held the database past the busy timeout: nothing was
                // recorded. Retrying each alone would wait that long again per request;
                // every requester gets `503 busy` and retries instead.
                tracing::warn!("{} group of {} not recorded: {e}", W::NAME, requests.len());
                for reply in replies {
                    let _ = reply.send(Err(busy()));
                }
            }
            failed => {
                // The group was rolled back (or its commit failed): nothing of it may be
                // acknowledged. Each request then runs alone, so one request's failure
                // (or a busy database) is reported to that request only; one already
                // recorded by a commit that reported failure is found again (intake by its
                // key; stored signatures are counted as already stored).
                match failed {
                    Ok(Err(e)) => {
                        tracing::warn!(
                            "{} group of {} failed, retrying each alone: {e}",
                            W::NAME,
                            requests.len()
                        )
                    }
                    _ => tracing::error!(
                        "{} group of {} panicked, retrying each alone",
                        W::NAME,
                        requests.len()
                    ),
                }
                for (request, reply) in requests.iter().zip(replies) {
                    let alone = catch_unwind(AssertUnwindSafe(|| W::alone(&mut coordinator, request)))
                        .unwrap_or_else(|_| {
                            Err(internal(format!("this {} request failed unexpectedly", W::NAME)))
                        });
                    let _ = reply.send(alone);
                }
            }
        }
    }
}
