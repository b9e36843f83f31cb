//! Wallet output descriptors: `wpkh(...)`, `wsh(sortedmulti(M, ...))` and single-key
//! `tr(...)`, each with a receive branch (`/0/*`) and a change branch (`/1/*`).
//!
//! A wallet is accepted only in a shape the signer can reason about completely: every key
//! carries its origin (`[fingerprint/path]`), is an extended public key, and ends in
//! `/BRANCH/*` with an unhardened wildcard. That is what lets the signer derive, rather than
//! believe, whether a script is its own.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::blockdata::opcodes::all::OP_CHECKMULTISIG;
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Address, CompressedPublicKey, Network, NetworkKind, ScriptBuf};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey, WshInner};
use miniscript::descriptor::{DescriptorXKey, Wildcard};
use miniscript::ForEachKey;

use crate::derived_keys::DerivedKeys;

/// The first receive index reserved for the shadow system's sweeps into a treasury wallet.
/// The coordinator hands out receive addresses only below it; the shadow derives its sweep
/// destinations from here up (one per sweep), and the coordinator's monitor watches the next
/// [`SWEEP_LOOKAHEAD`] indexes of every non-deposit wallet, so a swept coin becomes a
/// treasury coin without the two systems ever talking about addresses.
pub const SWEEP_INDEX_BASE: u32 = 1 << 30;

/// How many reserved sweep indexes past the last one seen on chain the coordinator watches
/// (the shadow plans at most one sweep at a time, so gaps come only from sweeps it planned
/// and never broadcast).
pub const SWEEP_LOOKAHEAD: u32 = 20;

/// Which branch of a wallet an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Branch {
    /// `/0/*`: addresses handed out to receive funds.
    Receive,
    /// `/1/*`: addresses the wallet pays its own change to.
    Change,
}

impl Branch {
    pub fn number(self) -> u32 {
        match self {
            Branch::Receive => 0,
            Branch::Change => 1,
        }
    }

    pub fn from_number(number: u32) -> Option<Branch> {
        match number {
            0 => Some(Branch::Receive),
            1 => Some(Branch::Change),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Branch::Receive => "receive",
            Branch::Change => "change",
        }
    }
}

/// The script template of a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletKind {
    /// `wpkh(KEY)`: single-signature segwit v0.
    Wpkh,
    /// `wsh(sortedmulti(M, KEY...))`: M-of-N segwit v0 multisig.
    WshSortedMulti { threshold: usize, keys: usize },
    /// `tr(KEY)`: single-key taproot key-path spend, no script tree.
    TrSingle,
}

impl WalletKind {
    /// Segwit v0 spends sign a digest that does not commit to other inputs' amounts, so
    /// their inputs need the full previous transaction (CVE-2020-14199).
    pub fn is_segwit_v0(self) -> bool {
        matches!(self, WalletKind::Wpkh | WalletKind::WshSortedMulti { .. })
    }
}

/// One cosigner key of a wallet: where it comes from and the account xpub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignerKey {
    /// Master fingerprint of the key's owner.
    pub fingerprint: Fingerprint,
    /// Path from the owner's master key to `xpub` (e.g. `84h/1h/0h`).
    pub origin_path: DerivationPath,
    /// The account-level extended public key.
    pub xpub: Xpub,
}

/// What a PSBT input or output of a segwit v0 wallet carries about its script
/// ([`WalletDescriptor::script_and_segwit_v0_fields`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegwitV0Fields {
    /// Each key and where it comes from: `bip32_derivation`.
    pub origins: BTreeMap<bitcoin::secp256k1::PublicKey, (Fingerprint, DerivationPath)>,
    /// `wsh`'s witness script; `None` for `wpkh`.
    pub witness_script: Option<ScriptBuf>,
}

