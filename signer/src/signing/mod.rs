//! The only place the signer signs.
//!
//! [`sign`] takes a [`ReservedOutflow`], never a raw PSBT: that value exists only after
//! inspection, the signing plan ([`plan`]) and a durable reservation against the limits,
//! so nothing can be signed that skipped one of them. It signs with exactly the key paths
//! the plan fixed, and nothing else.
//!
//! The chain starts from a value only inspection makes: [`plan`] takes an
//! `InspectedPsbt`, never a PSBT and a review that nobody checked belong together.
//! Skipping inspection does not compile:
//!
//! ```compile_fail,E0308
//! use sluice_shared::bitcoin::bip32::Fingerprint;
//! use sluice_shared::bitcoin::psbt::Psbt;
//! use sluice_signer::signing;
//!
//! fn skip_inspection(psbt: Psbt, own: Fingerprint) {
//!     let _ = signing::plan(psbt, "hot", own);
//! }
//! ```
//!
//! and neither does signing a plan that was not reserved:
//!
//! ```compile_fail,E0308
//! use sluice_shared::bitcoin::secp256k1::{All, Secp256k1};
//! use sluice_signer::keys::KeyMaterial;
//! use sluice_signer::signing::{self, SigningPlan};
//!
//! fn skip_the_limits(plan: SigningPlan, keys: &KeyMaterial, secp: &Secp256k1<All>) {
//!     let _ = signing::sign(plan, keys, secp);
//! }
//! ```
//!
//! Private keys derived here live in [`SecretXpriv`]s: each input's key is erased right
//! after its signature, and the branch keys (`ACCOUNT/BRANCH`) are kept with the
//! [`MasterKey`] and erased with it.

mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv};
use bitcoin::hashes::{sha512, Hash, HashEngine, Hmac, HmacEngine};
use bitcoin::psbt::{GetKey, GetKeyError, KeyRequest, Psbt, SigningKeys};
use bitcoin::secp256k1::{ecdsa, All, Message, PublicKey, Scalar, Secp256k1, SecretKey, Signing};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::PrivateKey;

pub use self::plan::{plan, SigningPlan, SigningRefusal};
use crate::keys::KeyMaterial;
use crate::reservation::ReservedOutflow;
use crate::secret_xpriv::SecretXpriv;

/// Why signing failed after the reservation (the reservation stands: fail closed).
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the keystore's master key (fingerprint {found}) is not the key this PSBT was checked for ({expected})")]
    WrongKey {
        expected: Fingerprint,
        found: Fingerprint,
    },
    #[error("deriving a signing key: {0}")]
    Derivation(String),
    #[error("signing failed: {0}")]
    Failed(String),
    #[error("input {index} was not signed: the PSBT changed between checking and signing")]
    Unsigned { index: usize },
}

/// The master key as the signer holds it while unlocked: the key, its fingerprint
/// (computed once: it costs an elliptic-curve multiplication), and every branch key
/// (`ACCOUNT/BRANCH`, e.g. `84h/1h/0h/1`) a signing has derived from it, kept with its
/// public key, so that the next PSBT of the same wallet pays no hardened derivation (an
/// online signer signs one wallet's PSBTs for hours; the cold signer signs one per run).
/// A branch key reveals nothing the master key does not, and it is erased with it: every
/// key here is a [`SecretXpriv`], overwritten on drop.
pub struct MasterKey {
    key: SecretXpriv,
    fingerprint: Fingerprint,
    branches: Mutex<BTreeMap<DerivationPath, Arc<BranchKey>>>,
}

/// The most branch keys a [`MasterKey`] keeps (two per registered account; beyond this,
/// each signing derives its own and drops them).
const MAX_KEPT_BRANCHES: usize = 256;

impl MasterKey {
    pub fn new(key: Xpriv) -> MasterKey {
        let fingerprint = key.fingerprint(sluice_shared::secp::signing());
        MasterKey {
            key: SecretXpriv::new(key),
            fingerprint,
            branches: Mutex::new(BTreeMap::new()),
        }
    }

