//! The public keys derived from wallets' branch xpubs (`KEY/BRANCH/INDEX`, BIP32 public
//! derivation), kept for the process and made ahead of use.
//!
//! Inspection derives, for every input and change output, each wallet key at the claimed
//! index, to compare the script with the one the PSBT spends or pays: one elliptic-curve
//! multiplication per key (three per input of a 2-of-3 wallet), a third of what signing an
//! input costs. Bitcoin Core's descriptor wallets keep such keys in their wallet file for
//! the same reason. Here they are kept in memory only, computed by this process from the
//! registered xpubs: nothing read from outside is trusted, so there is nothing to
//! authenticate, and a restart starts empty.
//!
//! Each derivation that was not kept also asks for the next [`LOOKAHEAD`] indexes of its
//! branch (addresses are handed out in order, so the next PSBT tends to spend the next
//! ones), and [`DerivedKeys::remember`] asks for a branch's first ones; a long-running
//! program (the online signer, between polls) calls [`DerivedKeys::derive_ahead`] to make
//! them while it is idle. The table holds at most [`CAPACITY`] keys: once full, keys are
//! still derived on demand, only no longer kept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use bitcoin::bip32::{self, ChildNumber, Xpub};
use bitcoin::secp256k1::PublicKey;

/// How many indexes past a derived one (and from 0 for a branch just remembered) are
/// made ahead of use.
pub const LOOKAHEAD: u32 = 1_000;

/// The most keys the process-wide table keeps: about 10 MB (a 72-byte entry each).
pub const CAPACITY: usize = 1 << 17;

/// The most ranges of indexes waiting to be made ahead; ranges beyond it are dropped (they
/// are only a guess of what comes next).
const MAX_WANTED: usize = 256;

/// The fewest keys [`DerivedKeys::derive_many`] gives a thread of its own (about 20 µs
/// each here, so a thread's start, some tens of µs, is a few percent of its work).
pub const MIN_KEYS_PER_THREAD: usize = 16;

/// The first hardened index: public derivation stops below it.
const FIRST_HARDENED: u32 = 1 << 31;

/// A branch xpub's identity for derivation: its public key and chain code (a child's
/// public key depends on nothing else).
type BranchId = ([u8; 33], [u8; 32]);

/// Derived public keys, by branch and index. One per process ([`DerivedKeys::global`]);
/// tests make their own.
#[derive(Debug)]
pub struct DerivedKeys {
    capacity: usize,
    inner: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// Branch → its number in `keys` (a small key keeps each entry small).
    branches: HashMap<BranchId, u32>,
    /// The branch xpubs, by number (to derive ahead).
    xpubs: Vec<Xpub>,
    keys: HashMap<(u32, u32), PublicKey>,
    /// (branch number, first index, end index exclusive) still to be made.
    wanted: VecDeque<(u32, u32, u32)>,
}

impl Table {
    fn branch(&mut self, xpub: &Xpub) -> u32 {
        let id = (xpub.public_key.serialize(), xpub.chain_code.to_bytes());
        if let Some(number) = self.branches.get(&id) {
            return *number;
        }
        let number = self.xpubs.len() as u32;
        self.xpubs.push(*xpub);
        self.branches.insert(id, number);
        number
    }

    /// Asks for `from..from + LOOKAHEAD` of `branch` (merged into the last range when they
    /// touch, as consecutive misses do).
    fn want(&mut self, branch: u32, from: u32) {
        let end = from.saturating_add(LOOKAHEAD).min(FIRST_HARDENED);
        if from >= end {
            return;
        }
        if let Some(last) = self.wanted.back_mut() {
            if last.0 == branch && from >= last.1 && from <= last.2 {
                last.2 = last.2.max(end);
                return;
            }
        }
        if self.wanted.len() < MAX_WANTED {
            self.wanted.push_back((branch, from, end));
        }
    }
}

/// BIP32 public derivation of one non-hardened child (what `Xpub::ckd_pub` computes).
fn child_key(xpub: &Xpub, index: u32) -> Result<PublicKey, bip32::Error> {
    let child = ChildNumber::from_normal_idx(index)?;
    Ok(xpub.ckd_pub(crate::secp::verification(), child)?.public_key)
}

impl DerivedKeys {
    /// An empty table keeping at most `capacity` keys.
    pub fn new(capacity: usize) -> DerivedKeys {
        DerivedKeys {
            capacity,
            inner: Mutex::new(Table::default()),
        }
    }