/// `threshold` of `n` `keys`, sorted as `sortedmulti` sorts them (BIP67).
fn sorted_multisig(threshold: usize, n: usize, keys: &[bitcoin::secp256k1::PublicKey]) -> ScriptBuf {
    let mut sorted = keys.to_vec();
    sorted.sort_by_key(|k| k.serialize());
    let mut builder = Builder::new().push_int(threshold as i64);
    for key in &sorted {
        builder = builder.push_slice(key.serialize());
    }
    builder
        .push_int(n as i64)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

/// A wallet as a pair of descriptors: receive (`/0/*`) and change (`/1/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletDescriptor {
    receive: Descriptor<DescriptorPublicKey>,
    change: Descriptor<DescriptorPublicKey>,
    kind: WalletKind,
    keys: Vec<CosignerKey>,
    /// Each key's xpub one level down, at `/0` and `/1`: deriving a script then needs one
    /// child derivation per key instead of two (inspection derives one per input).
    branch_xpubs: [Vec<Xpub>; 2],
}

/// Why a descriptor was not accepted as a wallet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    #[error("descriptor does not parse: {0}")]
    Parse(String),
    #[error(
        "unsupported wallet type: {0} (Sluice supports wpkh(KEY), wsh(sortedmulti(M,KEY,...)) and tr(KEY))"
    )]
    Unsupported(String),
    #[error("every key needs its origin, written [fingerprint/path]xpub/BRANCH/*: {0}")]
    MissingOrigin(String),
    #[error("the {branch} descriptor must end every key in /{number}/*: {detail}")]
    WrongBranch {
        branch: &'static str,
        number: u32,
        detail: String,
    },
    #[error("the receive and change descriptors describe different wallets: {0}")]
    BranchesDisagree(String),
    #[error("the descriptor's keys are for {found} but the configured network is {expected}")]
    WrongNetwork { expected: String, found: String },
    #[error("cannot derive index {index}: {reason}")]
    Derivation { index: u32, reason: String },
    #[error("the same key appears twice, so the wallet has fewer independent cosigners than it says: {0}")]
    DuplicateKey(String),
}

fn parse_one(text: &str) -> Result<Descriptor<DescriptorPublicKey>, DescriptorError> {
    Descriptor::<DescriptorPublicKey>::from_str(text.trim())
        .map_err(|e| DescriptorError::Parse(e.to_string()))
}

fn network_kind_name(kind: NetworkKind) -> &'static str {
    match kind {
        NetworkKind::Main => "mainnet (xpub)",
        NetworkKind::Test => "test networks (tpub)",
    }
}

/// The keys of `descriptor` in the order they are written.
fn descriptor_keys(descriptor: &Descriptor<DescriptorPublicKey>) -> Vec<DescriptorPublicKey> {
    let mut keys = Vec::new();
    descriptor.for_each_key(|key| {
        keys.push(key.clone());
        true
    });
    keys
}

/// Checks one key is `[origin]xpub/BRANCH/*` and returns its parts.
fn check_key(
    key: &DescriptorPublicKey,
    branch: Branch,
) -> Result<(CosignerKey, DescriptorXKey<Xpub>), DescriptorError> {
    let xkey = match key {
        DescriptorPublicKey::XPub(xkey) => xkey,
        DescriptorPublicKey::Single(_) => {
            return Err(DescriptorError::Unsupported(format!(
                "{key} is a single key; wallets need extended keys so each address is new"
            )))
        }
        DescriptorPublicKey::MultiXPub(_) => {
            return Err(DescriptorError::Unsupported(format!("{key} is still multipath")))
        }
    };
    let (fingerprint, origin_path) = xkey
        .origin
        .clone()
        .ok_or_else(|| DescriptorError::MissingOrigin(key.to_string()))?;
    // The origin is what PSBT derivation claims are matched against: one that cannot be
    // the key's real origin would make every claim for this key look foreign (or worse,
    // let a wrong path look right), so refuse it here.
    if usize::from(xkey.xkey.depth) != origin_path.len() {
        return Err(DescriptorError::MissingOrigin(format!(
            "{key}: the origin path has {} steps but the xpub is at depth {}",
            origin_path.len(),
            xkey.xkey.depth
        )));
    }
    if xkey.xkey.depth == 0 && xkey.xkey.fingerprint() != fingerprint {
        return Err(DescriptorError::MissingOrigin(format!(
            "{key}: a master xpub's origin fingerprint must be its own, {}",
            xkey.xkey.fingerprint()
        )));
    }
    crate::extended_key::check_xpub(&xkey.xkey).map_err(|e| DescriptorError::Parse(format!("{key}: {e}")))?;
    let expected = [ChildNumber::Normal {
        index: branch.number(),
    }];
    if xkey.wildcard != Wildcard::Unhardened || xkey.derivation_path.as_ref() != expected {
        return Err(DescriptorError::WrongBranch {
            branch: branch.name(),
            number: branch.number(),
            detail: key.to_string(),
        });
    }
    Ok((
        CosignerKey {
            fingerprint,
            origin_path,
            xpub: xkey.xkey,
        },
        xkey.clone(),
    ))
}