    /// The key itself, for deriving; keep no copy of it.
    pub fn expose(&self) -> &Xpriv {
        self.key.expose()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The key at `path` below the master key, wrapped to be erased in turn.
    pub fn derive<C: Signing>(
        &self,
        secp: &Secp256k1<C>,
        path: &DerivationPath,
    ) -> Result<SecretXpriv, bitcoin::bip32::Error> {
        self.key.derive(secp, path)
    }

    /// How many branch keys are kept (for tests and diagnostics).
    pub fn kept_branches(&self) -> usize {
        self.branches.lock().map(|kept| kept.len()).unwrap_or(0)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .field("kept_branches", &self.kept_branches())
            .finish()
    }
}

/// This signer's keys for one signing: the branch keys of the full paths the signing plan
/// allowed (from the [`MasterKey`]'s kept ones, derived and kept when missing), each with
/// its public key computed once, so that each input's key costs one HMAC-SHA512 and one
/// scalar addition (BIP32 non-hardened derivation) and no elliptic-curve multiplication.
/// Keys are handed out only for the allowed paths.
#[derive(Debug)]
pub struct AccountKeys {
    fingerprint: Fingerprint,
    network: bitcoin::NetworkKind,
    allowed: BTreeSet<DerivationPath>,
    branches: BTreeMap<DerivationPath, Arc<BranchKey>>,
}

/// One branch's extended private key and its public key.
#[derive(Debug)]
struct BranchKey {
    key: SecretXpriv,
    public_key: PublicKey,
}

/// Splits `m/ACCOUNT/BRANCH/INDEX` into the account path, the branch step and the
/// (non-hardened) index step.
fn split_path(path: &DerivationPath) -> Option<(DerivationPath, ChildNumber, ChildNumber)> {
    let steps = path.as_ref();
    let at = steps.len().checked_sub(2)?;
    let (branch, index) = (steps[at], steps[at + 1]);
    if !branch.is_normal() || !index.is_normal() {
        return None;
    }
    Some((DerivationPath::from(&steps[..at]), branch, index))
}

/// `m/ACCOUNT/BRANCH` of a full path.
fn branch_path(path: &DerivationPath) -> Option<DerivationPath> {
    let steps = path.as_ref();
    let at = steps.len().checked_sub(1)?;
    Some(DerivationPath::from(&steps[..at]))
}

impl AccountKeys {
    /// Keys for exactly `allowed` (full paths `ACCOUNT/BRANCH/INDEX` below `master`, the
    /// last two steps non-hardened).
    pub fn new<C: Signing>(
        master: &MasterKey,
        allowed: &BTreeSet<DerivationPath>,
        secp: &Secp256k1<C>,
    ) -> Result<AccountKeys, SigningError> {
        let mut kept = master
            .branches
            .lock()
            .map_err(|_| SigningError::Derivation("the kept branch keys' lock is poisoned".to_owned()))?;
        let mut accounts: BTreeMap<DerivationPath, SecretXpriv> = BTreeMap::new();
        let mut branches = BTreeMap::new();
        for path in allowed {
            let (account, branch, _) = split_path(path).ok_or_else(|| {
                SigningError::Derivation(format!(
                    "{path} is not ACCOUNT/BRANCH/INDEX with a non-hardened branch and index"
                ))
            })?;
            let Some(branch_at) = branch_path(path) else {
                continue;
            };
            if branches.contains_key(&branch_at) {
                continue;
            }
            if let Some(known) = kept.get(&branch_at) {
                branches.insert(branch_at, Arc::clone(known));
                continue;
            }
            let account_key = match accounts.entry(account) {
                std::collections::btree_map::Entry::Occupied(slot) => slot.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    let key = master
                        .derive(secp, slot.key())
                        .map_err(|e| SigningError::Derivation(e.to_string()))?;
                    slot.insert(key)
                }
            };
            let key = account_key
                .derive(secp, &DerivationPath::from(vec![branch]))
                .map_err(|e| SigningError::Derivation(e.to_string()))?;
            let public_key = key.expose().private_key.public_key(secp);
            let derived = Arc::new(BranchKey { key, public_key });
            if kept.len() < MAX_KEPT_BRANCHES {
                kept.insert(branch_at.clone(), Arc::clone(&derived));
            }
            branches.insert(branch_at, derived);
        }
        // The account keys are erased here: only the branch keys are needed to sign.
        drop(accounts);
        Ok(AccountKeys {
            fingerprint: master.fingerprint,
            network: master.key.expose().network,
            allowed: allowed.clone(),
            branches,
        })
    }

