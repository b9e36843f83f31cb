//! Exactly what this signer will sign in a PSBT, decided before anything is reserved.
//!
//! Inspection proves which inputs are the wallet's own and what they are worth; this
//! module pins down the signature itself: for every input, the one key path of this
//! signer that the registered wallet uses there, and the script the signature commits to.
//! Key paths in a PSBT are the coordinator's claims, so any extra path, a public key for
//! this signer's path other than the wallet's key there, a witness script that is not the
//! input's, or a taproot tweak or script leaf that the wallet does not have is refused
//! rather than signed.

use std::collections::BTreeSet;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint};
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::PublicKey;
use bitcoin::ScriptBuf;
use sluice_shared::descriptor::{Branch, WalletDescriptor, WalletKind};
use sluice_shared::inspect::{InspectedPsbt, PsbtReview};

/// What a taproot key origin of this signer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaprootClaim {
    KeyPath,
    ScriptPath,
    NotTheInternalKey,
}

/// What one of this signer's key origins in an input asserts besides its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// A taproot key origin, and the signature it asks for.
    Taproot(TaprootClaim),
    /// A segwit v0 key origin, and the public key it names for the path.
    PublicKey(PublicKey),
}

/// Why a PSBT that passed inspection is still not signed. Each names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningRefusal {
    #[error("input {index} carries no key path for this signer's key (fingerprint {fingerprint}): there is nothing this signer could sign")]
    NoKeyPath { index: usize, fingerprint: Fingerprint },
    #[error("input {index} asks this signer to sign with key path {path}, which is not the wallet's key for that input (only {expected} is)")]
    UnexpectedKeyPath {
        index: usize,
        path: String,
        expected: String,
    },
    #[error("input {index} names public key {claimed} for this signer's key path {path}, but the wallet's key there is {derived}")]
    WrongPublicKey {
        index: usize,
        path: String,
        /// Hex, as the keys print.
        claimed: String,
        derived: String,
    },
    #[error("input {index}: the witness script does not hash to the script being spent; a signature would commit to another script")]
    WrongWitnessScript { index: usize },
    #[error(
        "input {index}: the taproot internal key does not match the output being spent (or the wallet's key)"
    )]
    WrongInternalKey { index: usize },
    #[error("input {index} asks for a taproot script-path signature or tweak, but the wallet is a single key with no script tree")]
    TaprootScriptPath { index: usize },
    #[error("input {index}: the PSBT is inconsistent with its inspection ({reason})")]
    Inconsistent { index: usize, reason: String },
}

/// A PSBT that passed inspection, with the exact key paths this signer will sign with.
/// Only [`plan`] makes one, from an [`InspectedPsbt`] (which only inspection makes);
/// reservation takes it, and signing takes what reservation returns.
#[derive(Debug)]
pub struct SigningPlan {
    pub(super) psbt: Psbt,
    pub(super) review: PsbtReview,
    pub(super) wallet: String,
    pub(super) fingerprint: Fingerprint,
    pub(super) key_paths: BTreeSet<DerivationPath>,
}

impl SigningPlan {
    pub fn review(&self) -> &PsbtReview {
        &self.review
    }

    pub fn wallet(&self) -> &str {
        &self.wallet
    }

    /// The full paths below this signer's master key that will sign.
    pub fn key_paths(&self) -> &BTreeSet<DerivationPath> {
        &self.key_paths
    }

    /// Gives the checked PSBT back, dropping the plan (the benchmark signs it with its
    /// own key; the signer itself only signs through a reservation).
    pub fn into_psbt(self) -> Psbt {
        self.psbt
    }
}

fn full_path(origin: &DerivationPath, branch: Branch, index: u32) -> DerivationPath {
    origin
        .extend([ChildNumber::Normal {
            index: branch.number(),
        }])
        .extend([ChildNumber::Normal { index }])
}