    /// The process's table (what inspection and address derivation use).
    pub fn global() -> &'static DerivedKeys {
        static TABLE: OnceLock<DerivedKeys> = OnceLock::new();
        TABLE.get_or_init(|| DerivedKeys::new(CAPACITY))
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table holds only values computed here; a panic elsewhere while it was locked
        // cannot have left a wrong key in it (each insert is one complete entry).
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The public key at `xpub/index` (non-hardened), from the table or derived and kept.
    pub fn child(&self, xpub: &Xpub, index: u32) -> Result<PublicKey, bip32::Error> {
        {
            let mut table = self.table();
            let branch = table.branch(xpub);
            if let Some(key) = table.keys.get(&(branch, index)) {
                return Ok(*key);
            }
        }
        // Derived without the lock held: other threads keep using the table meanwhile.
        let key = child_key(xpub, index)?;
        let mut table = self.table();
        let branch = table.branch(xpub);
        if table.keys.len() < self.capacity {
            table.keys.insert((branch, index), key);
        }
        table.want(branch, index.saturating_add(1));
        Ok(key)
    }

    /// Asks for the first [`LOOKAHEAD`] keys of `xpub`'s branch to be made ahead (a
    /// wallet the program will inspect for).
    pub fn remember(&self, xpub: &Xpub) {
        let mut table = self.table();
        let branch = table.branch(xpub);
        if !table.keys.contains_key(&(branch, 0)) {
            table.want(branch, 0);
        }
    }

    /// Makes up to `budget` of the keys asked for ahead of use (each about one EC
    /// multiplication). Returns how many it made; 0 when nothing is left to make or the
    /// table is full.
    pub fn derive_ahead(&self, budget: usize) -> usize {
        let mut made = 0;
        while made < budget {
            let (xpub, branch, index) = {
                let mut table = self.table();
                if table.keys.len() >= self.capacity {
                    table.wanted.clear();
                    return made;
                }
                let Some(range) = table.wanted.front_mut() else {
                    return made;
                };
                let (branch, index) = (range.0, range.1);
                range.1 += 1;
                if range.1 >= range.2 {
                    table.wanted.pop_front();
                }
                if table.keys.contains_key(&(branch, index)) {
                    continue;
                }
                (table.xpubs[branch as usize], branch, index)
            };
            made += 1;
            // An index without a key (probability below 2^-127) stays without one here;
            // `child` reports it when it is asked for.
            if let Ok(key) = child_key(&xpub, index) {
                let mut table = self.table();
                if table.keys.len() < self.capacity {
                    table.keys.insert((branch, index), key);
                }
            }
        }
        made
    }

    /// Derives and keeps every key of `wanted` not kept yet, spread over up to `threads`
    /// threads (a one-shot program about to inspect a PSBT of many inputs: the cold
    /// signer has no idle time to make them ahead, but may have idle cores). Keys are the
    /// same whatever the number of threads; each thread takes at least
    /// [`MIN_KEYS_PER_THREAD`] keys, so a few keys are derived on the calling thread.
    /// An index without a key is left for [`DerivedKeys::child`] to report. Returns how
    /// many keys it derived.
    pub fn derive_many(&self, wanted: &[(Xpub, u32)], threads: usize) -> usize {
        let missing: Vec<(Xpub, u32, u32)> = {
            let mut table = self.table();
            let room = self.capacity.saturating_sub(table.keys.len());
            let mut seen = std::collections::HashSet::new();
            let mut missing = Vec::new();
            for (xpub, index) in wanted {
                if missing.len() >= room {
                    break;
                }
                let branch = table.branch(xpub);
                if *index < FIRST_HARDENED
                    && !table.keys.contains_key(&(branch, *index))
                    && seen.insert((branch, *index))
                {
                    missing.push((*xpub, branch, *index));
                }
            }
            missing
        };
        let derived =
            crate::parallel::map_chunks(&missing, threads, MIN_KEYS_PER_THREAD, "sluice-derive", |part| {
                let made: Vec<((u32, u32), PublicKey)> = part
                    .iter()
                    .filter_map(|(xpub, branch, index)| {
                        Some(((*branch, *index), child_key(xpub, *index).ok()?))
                    })
                    .collect();
                let mut table = self.table();
                for (at, key) in made {
                    if table.keys.len() < self.capacity {
                        table.keys.insert(at, key);
                    }
                }
            });
        for part in derived {
            if let Err(panic) = part {
                std::panic::resume_unwind(panic);
            }
        }
        missing.len()
    }

    /// How many keys the table holds.
    pub fn len(&self) -> usize {
        self.table().keys.len()
    }