fn kind_of(descriptor: &Descriptor<DescriptorPublicKey>) -> Result<WalletKind, DescriptorError> {
    match descriptor {
        Descriptor::Wpkh(_) => Ok(WalletKind::Wpkh),
        Descriptor::Wsh(wsh) => match wsh.as_inner() {
            WshInner::SortedMulti(multi) => Ok(WalletKind::WshSortedMulti {
                threshold: multi.k(),
                keys: multi.pks().len(),
            }),
            WshInner::Ms(_) => Err(DescriptorError::Unsupported(
                "wsh() with a miniscript policy other than sortedmulti".to_owned(),
            )),
        },
        Descriptor::Tr(tr) if tr.tap_tree().is_none() => Ok(WalletKind::TrSingle),
        Descriptor::Tr(_) => Err(DescriptorError::Unsupported("tr() with a script tree".to_owned())),
        other => Err(DescriptorError::Unsupported(other.to_string())),
    }
}

/// Most wallets' parsed descriptors [`WalletDescriptor::parse_kept`] keeps: a coordinator
/// or signer has a few wallets; past this the table starts over.
const KEPT_PARSED: usize = 64;

impl WalletDescriptor {
    /// [`WalletDescriptor::parse`] of a receive and a change descriptor, kept for the
    /// process by their text: parsing derives each key's branch xpubs (an EC
    /// multiplication each), a registered wallet's descriptors never change, and the same
    /// text always parses the same. For callers that parse the same wallets again and
    /// again (the coordinator once per session, the online signer once per poll). At most
    /// [`KEPT_PARSED`] are kept.
    pub fn parse_kept(receive: &str, change: &str) -> Result<Arc<WalletDescriptor>, DescriptorError> {
        type Table = HashMap<(String, String), Arc<WalletDescriptor>>;
        static KEPT: OnceLock<Mutex<Table>> = OnceLock::new();
        let table = KEPT.get_or_init(Mutex::default);
        let key = (receive.to_owned(), change.to_owned());
        if let Some(found) = table.lock().ok().and_then(|t| t.get(&key).cloned()) {
            return Ok(found);
        }
        let descriptor = Arc::new(WalletDescriptor::parse(receive, Some(change))?);
        if let Ok(mut t) = table.lock() {
            if t.len() >= KEPT_PARSED {
                t.clear();
            }
            t.insert(key, Arc::clone(&descriptor));
        }
        Ok(descriptor)
    }