    /// Whether this signing may use the key at `fingerprint`/`path`: exactly a planned one.
    fn planned(&self, fingerprint: Fingerprint, path: &DerivationPath) -> bool {
        fingerprint == self.fingerprint && self.allowed.contains(path)
    }

    /// The private key at `path` if this signing may use it: the key's fingerprint and
    /// full path must be exactly a planned one. Erase it (`non_secure_erase`) after use.
    fn leaf(
        &self,
        fingerprint: Fingerprint,
        path: &DerivationPath,
    ) -> Result<Option<SecretKey>, SigningError> {
        if !self.planned(fingerprint, path) {
            return Ok(None);
        }
        let (Some(branch_at), Some((_, _, index))) = (branch_path(path), split_path(path)) else {
            return Ok(None);
        };
        let Some(branch) = self.branches.get(&branch_at) else {
            return Ok(None);
        };
        // BIP32 CKDpriv for a non-hardened index, with the parent's public key cached:
        // I = HMAC-SHA512(chain code, serP(parent) || ser32(index)), child = I_L + parent.
        // (`Xpriv::ckd_priv` computes the parent's public key twice per step.) A test
        // checks the result against `Xpriv::derive_priv`.
        let mut engine: HmacEngine<sha512::Hash> = HmacEngine::new(&branch.key.expose().chain_code[..]);
        engine.input(&branch.public_key.serialize());
        engine.input(&u32::from(index).to_be_bytes());
        let hmac = Hmac::<sha512::Hash>::from_engine(engine);
        let mut tweak_bytes = [0u8; 32];
        tweak_bytes.copy_from_slice(&hmac[..32]);
        // An I_L at or above the curve order (probability below 2^-127) has no key: BIP32
        // says to skip the index; the signer refuses rather than sign with another key.
        let tweak = Scalar::from_be_bytes(tweak_bytes)
            .map_err(|_| SigningError::Derivation(format!("{path} has no key (BIP32: invalid child)")))?;
        let leaf = branch
            .key
            .expose()
            .private_key
            .add_tweak(&tweak)
            .map_err(|_| SigningError::Derivation(format!("{path} has no key (BIP32: invalid child)")))?;
        Ok(Some(leaf))
    }
}

impl GetKey for AccountKeys {
    type Error = GetKeyError;

    fn get_key<C: Signing>(
        &self,
        request: KeyRequest,
        _secp: &Secp256k1<C>,
    ) -> Result<Option<PrivateKey>, Self::Error> {
        // Keys are handed out only by (fingerprint, path), and only for planned paths.
        let KeyRequest::Bip32((fingerprint, path)) = request else {
            return Ok(None);
        };
        // The `PrivateKey` handed to the library is a copy it uses for one signature
        // and drops.
        match self.leaf(fingerprint, &path) {
            Ok(Some(leaf)) => Ok(Some(PrivateKey::new(leaf, self.network))),
            Ok(None) | Err(_) => Ok(None),
        }
    }
}

/// One segwit v0 signature to make: an input's sighash and one key its key paths name.
struct EcdsaSignature {
    index: usize,
    message: Message,
    sighash_type: EcdsaSighashType,
    public_key: PublicKey,
    fingerprint: Fingerprint,
    path: DerivationPath,
}

/// The fewest signatures a thread of [`sign_inputs`] is given (about 45 µs each here, so a
/// thread's start, some tens of µs, is a few percent of its work). A PSBT of fewer inputs
/// is signed on the calling thread.
pub const MIN_SIGNATURES_PER_THREAD: usize = 8;