    /// Whether the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key and every range asked for (benchmarks measure the cold case).
    pub fn clear(&self) {
        let mut table = self.table();
        table.keys.clear();
        table.wanted.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    const TPUB: &str = "tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";

    fn branch(number: u32) -> Xpub {
        Xpub::from_str(TPUB)
            .unwrap()
            .ckd_pub(
                crate::secp::verification(),
                ChildNumber::from_normal_idx(number).unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn kept_keys_are_bip32_keys_and_are_kept_once() {
        let table = DerivedKeys::new(CAPACITY);
        let (receive, change) = (branch(0), branch(1));
        for index in [0, 1, 7, 999, FIRST_HARDENED - 1] {
            for xpub in [&receive, &change] {
                let expected = child_key(xpub, index).unwrap();
                assert_eq!(table.child(xpub, index).unwrap(), expected);
                assert_eq!(table.child(xpub, index).unwrap(), expected, "from the table");
            }
        }
        assert_eq!(table.len(), 10);
        assert_ne!(
            table.child(&receive, 3).unwrap(),
            table.child(&change, 3).unwrap(),
            "branches are kept apart"
        );
        assert!(table.child(&receive, FIRST_HARDENED).is_err());
    }

    #[test]
    fn keys_are_made_ahead_after_a_derived_index_and_for_a_remembered_branch() {
        let table = DerivedKeys::new(CAPACITY);
        let receive = branch(0);
        table.child(&receive, 10).unwrap();
        assert_eq!(table.derive_ahead(5), 5);
        assert_eq!(table.len(), 6);
        // 11..=15 are kept now: asking for them derives nothing new.
        for index in 11..=15 {
            assert_eq!(
                table.child(&receive, index).unwrap(),
                child_key(&receive, index).unwrap()
            );
        }
        assert_eq!(table.len(), 6);
        // The rest of the look-ahead, then nothing more to make.
        assert_eq!(table.derive_ahead(usize::MAX), LOOKAHEAD as usize - 5);
        assert_eq!(table.derive_ahead(usize::MAX), 0);
        assert_eq!(table.len(), 1 + LOOKAHEAD as usize);

        let change = branch(1);
        table.remember(&change);
        assert_eq!(table.derive_ahead(usize::MAX), LOOKAHEAD as usize);
        assert_eq!(table.child(&change, 0).unwrap(), child_key(&change, 0).unwrap());
        assert_eq!(
            table.child(&change, LOOKAHEAD - 1).unwrap(),
            child_key(&change, LOOKAHEAD - 1).unwrap()
        );
        assert_eq!(table.len(), 1 + 2 * LOOKAHEAD as usize);
    }

    #[test]
    fn keys_derived_on_several_threads_are_the_bip32_keys() {
        let (receive, change) = (branch(0), branch(1));
        let wanted: Vec<(Xpub, u32)> = (0..100)
            .flat_map(|index| [(receive, index), (change, index * 7)])
            .chain([(receive, 3), (receive, FIRST_HARDENED)])
            .collect();
        for threads in [1, 2, 5] {
            let table = DerivedKeys::new(CAPACITY);
            table.child(&receive, 0).unwrap();
            // 200 different keys asked for, one kept already, one repeated, one hardened.
            assert_eq!(table.derive_many(&wanted, threads), 199, "{threads} threads");
            assert_eq!(table.len(), 200);
            for (xpub, index) in &wanted[..200] {
                assert_eq!(
                    table.child(xpub, *index).unwrap(),
                    child_key(xpub, *index).unwrap()
                );
            }
            assert_eq!(table.len(), 200, "all were kept");
            assert_eq!(table.derive_many(&wanted, threads), 0, "nothing left to make");
        }
        let small = DerivedKeys::new(50);
        assert_eq!(small.derive_many(&wanted, 2), 50, "no more than the capacity");
        assert_eq!(small.len(), 50);
    }

    #[test]
    fn the_table_stays_within_its_capacity() {
        let table = DerivedKeys::new(50);
        let receive = branch(0);
        table.remember(&receive);
        assert_eq!(table.derive_ahead(usize::MAX), 50);
        assert_eq!(table.len(), 50);
        // Beyond the capacity keys are derived, right, and not kept.
        assert_eq!(
            table.child(&receive, 500).unwrap(),
            child_key(&receive, 500).unwrap()
        );
        assert_eq!(table.len(), 50);
        assert_eq!(table.derive_ahead(usize::MAX), 0);
        table.clear();
        assert!(table.is_empty());
    }
}