    /// Parses either one multipath descriptor (`.../<0;1>/*`) with `change = None`, or a
    /// receive descriptor (`/0/*`) and its change descriptor (`/1/*`). Checksums are
    /// checked when present. Every key must carry its origin and be ranged.
    pub fn parse(receive_or_multipath: &str, change: Option<&str>) -> Result<Self, DescriptorError> {
        let first = parse_one(receive_or_multipath)?;
        let (receive, change) = match change {
            Some(change) => (first, parse_one(change)?),
            None => {
                if !first.is_multipath() {
                    return Err(DescriptorError::WrongBranch {
                        branch: "change",
                        number: 1,
                        detail:
                            "give a change descriptor too, or one multipath descriptor ending in /<0;1>/*"
                                .to_owned(),
                    });
                }
                let mut singles = first
                    .into_single_descriptors()
                    .map_err(|e| DescriptorError::Parse(e.to_string()))?;
                if singles.len() != 2 {
                    return Err(DescriptorError::WrongBranch {
                        branch: "multipath",
                        number: 0,
                        detail: format!("expected exactly two paths <0;1>, found {}", singles.len()),
                    });
                }
                let change = singles
                    .pop()
                    .ok_or_else(|| DescriptorError::Parse("empty".to_owned()))?;
                let receive = singles
                    .pop()
                    .ok_or_else(|| DescriptorError::Parse("empty".to_owned()))?;
                (receive, change)
            }
        };
        let kind = kind_of(&receive)?;
        if kind_of(&change)? != kind {
            return Err(DescriptorError::BranchesDisagree(
                "different script types".to_owned(),
            ));
        }
        let receive_keys = descriptor_keys(&receive);
        let change_keys = descriptor_keys(&change);
        if receive_keys.len() != change_keys.len() {
            return Err(DescriptorError::BranchesDisagree(
                "different numbers of keys".to_owned(),
            ));
        }
        let mut keys = Vec::with_capacity(receive_keys.len());
        for (r, c) in receive_keys.iter().zip(&change_keys) {
            let (cosigner, r_x) = check_key(r, Branch::Receive)?;
            let (_, c_x) = check_key(c, Branch::Change)?;
            if r_x.origin != c_x.origin || r_x.xkey != c_x.xkey {
                return Err(DescriptorError::BranchesDisagree(format!(
                    "key {r} has no counterpart {c}"
                )));
            }
            keys.push(cosigner);
        }
        for (n, key) in keys.iter().enumerate() {
            if keys[..n]
                .iter()
                .any(|earlier| earlier.xpub.public_key == key.xpub.public_key)
            {
                return Err(DescriptorError::DuplicateKey(format!(
                    "[{}/{}]{}",
                    key.fingerprint, key.origin_path, key.xpub
                )));
            }
        }
        if let Some(first_key) = keys.first() {
            let kind_net = first_key.xpub.network;
            if keys.iter().any(|k| k.xpub.network != kind_net) {
                return Err(DescriptorError::Unsupported(
                    "keys from different networks".to_owned(),
                ));
            }
        }
        let secp = crate::secp::verification();
        let mut branch_xpubs: [Vec<Xpub>; 2] = [Vec::new(), Vec::new()];
        for (b, xpubs) in branch_xpubs.iter_mut().enumerate() {
            let child = ChildNumber::Normal { index: b as u32 };
            for key in &keys {
                let xpub = key
                    .xpub
                    .ckd_pub(secp, child)
                    .map_err(|e| DescriptorError::Derivation {
                        index: 0,
                        reason: e.to_string(),
                    })?;
                xpubs.push(xpub);
            }
        }
        Ok(WalletDescriptor {
            receive,
            change,
            kind,
            keys,
            branch_xpubs,
        })
    }

    pub fn kind(&self) -> WalletKind {
        self.kind
    }

    pub fn receive(&self) -> &Descriptor<DescriptorPublicKey> {
        &self.receive
    }

    pub fn change(&self) -> &Descriptor<DescriptorPublicKey> {
        &self.change
    }

    pub fn branch(&self, branch: Branch) -> &Descriptor<DescriptorPublicKey> {
        match branch {
            Branch::Receive => &self.receive,
            Branch::Change => &self.change,
        }
    }

    /// The cosigner keys, in descriptor order.
    pub fn keys(&self) -> Vec<CosignerKey> {
        self.keys.clone()
    }

