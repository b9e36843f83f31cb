//! The write transactions of one process on one database take turns, first come, first
//! served.
//!
//! SQLite lets one transaction write at a time, and a connection that finds the write
//! lock taken waits in its busy handler: it sleeps and tries again, 1, 2, 5 … up to
//! 100 ms apart, until the busy timeout. A writer that commits again and again (intake's
//! group commit under load) takes the lock back between those tries, so the others
//! starve: in the 2,000-withdrawal benchmark the processor, the sender and the signature
//! writer spent seconds in 100 ms sleeps (strace) while intake committed group after
//! group, and withdrawals waited for broadcast long after their approval. So within a
//! process, writers of a database queue here before they ask SQLite for the lock, and each
//! is woken when the one before it has finished. SQLite's lock and busy timeout still
//! decide between processes (a second coordinator, the command line).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Queue {
    /// A turn is taken (its transaction is open).
    writing: bool,
    /// Tickets of the writers waiting, in the order they came.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

/// The queue of one database's writers in this process.
#[derive(Debug, Default)]
pub(super) struct WriterTurns {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl WriterTurns {
    /// The queue of the database file at `path`: one per file per process, however many
    /// connections the process has to it.
    pub(super) fn for_file(path: &Path) -> Arc<WriterTurns> {
        static FILES: OnceLock<Mutex<HashMap<PathBuf, Arc<WriterTurns>>>> = OnceLock::new();
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        let mut files = FILES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(files.entry(key).or_default())
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue's state is consistent whenever the lock is released, so a panic
        // elsewhere while it was held leaves nothing to repair.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this caller's turn, at most `timeout`: `None` when it did not come (the
    /// caller reports the database busy, as SQLite would).
    pub(super) fn wait(self: &Arc<Self>, timeout: Duration) -> Option<Turn> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.lock();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push_back(ticket);
        loop {
            if !queue.writing && queue.waiting.front() == Some(&ticket) {
                queue.waiting.pop_front();
                queue.writing = true;
                return Some(Turn {
                    turns: Arc::clone(self),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                queue.waiting.retain(|t| *t != ticket);
                drop(queue);
                // The writer behind this one may be first now.
                self.changed.notify_all();
                return None;
            }
            queue = self
                .changed
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A writer's turn: the next one waiting goes when this is dropped.
#[derive(Debug)]
pub(super) struct Turn {
    turns: Arc<WriterTurns>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.turns.lock().writing = false;
        self.turns.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    #[test]
    fn writers_go_in_the_order_they_came() {
        let turns = Arc::new(WriterTurns::default());
        let first = turns.wait(Duration::from_secs(5)).unwrap();
        let (done, order) = mpsc::channel();
        let mut writers = Vec::new();
        for writer in 0..4 {
            let queue = Arc::clone(&turns);
            let done = done.clone();
            writers.push(thread::spawn(move || {
                let _turn = queue.wait(Duration::from_secs(30)).unwrap();
                done.send(writer).unwrap();
            }));
            // Each one queued before the next starts.
            while turns.lock().waiting.len() < writer + 1 {
                thread::yield_now();
            }
        }
        drop(first);
        for writer in writers {
            writer.join().unwrap();
        }
        let order: Vec<usize> = order.try_iter().collect();
        assert_eq!(order, [0, 1, 2, 3]);
    }

    #[test]
    fn a_writer_that_gives_up_does_not_block_the_ones_behind_it() {
        let turns = Arc::new(WriterTurns::default());
        let held = turns.wait(Duration::from_secs(5)).unwrap();
        assert!(
            turns.wait(Duration::from_millis(20)).is_none(),
            "the turn is taken"
        );
        assert!(turns.lock().waiting.is_empty());
        drop(held);
        assert!(turns.wait(Duration::ZERO).is_some());
    }

    #[test]
    fn one_queue_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sqlite");
        std::fs::write(&a, b"").unwrap();
        let same = dir.path().join(".").join("a.sqlite");
        assert!(Arc::ptr_eq(
            &WriterTurns::for_file(&a),
            &WriterTurns::for_file(&same)
        ));
        assert!(!Arc::ptr_eq(
            &WriterTurns::for_file(&a),
            &WriterTurns::for_file(&dir.path().join("b.sqlite"))
        ));
    }
}