/// How many threads a signing spreads its signatures over: the cores this process may use.
pub fn available_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// Each wanted signature (`None` where `keys` has no key for it), in order. The key of each is derived, used for one low-R ECDSA signature
/// (grinded like Bitcoin Core's and BDK's, so DER plus sighash byte is at most 71 bytes)
/// and erased on the thread that signs with it.
fn make_ecdsa_signatures(
    wanted: &[EcdsaSignature],
    keys: &AccountKeys,
    secp: &Secp256k1<All>,
) -> Result<Vec<Option<ecdsa::Signature>>, SigningError> {
    wanted
        .iter()
        .map(|one| {
            let Some(mut leaf) = keys.leaf(one.fingerprint, &one.path)? else {
                return Ok(None);
            };
            let signature = secp.sign_ecdsa_low_r(&one.message, &leaf);
            leaf.non_secure_erase();
            Ok(Some(signature))
        })
        .collect()
}

/// Signs a PSBT in place with `keys` and checks that every input got a signature.
/// Public for the benchmark; the signer itself reaches it only through [`sign`].
///
/// Segwit v0 inputs: every sighash is computed first (rust-bitcoin's, one cache for the
/// transaction), then the signatures are made on up to `threads` threads, each given at
/// least [`MIN_SIGNATURES_PER_THREAD`] (the signatures do not depend on how they are
/// spread: RFC 6979 nonces), and stored under the public key each key path names: the
/// plan refused any that is not the key inspection derived there, so it is not computed
/// again. Taproot key-path inputs are signed through `Psbt::sign` with the same keys, on
/// one thread. A PSBT mixing both is refused (no registered wallet has both, so
/// inspection never passes one).
pub fn sign_inputs(
    psbt: &mut Psbt,
    keys: &AccountKeys,
    secp: &Secp256k1<All>,
    threads: usize,
) -> Result<(), SigningError> {
    let mut taproot = Vec::with_capacity(psbt.inputs.len());
    for index in 0..psbt.inputs.len() {
        let spent = psbt
            .spend_utxo(index)
            .map_err(|e| SigningError::Failed(format!("input {index}: {e}")))?;
        taproot.push(spent.script_pubkey.is_p2tr());
    }
    if taproot.iter().all(|t| *t) {
        return sign_taproot_inputs(psbt, keys, secp);
    }
    if taproot.iter().any(|t| *t) {
        return Err(SigningError::Failed(
            "the PSBT mixes taproot and segwit v0 inputs; no registered wallet has both".to_owned(),
        ));
    }
    let tx = psbt.unsigned_tx.clone();
    let mut cache = SighashCache::new(&tx);
    let mut wanted = Vec::with_capacity(psbt.inputs.len());
    for index in 0..psbt.inputs.len() {
        let (message, sighash_type) = psbt
            .sighash_ecdsa(index, &mut cache)
            .map_err(|e| SigningError::Failed(format!("input {index}: {e}")))?;
        for (public_key, (fingerprint, path)) in &psbt.inputs[index].bip32_derivation {
            if !keys.planned(*fingerprint, path) {
                continue;
            }
            wanted.push(EcdsaSignature {
                index,
                message,
                sighash_type,
                public_key: *public_key,
                fingerprint: *fingerprint,
                path: path.clone(),
            });
        }
    }
    let parts = sluice_shared::parallel::map_chunks(
        &wanted,
        threads,
        MIN_SIGNATURES_PER_THREAD,
        "sluice-signing",
        |part| make_ecdsa_signatures(part, keys, secp),
    );
    let mut made = Vec::with_capacity(wanted.len());
    for part in parts {
        made.extend(
            part.unwrap_or_else(|_| Err(SigningError::Failed("a signing thread panicked".to_owned())))?,
        );
    }
    let mut signed = vec![0usize; psbt.inputs.len()];
    for (one, signature) in wanted.iter().zip(made) {
        let Some(signature) = signature else {
            continue;
        };
        psbt.inputs[one.index].partial_sigs.insert(
            bitcoin::PublicKey::new(one.public_key),
            bitcoin::ecdsa::Signature {
                signature,
                sighash_type: one.sighash_type,
            },
        );
        signed[one.index] += 1;
    }
    match signed.iter().position(|count| *count == 0) {
        Some(index) => Err(SigningError::Unsigned { index }),
        None => Ok(()),
    }
}