    /// Fails unless every key is for `network` (xpub for mainnet, tpub otherwise).
    pub fn check_network(&self, network: Network) -> Result<(), DescriptorError> {
        let expected = NetworkKind::from(network);
        match self.keys.iter().find(|k| k.xpub.network != expected) {
            None => Ok(()),
            Some(key) => Err(DescriptorError::WrongNetwork {
                expected: network.to_string(),
                found: network_kind_name(key.xpub.network).to_owned(),
            }),
        }
    }

    /// The script at `branch/index`.
    pub fn script_pubkey(&self, branch: Branch, index: u32) -> Result<ScriptBuf, DescriptorError> {
        Ok(self.script_and_keys(branch, index)?.0)
    }

    /// The script at `branch/index` and the public keys it is made of, in descriptor order
    /// (for taproot, the first key is the internal key). One derivation serves both, for
    /// callers that check a PSBT's script hints against the keys.
    pub fn script_and_keys(
        &self,
        branch: Branch,
        index: u32,
    ) -> Result<(ScriptBuf, Vec<bitcoin::secp256k1::PublicKey>), DescriptorError> {
        // Built directly from the cached branch xpubs for the three supported shapes (each
        // key from the process's table of derived keys, or derived and kept there); a test
        // checks the result against miniscript's derivation.
        let secp = crate::secp::verification();
        let table = DerivedKeys::global();
        let mut keys = Vec::with_capacity(self.keys.len());
        for xpub in &self.branch_xpubs[branch.number() as usize] {
            let derived = table
                .child(xpub, index)
                .map_err(|e| DescriptorError::Derivation {
                    index,
                    reason: e.to_string(),
                })?;
            keys.push(derived);
        }
        let first = *keys.first().ok_or(DescriptorError::Derivation {
            index,
            reason: "no keys".to_owned(),
        })?;
        let script = match self.kind {
            WalletKind::Wpkh => ScriptBuf::new_p2wpkh(&CompressedPublicKey(first).wpubkey_hash()),
            WalletKind::WshSortedMulti { threshold, keys: n } => {
                ScriptBuf::new_p2wsh(&sorted_multisig(threshold, n, &keys).wscript_hash())
            }
            WalletKind::TrSingle => ScriptBuf::new_p2tr(secp, first.x_only_public_key().0, None),
        };
        Ok((script, keys))
    }

    /// The script at `branch/index` and what a PSBT input spending it, or output paying
    /// it, carries for a segwit v0 wallet, from one derivation of the cached keys: each
    /// key's origin (master fingerprint and full path) and, for a multisig wallet, the
    /// witness script; what miniscript's PSBT updaters set, without deriving every key
    /// again (a test checks the two agree). `None` for taproot, whose fields the caller
    /// takes from miniscript.
    pub fn script_and_segwit_v0_fields(
        &self,
        branch: Branch,
        index: u32,
    ) -> Result<(ScriptBuf, Option<SegwitV0Fields>), DescriptorError> {
        let (script, keys) = self.script_and_keys(branch, index)?;
        if !self.kind.is_segwit_v0() {
            return Ok((script, None));
        }
        let steps = [
            ChildNumber::Normal {
                index: branch.number(),
            },
            ChildNumber::Normal { index },
        ];
        let mut origins = BTreeMap::new();
        for (key, cosigner) in keys.iter().zip(&self.keys) {
            let path = cosigner.origin_path.extend(steps);
            origins.insert(*key, (cosigner.fingerprint, path));
        }
        let witness_script = match self.kind {
            WalletKind::WshSortedMulti { threshold, keys: n } => Some(sorted_multisig(threshold, n, &keys)),
            WalletKind::Wpkh | WalletKind::TrSingle => None,
        };
        Ok((
            script,
            Some(SegwitV0Fields {
                origins,
                witness_script,
            }),
        ))
    }

