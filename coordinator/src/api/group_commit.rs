//! Group commit for withdrawal intake: concurrent `POST /v1/withdrawals` requests queue
//! here, and one writer thread records whatever has queued in one write transaction with
//! one durable commit (`Coordinator::request_withdrawals`). Each request is answered only
//! after the commit that holds it returned, so an acknowledged withdrawal survives power
//! loss exactly as before (`synchronous=FULL`); what changes is that eight requests
//! arriving together cost one `fsync` instead of eight.
//!
//! While the writer commits one group, the next one gathers: nobody waits for a timer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

use bitcoin::Network;

use crate::db::DbError;
use crate::service::{Coordinator, ErrorKind, Intake, IntakeRequest, ServiceError};

/// Most requests in one transaction: bounds how long one commit holds the write lock.
pub(crate) const MAX_GROUP: usize = 256;

type Outcome = Result<Intake, ServiceError>;

struct Queued {
    request: IntakeRequest,
    reply: Sender<Outcome>,
}

/// The queue in front of the intake writer thread. The thread stops when this is dropped.
#[derive(Debug)]
pub(crate) struct IntakeQueue {
    queue: Mutex<Sender<Queued>>,
}

impl IntakeQueue {
    /// Starts the writer thread on its own connection to `db_path`.
    pub(crate) fn start(db_path: PathBuf, network: Network) -> Result<IntakeQueue, ServiceError> {
        let coordinator = Coordinator::open(&db_path, Some(network))?;
        let (queue, queued) = mpsc::channel();
        std::thread::Builder::new()
            .name("sluice-intake".to_owned())
            .spawn(move || write_groups(coordinator, &queued))
            .map_err(|e| internal(format!("cannot start the intake writer thread: {e}")))?;
        Ok(IntakeQueue {
            queue: Mutex::new(queue),
        })
    }

    /// Records `request` in the next group and waits for that group's commit (blocking:
    /// call from `spawn_blocking`). `Ok` means the withdrawal is durable.
    pub(crate) fn submit(&self, request: IntakeRequest) -> Outcome {
        let (reply, outcome) = mpsc::channel();
        let sent = self
            .queue
            .lock()
            .map_err(|_| internal("the intake queue's lock is poisoned".to_owned()))?
            .send(Queued { request, reply });
        if sent.is_err() {
            return Err(internal("the intake writer thread has stopped".to_owned()));
        }
        outcome.recv().unwrap_or_else(|_| {
            Err(internal(
                "the intake writer thread stopped before answering".to_owned(),
            ))
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

/// The writer thread: takes everything queued (up to `MAX_GROUP`), records it, answers.
fn write_groups(mut coordinator: Coordinator, queued: &Receiver<Queued>) {
    while let Ok(first) = queued.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queued.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let requests: Vec<IntakeRequest> = group.iter().map(|q| q.request.clone()).collect();
        let grouped = catch_unwind(AssertUnwindSafe(|| coordinator.request_withdrawals(&requests)));
        match grouped {
            Ok(Ok(outcomes)) => {
                for (queued, outcome) in group.into_iter().zip(outcomes) {
                    // The requester may have gone (its connection closed): the withdrawal
                    // is recorded all the same, and its idempotency key finds it.
                    let _ = queued.reply.send(outcome);
                }
            }
            Ok(Err(e)) if e.kind() == ErrorKind::Busy => {
                // Another writer held the database past the busy timeout: nothing was
                // recorded. Retrying each alone would wait that long again per request;
                // every requester gets `503 busy` and retries with its key instead.
                tracing::warn!("intake group of {} not recorded: {e}", group.len());
                for queued in group {
                    let _ = queued.reply.send(Err(busy()));
                }
            }
            failed => {
                // The group was rolled back (or its commit failed): nothing of it may be
                // acknowledged. Each request then runs alone, so one request's failure
                // (or a busy database) is reported to that request only; one already
                // recorded by a commit that reported failure is found by its key.
                match failed {
                    Ok(Err(e)) => {
                        tracing::warn!("intake group of {} failed, retrying each alone: {e}", group.len())
                    }
                    _ => tracing::error!("intake group of {} panicked, retrying each alone", group.len()),
                }
                for queued in group {
                    let r = &queued.request;
                    let alone = catch_unwind(AssertUnwindSafe(|| {
                        coordinator.request_withdrawal(&r.actor, &r.idempotency_key, &r.request, r.now)
                    }))
                    .unwrap_or_else(|_| {
                        Err(internal("intake of this request failed unexpectedly".to_owned()))
                    });
                    let _ = queued.reply.send(alone);
                }
            }
        }
    }
}