fn sign_taproot_inputs(
    psbt: &mut Psbt,
    keys: &AccountKeys,
    secp: &Secp256k1<All>,
) -> Result<(), SigningError> {
    let signed = psbt
        .sign(keys, secp)
        .map_err(|(_, errors)| SigningError::Failed(format!("{errors:?}")))?;
    for index in 0..psbt.inputs.len() {
        let count = match signed.get(&index) {
            Some(SigningKeys::Ecdsa(keys)) => keys.len(),
            Some(SigningKeys::Schnorr(keys)) => keys.len(),
            None => 0,
        };
        if count == 0 {
            return Err(SigningError::Unsigned { index });
        }
    }
    Ok(())
}

/// Signs every input of the reserved PSBT with the planned keys of this signer.
pub fn sign(
    reserved: ReservedOutflow,
    keys: &KeyMaterial,
    secp: &Secp256k1<All>,
) -> Result<Psbt, SigningError> {
    let plan = reserved.into_plan();
    let found = keys.fingerprint();
    if found != plan.fingerprint {
        return Err(SigningError::WrongKey {
            expected: plan.fingerprint,
            found,
        });
    }
    let account_keys = AccountKeys::new(keys.master_key(), &plan.key_paths, secp)?;
    let mut psbt = plan.psbt;
    let signed = sign_inputs(&mut psbt, &account_keys, secp, available_threads());
    // Erase the derived keys now, not when the caller is done with the signed PSBT.
    drop(account_keys);
    signed?;
    Ok(psbt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Network;
    use std::str::FromStr;

    #[test]
    fn the_key_map_signs_only_planned_paths_and_prints_no_key() {
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &[3u8; 32]).unwrap();
        let planned = DerivationPath::from_str("m/84'/1'/0'/1/5").unwrap();
        let keys =
            AccountKeys::new(&MasterKey::new(master), &BTreeSet::from([planned.clone()]), &secp).unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("<secret>"), "{shown}");
        let account = master
            .derive_priv(&secp, &DerivationPath::from_str("m/84'/1'/0'").unwrap())
            .unwrap();
        assert!(!shown.contains(&account.to_string()), "{shown}");
        assert!(!shown.contains(&hex::encode(account.private_key.secret_bytes())));
        let fingerprint = master.fingerprint(&secp);
        let leaf = keys
            .get_key(KeyRequest::Bip32((fingerprint, planned.clone())), &secp)
            .unwrap()
            .unwrap();
        assert_eq!(leaf, master.derive_priv(&secp, &planned).unwrap().to_priv());
        let unplanned = DerivationPath::from_str("m/84'/1'/0'/1/6").unwrap();
        assert_eq!(
            keys.get_key(
                KeyRequest::Bip32((Fingerprint::default(), planned.clone())),
                &secp
            )
            .unwrap(),
            None,
            "another master's fingerprint"
        );
        assert_eq!(
            keys.get_key(KeyRequest::Bip32((fingerprint, unplanned)), &secp)
                .unwrap(),
            None
        );
    }

    /// Signatures spread over threads are the ones one thread makes (RFC 6979: the same
    /// key and message give the same signature), every input is signed, and an unplanned
    /// input is still reported whatever thread it fell to.
    #[test]
    fn signing_on_several_threads_gives_the_same_psbt() {
        use sluice_shared::descriptor::WalletDescriptor;
        use sluice_shared::psbt_builder::sample_spend;
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &[5u8; 32]).unwrap();
        let account = master
            .derive_priv(&secp, &DerivationPath::from_str("m/84'/1'/0'").unwrap())
            .unwrap();
        let xpub = bitcoin::bip32::Xpub::from_priv(&secp, &account);
        let other = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s";
        let fingerprint = master.fingerprint(&secp);
        let descriptor =
            format!("wsh(sortedmulti(2,[{fingerprint}/84h/1h/0h]{xpub}/<0;1>/*,{other}/<0;1>/*))");
        let wallet = WalletDescriptor::parse(&descriptor, None).unwrap();
        let unsigned = sample_spend(&wallet, 40, 1).unwrap();
        let paths: BTreeSet<DerivationPath> = unsigned
            .inputs
            .iter()
            .flat_map(|input| input.bip32_derivation.values())
            .filter(|(owner, _)| *owner == fingerprint)
            .map(|(_, path)| path.clone())
            .collect();
        assert_eq!(paths.len(), 40);
        let master_key = MasterKey::new(master);
        let keys = AccountKeys::new(&master_key, &paths, &secp).unwrap();
        let signed_with = |threads: usize, keys: &AccountKeys| {
            let mut psbt = unsigned.clone();
            sign_inputs(&mut psbt, keys, &secp, threads).map(|()| psbt)
        };
        let one = signed_with(1, &keys).unwrap();
        assert!(one.inputs.iter().all(|input| input.partial_sigs.len() == 1));
        for threads in [2, 3, 16] {
            assert_eq!(signed_with(threads, &keys).unwrap(), one, "{threads} threads");
        }
        // Input 33's key not planned: whichever thread meets it, signing reports it.
        let mut fewer = paths.clone();
        let unplanned = unsigned.inputs[33]
            .bip32_derivation
            .values()
            .find(|(owner, _)| *owner == fingerprint)
            .unwrap()
            .1
            .clone();
        fewer.remove(&unplanned);
        let keys = AccountKeys::new(&master_key, &fewer, &secp).unwrap();
        for threads in [1, 3] {
            assert!(matches!(
                signed_with(threads, &keys),
                Err(SigningError::Unsigned { index: 33 })
            ));
        }
    }

    /// The cached-branch derivation is BIP32's: the same keys as `Xpriv::derive_priv` for
    /// both branches of two accounts and many indices.
    #[test]
    fn branch_derivation_equals_bip32() {
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &[9u8; 32]).unwrap();
        let mut paths = BTreeSet::new();
        for account in ["m/84'/1'/0'", "m/48'/1'/0'/2'"] {
            for branch in 0..2 {
                for index in [0u32, 1, 2, 17, 999, 65_536, (1 << 31) - 1] {
                    paths.insert(DerivationPath::from_str(&format!("{account}/{branch}/{index}")).unwrap());
                }
            }
        }
        let master_key = MasterKey::new(master);
        let keys = AccountKeys::new(&master_key, &paths, &secp).unwrap();
        assert_eq!(keys.branches.len(), 4, "one cached key per branch");
        for path in &paths {
            let leaf = keys.leaf(master.fingerprint(&secp), path).unwrap().unwrap();
            assert_eq!(
                leaf,
                master.derive_priv(&secp, path).unwrap().private_key,
                "{path}"
            );
        }
        let hardened_index = BTreeSet::from([DerivationPath::from_str("m/84'/1'/0'/0/5'").unwrap()]);
        assert!(AccountKeys::new(&master_key, &hardened_index, &secp).is_err());
        // The branch keys are kept with the master key: a second signing reuses them and
        // gets the same keys.
        assert_eq!(master_key.kept_branches(), 4);
        let again = AccountKeys::new(&master_key, &paths, &secp).unwrap();
        assert_eq!(master_key.kept_branches(), 4, "nothing derived twice");
        for path in &paths {
            assert_eq!(
                again.leaf(master.fingerprint(&secp), path).unwrap().unwrap(),
                master.derive_priv(&secp, path).unwrap().private_key,
                "{path}"
            );
        }
        let shown = format!("{master_key:?}");
        assert!(shown.contains("<secret>"), "{shown}");
        assert!(
            !shown.contains(&hex::encode(master.private_key.secret_bytes())),
            "{shown}"
        );
    }
}