    /// Asks the process's table of derived keys ([`DerivedKeys`]) to make this wallet's
    /// first keys of each branch ahead of use (a program that will inspect for it calls
    /// this, then `DerivedKeys::derive_ahead` while idle).
    pub fn remember_keys(&self) {
        let table = DerivedKeys::global();
        for xpub in self.branch_xpubs.iter().flatten() {
            table.remember(xpub);
        }
    }

    /// Derives into the process's table of derived keys every key of this wallet at each
    /// of `at`, on up to `threads` threads ([`DerivedKeys::derive_many`]), so that
    /// [`WalletDescriptor::script_and_keys`] finds them kept.
    pub fn derive_keys_at(&self, at: &[(Branch, u32)], threads: usize) -> usize {
        let wanted: Vec<(Xpub, u32)> = at
            .iter()
            .flat_map(|(branch, index)| {
                self.branch_xpubs[branch.number() as usize]
                    .iter()
                    .map(move |xpub| (*xpub, *index))
            })
            .collect();
        DerivedKeys::global().derive_many(&wanted, threads)
    }

    /// The address at `branch/index` on `network`.
    pub fn address(&self, branch: Branch, index: u32, network: Network) -> Result<Address, DescriptorError> {
        let script = self.script_pubkey(branch, index)?;
        Address::from_script(&script, network).map_err(|e| DescriptorError::Derivation {
            index,
            reason: e.to_string(),
        })
    }

    /// The descriptor at `branch/index` with every key definite, as PSBT updaters need it.
    pub fn definite(
        &self,
        branch: Branch,
        index: u32,
    ) -> Result<Descriptor<miniscript::DefiniteDescriptorKey>, DescriptorError> {
        self.branch(branch)
            .at_derivation_index(index)
            .map_err(|e| DescriptorError::Derivation {
                index,
                reason: e.to_string(),
            })
    }

    /// If `path` (from master `fingerprint`) is one of this wallet's keys at
    /// `origin/BRANCH/INDEX`, the branch and index it claims. A claim is only a hint: the
    /// caller must derive the script and compare.
    pub fn match_derivation(&self, fingerprint: Fingerprint, path: &DerivationPath) -> Option<(Branch, u32)> {
        let path = path.as_ref();
        self.keys.iter().find_map(|key| {
            let origin = key.origin_path.as_ref();
            if key.fingerprint != fingerprint || path.len() != origin.len() + 2 || !path.starts_with(origin) {
                return None;
            }
            match (path[origin.len()], path[origin.len() + 1]) {
                (ChildNumber::Normal { index: b }, ChildNumber::Normal { index }) => {
                    Branch::from_number(b).map(|branch| (branch, index))
                }
                _ => None,
            }
        })
    }

    /// Whether `fingerprint`/`path` names one of this wallet's keys on the change branch,
    /// whatever the index (used to tell a false change claim from an unclaimed output).
    pub fn claims_change(&self, fingerprint: Fingerprint, path: &DerivationPath) -> bool {
        let path = path.as_ref();
        self.keys.iter().any(|key| {
            let origin = key.origin_path.as_ref();
            key.fingerprint == fingerprint
                && path.len() == origin.len() + 2
                && path.starts_with(origin)
                && path[origin.len()] == ChildNumber::Normal { index: 1 }
        })
    }