fn path_list(paths: &[DerivationPath]) -> String {
    paths
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Checks, for every input of the inspected PSBT, which of this signer's keys (master
/// fingerprint `own`) signs it and what the signature commits to; see the module
/// documentation. `wallet_name` is the name the wallet is registered under.
pub fn plan(
    inspected: InspectedPsbt,
    wallet_name: &str,
    own: Fingerprint,
) -> Result<SigningPlan, SigningRefusal> {
    let (psbt, wallet_descriptor, review) = inspected.into_parts();
    plan_parts(psbt, wallet_name, &wallet_descriptor, review, own)
}

/// [`plan`] on the parts of an inspection. Private: a review and a PSBT are only known
/// to belong together inside an [`InspectedPsbt`] (the tests hand it tampered PSBTs to
/// test the plan as a second line of defence).
fn plan_parts(
    mut psbt: Psbt,
    wallet_name: &str,
    wallet_descriptor: &WalletDescriptor,
    review: PsbtReview,
    own: Fingerprint,
) -> Result<SigningPlan, SigningRefusal> {
    // This signer's keys in the wallet: (position in descriptor order, origin path).
    let own_keys: Vec<(usize, DerivationPath)> = wallet_descriptor
        .keys()
        .into_iter()
        .enumerate()
        .filter(|(_, k)| k.fingerprint == own)
        .map(|(position, k)| (position, k.origin_path))
        .collect();
    let taproot = matches!(wallet_descriptor.kind(), WalletKind::TrSingle);
    let mut key_paths = BTreeSet::new();
    if review.inputs().len() != psbt.inputs.len() {
        return Err(SigningRefusal::Inconsistent {
            index: 0,
            reason: "input count".to_owned(),
        });
    }
    for owned in review.inputs() {
        let index = owned.index;
        let inconsistent = |reason: &str| SigningRefusal::Inconsistent {
            index,
            reason: reason.to_owned(),
        };
        let expected: Vec<DerivationPath> = own_keys
            .iter()
            .map(|(_, origin)| full_path(origin, owned.branch, owned.derivation_index))
            .collect();
        let spent_script: ScriptBuf = psbt
            .spend_utxo(index)
            .map_err(|_| inconsistent("no previous output"))?
            .script_pubkey
            .clone();
        let input = psbt
            .inputs
            .get_mut(index)
            .ok_or_else(|| inconsistent("input index"))?;
        // Each claim of this signer: its path, and what else it asserts (for taproot, the
        // kind of signature; for segwit v0, the public key it labels).
        let claimed: Vec<(DerivationPath, Claim)> = if taproot {
            input
                .tap_key_origins
                .iter()
                .filter(|(_, (_, (fp, _)))| *fp == own)
                .map(|(xonly, (leaves, (_, path)))| {
                    let claim = if !leaves.is_empty() {
                        TaprootClaim::ScriptPath
                    } else if input.tap_internal_key != Some(*xonly) {
                        TaprootClaim::NotTheInternalKey
                    } else {
                        TaprootClaim::KeyPath
                    };
                    (path.clone(), Claim::Taproot(claim))
                })
                .collect()
        } else {
            input
                .bip32_derivation
                .iter()
                .filter(|(_, (fp, _))| *fp == own)
                .map(|(key, (_, path))| (path.clone(), Claim::PublicKey(*key)))
                .collect()
        };
        if claimed.is_empty() {
            return Err(SigningRefusal::NoKeyPath {
                index,
                fingerprint: own,
            });
        }
        for (path, claim) in claimed {
            let Some(which) = expected.iter().position(|p| *p == path) else {
                return Err(SigningRefusal::UnexpectedKeyPath {
                    index,
                    path: path.to_string(),
                    expected: path_list(&expected),
                });
            };
            match claim {
                Claim::Taproot(TaprootClaim::ScriptPath) => {
                    return Err(SigningRefusal::TaprootScriptPath { index })
                }
                Claim::Taproot(TaprootClaim::NotTheInternalKey) => {
                    return Err(SigningRefusal::WrongInternalKey { index })
                }
                Claim::Taproot(TaprootClaim::KeyPath) => {}
                // Signing labels its signature with this key without computing it again,
                // so it must be the key inspection derived for this signer's position.
                Claim::PublicKey(claimed) => {
                    let derived = *owned
                        .keys
                        .get(own_keys[which].0)
                        .ok_or_else(|| inconsistent("the wallet's keys at this input"))?;
                    if claimed != derived {
                        return Err(SigningRefusal::WrongPublicKey {
                            index,
                            path: path.to_string(),
                            claimed: claimed.to_string(),
                            derived: derived.to_string(),
                        });
                    }
                }
            }
            key_paths.insert(path);
        }
        if taproot {
            // The key-path signature is made with the key at the planned path, tweaked by
            // the merkle root: with no root it is exactly the wallet's output key, which
            // inspection derived and compared with the spent script. (The PSBT's internal
            // key only decides whether the library signs at all, checked above.)
            if input.tap_merkle_root.is_some() {
                return Err(SigningRefusal::TaprootScriptPath { index });
            }
            // A key-path signature already present (say, from an earlier signing of this
            // same transaction) would make the signer skip the input; it is replaced.
            input.tap_key_sig = None;
        } else if matches!(wallet_descriptor.kind(), WalletKind::WshSortedMulti { .. }) {
            let script = input
                .witness_script
                .as_ref()
                .ok_or(SigningRefusal::WrongWitnessScript { index })?;
            if ScriptBuf::new_p2wsh(&script.wscript_hash()) != spent_script {
                return Err(SigningRefusal::WrongWitnessScript { index });
            }
        }
    }
    Ok(SigningPlan {
        psbt,
        review,
        wallet: wallet_name.to_owned(),
        fingerprint: own,
        key_paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::bip32::Fingerprint;
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, Network, TapNodeHash};
    use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};
    use std::str::FromStr;

    fn fixtures() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Core's unsigned PSBT for `wallet`, its descriptor, and signer A's fingerprint.
    fn core_psbt(wallet: &str) -> (Psbt, WalletDescriptor, Fingerprint) {
        let fx = fixtures();
        let w = &fx["wallets"][wallet];
        let descriptor = WalletDescriptor::parse(
            w["descriptor_receive"].as_str().unwrap(),
            Some(w["descriptor_change"].as_str().unwrap()),
        )
        .unwrap();
        let psbt = Psbt::from_str(w["unsigned_psbt"].as_str().unwrap()).unwrap();
        let fingerprint = Fingerprint::from_str(fx["keys"]["A"]["fingerprint"].as_str().unwrap()).unwrap();
        (psbt, descriptor, fingerprint)
    }

    fn test_policy() -> InspectionPolicy {
        InspectionPolicy {
            network: Network::Regtest,
            max_fee: Amount::from_sat(100_000),
            change_bound: ChangeIndexBound::with_default_gap(None),
        }
    }

    fn plan_for(
        psbt: Psbt,
        wallet: &WalletDescriptor,
        own: Fingerprint,
    ) -> Result<SigningPlan, SigningRefusal> {
        let policy = test_policy();
        let inspected = inspect_psbt(&psbt, wallet, &policy).expect("inspection passes");
        plan(inspected, "w", own)
    }

    /// The plan is a second line of defence: inspection already refuses most PSBTs whose
    /// script hints disagree with the wallet. To test the plan on its own, review the
    /// untouched PSBT, then hand the plan the tampered one.
    fn plan_behind_inspection(
        original: &Psbt,
        tampered: Psbt,
        wallet: &WalletDescriptor,
        own: Fingerprint,
    ) -> Result<SigningPlan, SigningRefusal> {
        let policy = test_policy();
        let inspected = inspect_psbt(original, wallet, &policy).expect("the untouched PSBT passes");
        let (_, _, review) = inspected.into_parts();
        plan_parts(tampered, "w", wallet, review, own)
    }

    #[test]
    fn cores_psbts_plan_one_key_path_per_input() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let (psbt, wallet, own) = core_psbt(name);
            let inputs = psbt.inputs.len();
            let plan = plan_for(psbt, &wallet, own).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!plan.key_paths().is_empty() && plan.key_paths().len() <= inputs);
            for path in plan.key_paths() {
                assert!(path.to_string().starts_with("84'/1'/0'/"), "{name}: {path}");
            }
        }
    }

    #[test]
    fn an_extra_or_missing_key_path_for_this_signer_is_refused() {
        let (mut psbt, wallet, own) = core_psbt("wsh_2of3");
        let pk = psbt.inputs[0]
            .bip32_derivation
            .iter()
            .find(|(_, (fp, _))| *fp == own)
            .map(|(pk, _)| *pk)
            .unwrap();
        // A second claim of this signer's fingerprint at a path the wallet does not use
        // there (entries are keyed by pubkey: it takes a cosigner's slot).
        let other_pk = *psbt.inputs[0]
            .bip32_derivation
            .keys()
            .find(|k| **k != pk)
            .unwrap();
        let mut tampered = psbt.clone();
        let foreign = DerivationPath::from_str("m/84'/1'/0'/0/999").unwrap();
        tampered.inputs[0]
            .bip32_derivation
            .insert(other_pk, (own, foreign));
        assert!(matches!(
            plan_for(tampered, &wallet, own),
            Err(SigningRefusal::UnexpectedKeyPath { index: 0, .. })
        ));
        psbt.inputs[0].bip32_derivation.remove(&pk);
        assert!(matches!(
            plan_for(psbt, &wallet, own),
            Err(SigningRefusal::NoKeyPath { index: 0, .. })
        ));
    }

    /// Signing stores its signature under the public key this signer's key path names
    /// (it does not compute it again): a PSBT that names another key there (here the
    /// cosigners' keys swapped with this signer's, which inspection does not read) is
    /// refused, so a signature is never filed under a key that did not make it.
    #[test]
    fn a_public_key_for_this_signers_path_other_than_the_wallets_is_refused() {
        let (psbt, wallet, own) = core_psbt("wsh_2of3");
        let derivation = &psbt.inputs[0].bip32_derivation;
        let (own_key, own_origin) = derivation
            .iter()
            .find(|(_, (fp, _))| *fp == own)
            .map(|(key, origin)| (*key, origin.clone()))
            .unwrap();
        let (cosigner_key, cosigner_origin) = derivation
            .iter()
            .find(|(_, (fp, _))| *fp != own)
            .map(|(key, origin)| (*key, origin.clone()))
            .unwrap();
        let mut swapped = psbt.clone();
        swapped.inputs[0]
            .bip32_derivation
            .insert(own_key, cosigner_origin);
        swapped.inputs[0]
            .bip32_derivation
            .insert(cosigner_key, own_origin.clone());
        match plan_for(swapped, &wallet, own) {
            Err(SigningRefusal::WrongPublicKey {
                index: 0,
                claimed,
                derived,
                ..
            }) => assert_eq!(
                (claimed, derived),
                (cosigner_key.to_string(), own_key.to_string())
            ),
            other => panic!("expected WrongPublicKey for input 0, got {other:?}"),
        }
        // A key that is nobody's in the wallet, in this signer's own entry.
        let stranger = bitcoin::secp256k1::SecretKey::from_slice(&[7u8; 32])
            .unwrap()
            .public_key(&bitcoin::secp256k1::Secp256k1::new());
        let mut replaced = psbt.clone();
        replaced.inputs[0].bip32_derivation.remove(&own_key);
        replaced.inputs[0].bip32_derivation.insert(stranger, own_origin);
        assert!(matches!(
            plan_for(replaced, &wallet, own),
            Err(SigningRefusal::WrongPublicKey { index: 0, .. })
        ));
        plan_for(psbt, &wallet, own).expect("the untouched PSBT is planned");
    }

    #[test]
    fn a_witness_script_other_than_the_spent_one_is_refused() {
        let (original, wallet, own) = core_psbt("wsh_2of3");
        let mut psbt = original.clone();
        let mut script = psbt.inputs[0].witness_script.clone().unwrap().into_bytes();
        script[0] = bitcoin::opcodes::all::OP_PUSHNUM_1.to_u8(); // 1-of-3 instead of 2-of-3
        psbt.inputs[0].witness_script = Some(ScriptBuf::from_bytes(script));
        assert_eq!(
            plan_behind_inspection(&original, psbt, &wallet, own).unwrap_err(),
            SigningRefusal::WrongWitnessScript { index: 0 }
        );
    }

    #[test]
    fn taproot_tweaks_leaves_and_internal_keys_must_be_the_wallets() {
        let (psbt, wallet, own) = core_psbt("tr_single");
        let mut tweaked = psbt.clone();
        tweaked.inputs[0].tap_merkle_root = Some(TapNodeHash::from_byte_array([7; 32]));
        assert_eq!(
            plan_behind_inspection(&psbt, tweaked, &wallet, own).unwrap_err(),
            SigningRefusal::TaprootScriptPath { index: 0 }
        );
        let mut leaf = psbt.clone();
        for (leaves, _) in leaf.inputs[0].tap_key_origins.values_mut() {
            leaves.push(bitcoin::TapLeafHash::from_byte_array([9; 32]));
        }
        assert_eq!(
            plan_behind_inspection(&psbt, leaf, &wallet, own).unwrap_err(),
            SigningRefusal::TaprootScriptPath { index: 0 }
        );
        let mut other_key = psbt.clone();
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let stranger = bitcoin::secp256k1::Keypair::from_seckey_slice(&secp, &[5; 32]).unwrap();
        other_key.inputs[0].tap_internal_key = Some(stranger.x_only_public_key().0);
        assert_eq!(
            plan_behind_inspection(&psbt, other_key, &wallet, own).unwrap_err(),
            SigningRefusal::WrongInternalKey { index: 0 }
        );
        let mut unset = psbt.clone();
        unset.inputs[0].tap_internal_key = None;
        assert_eq!(
            plan_behind_inspection(&psbt, unset, &wallet, own).unwrap_err(),
            SigningRefusal::WrongInternalKey { index: 0 }
        );
    }
}