    /// A stable identifier of the wallet: hex of the first 16 bytes of SHA-256 over both
    /// descriptors' canonical strings.
    pub fn wallet_id(&self) -> String {
        let text = format!("{}\n{}", self.receive, self.change);
        let hash = sha256::Hash::hash(text.as_bytes());
        hex::encode(&hash.as_byte_array()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TPUB_A: &str = "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
    const TPUB_B: &str = "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";

    #[test]
    fn multipath_equals_pair() {
        let multi = WalletDescriptor::parse(&format!("wpkh({TPUB_A}/<0;1>/*)"), None).unwrap();
        let pair = WalletDescriptor::parse(
            &format!("wpkh({TPUB_A}/0/*)"),
            Some(&format!("wpkh({TPUB_A}/1/*)")),
        )
        .unwrap();
        assert_eq!(multi.wallet_id(), pair.wallet_id());
        assert_eq!(multi.kind(), WalletKind::Wpkh);
        assert_eq!(multi.keys().len(), 1);
        assert_eq!(
            multi.script_pubkey(Branch::Change, 3).unwrap(),
            pair.script_pubkey(Branch::Change, 3).unwrap()
        );
    }

    #[test]
    fn refuses_what_it_cannot_reason_about() {
        let no_origin = "wpkh(tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi/<0;1>/*)";
        assert!(matches!(
            WalletDescriptor::parse(no_origin, None),
            Err(DescriptorError::MissingOrigin(_))
        ));
        let swapped = WalletDescriptor::parse(
            &format!("wpkh({TPUB_A}/1/*)"),
            Some(&format!("wpkh({TPUB_A}/0/*)")),
        );
        assert!(matches!(swapped, Err(DescriptorError::WrongBranch { .. })));
        let other = WalletDescriptor::parse(
            &format!("wpkh({TPUB_A}/0/*)"),
            Some(&format!("wpkh({TPUB_B}/1/*)")),
        );
        assert!(matches!(other, Err(DescriptorError::BranchesDisagree(_))));
        let pkh = WalletDescriptor::parse(&format!("pkh({TPUB_A}/<0;1>/*)"), None);
        assert!(matches!(pkh, Err(DescriptorError::Unsupported(_))));
        let multi =
            WalletDescriptor::parse(&format!("wsh(multi(1,{TPUB_A}/<0;1>/*,{TPUB_B}/<0;1>/*))"), None);
        assert!(matches!(multi, Err(DescriptorError::Unsupported(_))));
        let hardened = WalletDescriptor::parse(&format!("wpkh({TPUB_A}/<0;1>/*h)"), None);
        assert!(hardened.is_err());
        let bad_checksum = WalletDescriptor::parse(&format!("wpkh({TPUB_A}/<0;1>/*)#aaaaaaaa"), None);
        assert!(matches!(bad_checksum, Err(DescriptorError::Parse(_))));
        assert!(WalletDescriptor::parse(&format!("wpkh({TPUB_A}/0/*)"), None).is_err());
    }

    #[test]
    fn direct_derivation_matches_miniscript() {
        const TPUB_C: &str = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s";
        for text in [
            format!("wpkh({TPUB_A}/<0;1>/*)"),
            format!("tr({TPUB_B}/<0;1>/*)"),
            format!("wsh(sortedmulti(2,{TPUB_A}/<0;1>/*,{TPUB_B}/<0;1>/*,{TPUB_C}/<0;1>/*))"),
            format!("wsh(sortedmulti(1,{TPUB_C}/<0;1>/*,{TPUB_A}/<0;1>/*))"),
        ] {
            let w = WalletDescriptor::parse(&text, None).unwrap();
            for branch in [Branch::Receive, Branch::Change] {
                for index in (0..40).chain([1000, 123_456, (1 << 31) - 1]) {
                    assert_eq!(
                        w.script_pubkey(branch, index).unwrap(),
                        w.definite(branch, index).unwrap().script_pubkey(),
                        "{text} {branch:?}/{index}"
                    );
                }
            }
            assert!(
                w.script_pubkey(Branch::Receive, 1 << 31).is_err(),
                "hardened index refused"
            );
        }
    }

    #[test]
    fn kept_descriptors_are_parsed_once_and_failures_are_not_kept() {
        let receive = format!("wpkh({TPUB_A}/0/*)");
        let change = format!("wpkh({TPUB_A}/1/*)");
        let first = WalletDescriptor::parse_kept(&receive, &change).unwrap();
        let again = WalletDescriptor::parse_kept(&receive, &change).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*first, WalletDescriptor::parse(&receive, Some(&change)).unwrap());
        let wrong_change = format!("wpkh({TPUB_B}/1/*)");
        for _ in 0..2 {
            assert!(WalletDescriptor::parse_kept(&receive, &wrong_change).is_err());
        }
    }

    #[test]
    fn network_is_checked() {
        let w = WalletDescriptor::parse(
            &format!("wsh(sortedmulti(1,{TPUB_A}/<0;1>/*,{TPUB_B}/<0;1>/*))"),
            None,
        )
        .unwrap();
        assert_eq!(
            w.kind(),
            WalletKind::WshSortedMulti {
                threshold: 1,
                keys: 2
            }
        );
        assert!(w.check_network(Network::Regtest).is_ok());
        assert!(matches!(
            w.check_network(Network::Bitcoin),
            Err(DescriptorError::WrongNetwork { .. })
        ));
    }

    #[test]
    fn refuses_repeated_keys_and_origins_that_cannot_be_true() {
        // The same xpub under two fingerprints: a "2-of-2" one party can sign alone.
        let again = TPUB_A.replace("[1bbaa5fe/", "[aaaaaaaa/");
        assert!(matches!(
            WalletDescriptor::parse(
                &format!("wsh(sortedmulti(2,{TPUB_A}/<0;1>/*,{again}/<0;1>/*))"),
                None
            ),
            Err(DescriptorError::DuplicateKey(_))
        ));
        // The xpub is at depth 3; an origin of two steps cannot be its origin.
        let short = TPUB_A.replace("/84h/1h/0h]", "/84h/1h]");
        assert!(matches!(
            WalletDescriptor::parse(&format!("wpkh({short}/<0;1>/*)"), None),
            Err(DescriptorError::MissingOrigin(_))
        ));
        // BIP32 test vector 5: a master xpub with a parent fingerprint, which `bitcoin`
        // itself accepts.
        let bad_master = "xpub661no6RGEX3uJkY4bNnPcw4URcQTrSibUZ4NqJEw5eBkv7ovTwgiT91XX27VbEXGENhYRCf7hyEbWrR3FewATdCEebj6znwMfQkhRYHRLpJ";
        let fp = Xpub::from_str(bad_master).unwrap().fingerprint();
        assert!(matches!(
            WalletDescriptor::parse(&format!("wpkh([{fp}]{bad_master}/<0;1>/*)"), None),
            Err(DescriptorError::Parse(_))
        ));
        // A genuine master xpub with its own fingerprint is fine (BIP32 vector 1, mainnet).
        let master = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";
        let fp = Xpub::from_str(master).unwrap().fingerprint();
        let wallet = WalletDescriptor::parse(&format!("wpkh([{fp}]{master}/<0;1>/*)"), None).unwrap();
        assert!(wallet.check_network(Network::Bitcoin).is_ok());
        let wrong_fp = WalletDescriptor::parse(&format!("wpkh([00000000]{master}/<0;1>/*)"), None);
        assert!(matches!(wrong_fp, Err(DescriptorError::MissingOrigin(_))));
    }

    #[test]
    fn derivation_claims_are_matched_exactly() {
        let w = WalletDescriptor::parse(&format!("tr({TPUB_A}/<0;1>/*)"), None).unwrap();
        let fp = Fingerprint::from_str("1bbaa5fe").unwrap();
        let path = DerivationPath::from_str("m/84h/1h/0h/1/7").unwrap();
        assert_eq!(w.match_derivation(fp, &path), Some((Branch::Change, 7)));
        assert!(w.claims_change(fp, &path));
        let other_account = DerivationPath::from_str("m/84h/1h/1h/1/7").unwrap();
        assert_eq!(w.match_derivation(fp, &other_account), None);
        let branch_two = DerivationPath::from_str("m/84h/1h/0h/2/7").unwrap();
        assert_eq!(w.match_derivation(fp, &branch_two), None);
        let wrong_fp = Fingerprint::from_str("00000000").unwrap();
        assert_eq!(w.match_derivation(wrong_fp, &path), None);
    }
}
