//! Wallet output descriptors: `wpkh(...)`, `wsh(sortedmulti(M, ...))` and single-key
//! `tr(...)`, each with a receive branch (`/0/*`) and a change branch (`/1/*`).
//!
//! A wallet is accepted only in a shape a signer can check completely: every key is an
//! account xpub with its origin (`[fingerprint/path]xpub/BRANCH/*`), so that derivation
//! claims in a PSBT can be turned into a script the signer derives itself and compares.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::OnceLock;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::secp256k1::{Secp256k1, VerifyOnly};
use bitcoin::{Address, Network, NetworkKind, ScriptBuf};
use miniscript::descriptor::{
    DefiniteDescriptorKey, Descriptor, DescriptorPublicKey, DescriptorType, DescriptorXKey, Wildcard,
    WshInner,
};
use miniscript::{translate_hash_clone, Threshold, Translator};
use sha2::{Digest, Sha256};

use crate::network::network_name;

/// A verification-only secp256k1 context shared by all derivations. It holds no secret and
/// no randomness, so sharing it is safe; building one per call would only cost time.
pub(crate) fn secp() -> &'static Secp256k1<VerifyOnly> {
    static SECP: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
    SECP.get_or_init(Secp256k1::verification_only)
}

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

    /// The branch with this number, if it is one of ours (0 or 1).
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
    /// Segwit v0 wallets (wpkh, wsh) sign over one input's amount only, so their inputs need
    /// the full previous transaction to prove amounts; taproot commits to all amounts.
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

impl CosignerKey {
    /// If `path` (a full path from the owner's master key, as in a PSBT's derivation claim)
    /// is `origin_path/BRANCH/INDEX` with BRANCH 0 or 1 and INDEX unhardened, returns them.
    pub fn branch_and_index(&self, path: &DerivationPath) -> Option<(Branch, u32)> {
        let origin: &[ChildNumber] = self.origin_path.as_ref();
        let full: &[ChildNumber] = path.as_ref();
        match full.strip_prefix(origin)? {
            [ChildNumber::Normal { index: branch }, ChildNumber::Normal { index }] => {
                Some((Branch::from_number(*branch)?, *index))
            }
            _ => None,
        }
    }
}

/// A wallet as a pair of descriptors: receive (`/0/*`) and change (`/1/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletDescriptor {
    receive: Descriptor<DescriptorPublicKey>,
    change: Descriptor<DescriptorPublicKey>,
    /// The same two descriptors with every key replaced by its branch-level xpub (origin
    /// extended by the branch), so that deriving an address costs one BIP32 step per key
    /// instead of two. Scripts are identical by construction; a test checks it.
    receive_at_branch: Descriptor<DescriptorPublicKey>,
    change_at_branch: Descriptor<DescriptorPublicKey>,
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
    #[error(
        "the same key appears twice in the wallet, so it has fewer independent cosigners than it says: {0}"
    )]
    DuplicateKey(String),
}

impl WalletDescriptor {
    /// Parses either one multipath descriptor (`.../<0;1>/*`) with `change = None`, or a
    /// receive descriptor (`/0/*`) and its change descriptor (`/1/*`). Checksums are
    /// checked when present. Every key must carry its origin and be ranged.
    pub fn parse(receive_or_multipath: &str, change: Option<&str>) -> Result<Self, DescriptorError> {
        let first = parse_one(receive_or_multipath)?;
        let (receive, change) = match change {
            None => {
                if !first.is_multipath() {
                    return Err(DescriptorError::Parse(
                        "a single descriptor must be multipath (KEY/<0;1>/*); otherwise give the change descriptor (KEY/1/*) too"
                            .to_owned(),
                    ));
                }
                let mut parts = first
                    .into_single_descriptors()
                    .map_err(|e| DescriptorError::Parse(e.to_string()))?;
                if parts.len() != 2 {
                    return Err(DescriptorError::Parse(format!(
                        "a multipath wallet descriptor has exactly two branches, <0;1>; this one has {}",
                        parts.len()
                    )));
                }
                let change = parts.pop();
                let receive = parts.pop();
                match (receive, change) {
                    (Some(r), Some(c)) => (r, c),
                    _ => return Err(DescriptorError::Parse("multipath split failed".to_owned())),
                }
            }
            Some(change) => {
                let second = parse_one(change)?;
                if first.is_multipath() || second.is_multipath() {
                    return Err(DescriptorError::Parse(
                        "give either one multipath descriptor (<0;1>) or a receive and a change descriptor, not both forms"
                            .to_owned(),
                    ));
                }
                (first, second)
            }
        };

        check_shape(&receive)?;
        check_shape(&change)?;
        check_keys(&receive, Branch::Receive)?;
        check_keys(&change, Branch::Change)?;

        let receive_account = at_account(&receive)?;
        let change_account = at_account(&change)?;
        if receive_account != change_account {
            return Err(DescriptorError::BranchesDisagree(format!(
                "receive is {receive_account}, change is {change_account} (after removing /0/* and /1/*)"
            )));
        }

        let receive_at_branch = at_branch(&receive)?;
        let change_at_branch = at_branch(&change)?;
        Ok(WalletDescriptor {
            receive,
            change,
            receive_at_branch,
            change_at_branch,
        })
    }

    pub fn kind(&self) -> WalletKind {
        match &self.receive {
            Descriptor::Wsh(wsh) => match wsh.as_inner() {
                WshInner::SortedMulti(multi) => WalletKind::WshSortedMulti {
                    threshold: multi.k(),
                    keys: multi.n(),
                },
                // `parse` accepts no other wsh form.
                WshInner::Ms(_) => WalletKind::WshSortedMulti {
                    threshold: 0,
                    keys: 0,
                },
            },
            Descriptor::Tr(_) => WalletKind::TrSingle,
            _ => WalletKind::Wpkh,
        }
    }

    pub fn receive(&self) -> &Descriptor<DescriptorPublicKey> {
        &self.receive
    }

    pub fn change(&self) -> &Descriptor<DescriptorPublicKey> {
        &self.change
    }

    /// The cosigner keys, in descriptor order.
    pub fn keys(&self) -> Vec<CosignerKey> {
        self.receive
            .iter_pk()
            .filter_map(|key| match key {
                DescriptorPublicKey::XPub(x) => x.origin.as_ref().map(|(fingerprint, path)| CosignerKey {
                    fingerprint: *fingerprint,
                    origin_path: path.clone(),
                    xpub: x.xkey,
                }),
                // `parse` accepts only xpubs with origins.
                _ => None,
            })
            .collect()
    }

    /// Fails unless every key is for `network` (xpub for mainnet, tpub otherwise).
    pub fn check_network(&self, network: Network) -> Result<(), DescriptorError> {
        let expected = NetworkKind::from(network);
        for key in self.keys() {
            if key.xpub.network != expected {
                return Err(DescriptorError::WrongNetwork {
                    expected: network_name(network).to_owned(),
                    found: network_kind_name(key.xpub.network).to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The descriptor of the single address at `branch/index`, keys still carrying their
    /// origins (what a PSBT updater needs to write derivation paths).
    pub fn definite_descriptor(
        &self,
        branch: Branch,
        index: u32,
    ) -> Result<Descriptor<DefiniteDescriptorKey>, DescriptorError> {
        let ranged = match branch {
            Branch::Receive => &self.receive_at_branch,
            Branch::Change => &self.change_at_branch,
        };
        ranged
            .at_derivation_index(index)
            .map_err(|e| DescriptorError::Derivation {
                index,
                reason: e.to_string(),
            })
    }

    /// The script at `branch/index`.
    pub fn script_pubkey(&self, branch: Branch, index: u32) -> Result<ScriptBuf, DescriptorError> {
        Ok(self
            .definite_descriptor(branch, index)?
            .derived_descriptor(secp())
            .script_pubkey())
    }

    /// The address at `branch/index` on `network`.
    pub fn address(&self, branch: Branch, index: u32, network: Network) -> Result<Address, DescriptorError> {
        self.check_network(network)?;
        self.definite_descriptor(branch, index)?
            .derived_descriptor(secp())
            .address(network)
            .map_err(|e| DescriptorError::Derivation {
                index,
                reason: e.to_string(),
            })
    }

    /// A stable identifier of the wallet (hex of a hash of both descriptors' canonical
    /// strings), to name the same wallet on coordinator and signer.
    ///
    /// Canonical means: miniscript's own printing (so `h` vs `'` and a present or absent
    /// checksum do not matter) without checksum, and for `sortedmulti` the keys in sorted
    /// order, since key order does not change a single script.
    pub fn wallet_id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"sluice wallet id v1\n");
        hasher.update(canonical_string(&self.receive).as_bytes());
        hasher.update(b"\n");
        hasher.update(canonical_string(&self.change).as_bytes());
        hex::encode(hasher.finalize())
    }

    /// The (branch, index) a derivation claim `(fingerprint, path)` points at, if it names
    /// one of this wallet's keys on branch 0 or 1. A claim is only a hint: callers must
    /// derive the script at the returned position and compare.
    pub fn claimed_position(&self, fingerprint: Fingerprint, path: &DerivationPath) -> Option<(Branch, u32)> {
        self.keys()
            .iter()
            .filter(|key| key.fingerprint == fingerprint)
            .find_map(|key| key.branch_and_index(path))
    }
}

fn network_kind_name(kind: NetworkKind) -> &'static str {
    match kind {
        NetworkKind::Main => "mainnet (xpub)",
        NetworkKind::Test => "testnet/signet/regtest (tpub)",
    }
}

fn parse_one(text: &str) -> Result<Descriptor<DescriptorPublicKey>, DescriptorError> {
    Descriptor::<DescriptorPublicKey>::from_str(text.trim())
        .map_err(|e| DescriptorError::Parse(e.to_string()))
}

/// Accepts only `wpkh(K)`, `wsh(sortedmulti(M, K...))` and `tr(K)` without a script tree.
fn check_shape(descriptor: &Descriptor<DescriptorPublicKey>) -> Result<(), DescriptorError> {
    match descriptor.desc_type() {
        DescriptorType::Wpkh | DescriptorType::WshSortedMulti => Ok(()),
        DescriptorType::Tr if descriptor.tap_tree().is_none() => Ok(()),
        DescriptorType::Tr => Err(DescriptorError::Unsupported(
            "tr(...) with a script tree".to_owned(),
        )),
        other => Err(DescriptorError::Unsupported(format!("{other:?}"))),
    }
}

/// Every key must be `[fingerprint/path]xpub/BRANCH/*` with an unhardened wildcard, a
/// depth that agrees with its origin path, and no key may repeat.
fn check_keys(descriptor: &Descriptor<DescriptorPublicKey>, branch: Branch) -> Result<(), DescriptorError> {
    let mut seen = BTreeSet::new();
    let mut network = None;
    for key in descriptor.iter_pk() {
        let xkey = match key {
            DescriptorPublicKey::XPub(ref x) => x,
            other => {
                return Err(DescriptorError::MissingOrigin(format!(
                    "{other} is not an extended public key with a /BRANCH/* derivation"
                )))
            }
        };
        let Some((fingerprint, origin_path)) = &xkey.origin else {
            return Err(DescriptorError::MissingOrigin(key.to_string()));
        };
        if usize::from(xkey.xkey.depth) != origin_path.len() {
            return Err(DescriptorError::MissingOrigin(format!(
                "{key}: the origin path has {} steps but the xpub is at depth {}",
                origin_path.len(),
                xkey.xkey.depth
            )));
        }
        crate::extended_key::check_xpub(&xkey.xkey)
            .map_err(|e| DescriptorError::Parse(format!("{key}: {e}")))?;
        if xkey.xkey.depth == 0 && xkey.xkey.fingerprint() != *fingerprint {
            return Err(DescriptorError::MissingOrigin(format!(
                "{key}: a master xpub's origin fingerprint must be its own ({})",
                xkey.xkey.fingerprint()
            )));
        }
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
        if !seen.insert(xkey.xkey.public_key) {
            return Err(DescriptorError::DuplicateKey(key.to_string()));
        }
        match network {
            None => network = Some(xkey.xkey.network),
            Some(n) if n != xkey.xkey.network => {
                return Err(DescriptorError::Parse(
                    "the descriptor mixes mainnet (xpub) and test network (tpub) keys".to_owned(),
                ))
            }
            Some(_) => {}
        }
    }
    if seen.is_empty() {
        return Err(DescriptorError::MissingOrigin(
            "the descriptor has no keys".to_owned(),
        ));
    }
    Ok(())
}

/// Rewrites each key of a checked descriptor with a per-key function.
struct KeyRewriter<F>(F);

impl<F> Translator<DescriptorPublicKey> for KeyRewriter<F>
where
    F: FnMut(&DescriptorXKey<Xpub>) -> Result<DescriptorXKey<Xpub>, DescriptorError>,
{
    type TargetPk = DescriptorPublicKey;
    type Error = DescriptorError;

    fn pk(&mut self, pk: &DescriptorPublicKey) -> Result<DescriptorPublicKey, DescriptorError> {
        match pk {
            DescriptorPublicKey::XPub(x) => Ok(DescriptorPublicKey::XPub((self.0)(x)?)),
            other => Err(DescriptorError::MissingOrigin(other.to_string())),
        }
    }

    translate_hash_clone!(DescriptorPublicKey);
}

fn rewrite_keys<F>(
    descriptor: &Descriptor<DescriptorPublicKey>,
    f: F,
) -> Result<Descriptor<DescriptorPublicKey>, DescriptorError>
where
    F: FnMut(&DescriptorXKey<Xpub>) -> Result<DescriptorXKey<Xpub>, DescriptorError>,
{
    descriptor.translate_pk(&mut KeyRewriter(f)).map_err(|e| match e {
        miniscript::TranslateErr::TranslatorErr(err) => err,
        miniscript::TranslateErr::OuterError(err) => DescriptorError::Parse(err.to_string()),
    })
}

/// The descriptor with the branch step removed, to compare receive and change.
fn at_account(
    descriptor: &Descriptor<DescriptorPublicKey>,
) -> Result<Descriptor<DescriptorPublicKey>, DescriptorError> {
    rewrite_keys(descriptor, |x| {
        Ok(DescriptorXKey {
            origin: x.origin.clone(),
            xkey: x.xkey,
            derivation_path: DerivationPath::master(),
            wildcard: x.wildcard,
        })
    })
}

/// The descriptor with each key's branch step already applied (see `receive_at_branch`).
fn at_branch(
    descriptor: &Descriptor<DescriptorPublicKey>,
) -> Result<Descriptor<DescriptorPublicKey>, DescriptorError> {
    rewrite_keys(descriptor, |x| {
        let branch_xpub = x
            .xkey
            .derive_pub(secp(), &x.derivation_path)
            .map_err(|e| DescriptorError::Parse(format!("cannot derive the branch key: {e}")))?;
        let origin = x
            .origin
            .as_ref()
            .map(|(fingerprint, path)| (*fingerprint, path.extend(&x.derivation_path)));
        Ok(DescriptorXKey {
            origin,
            xkey: branch_xpub,
            derivation_path: DerivationPath::master(),
            wildcard: x.wildcard,
        })
    })
}

fn canonical_string(descriptor: &Descriptor<DescriptorPublicKey>) -> String {
    if let Descriptor::Wsh(wsh) = descriptor {
        if let WshInner::SortedMulti(multi) = wsh.as_inner() {
            let mut keys = multi.pks().to_vec();
            keys.sort_by_key(|k| k.to_string());
            // Rebuilding from an already valid sortedmulti cannot fail; if it ever did, the
            // unsorted form still names the wallet, just order-sensitively.
            if let Ok(Ok(sorted)) = Threshold::new(multi.k(), keys).map(Descriptor::new_wsh_sortedmulti) {
                return format!("{sorted:#}");
            }
        }
    }
    format!("{descriptor:#}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::psbt::Psbt;

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    ));

    fn fixtures() -> serde_json::Value {
        serde_json::from_str(FIXTURES).unwrap()
    }

    fn fixture_wallet(name: &str) -> (WalletDescriptor, serde_json::Value) {
        let all = fixtures();
        let w = all["wallets"][name].clone();
        let wallet = WalletDescriptor::parse(
            w["descriptor_receive"].as_str().unwrap(),
            Some(w["descriptor_change"].as_str().unwrap()),
        )
        .unwrap();
        (wallet, w)
    }

    /// The multipath form of a receive descriptor: `/0/*` becomes `/<0;1>/*`, checksum dropped.
    fn multipath_of(receive: &str) -> String {
        let body = receive.split('#').next().unwrap();
        body.replace("/0/*", "/<0;1>/*")
    }

    #[test]
    fn fixture_wallets_parse_with_their_kind_and_keys() {
        let (wpkh, _) = fixture_wallet("wpkh_single");
        assert_eq!(wpkh.kind(), WalletKind::Wpkh);
        let (wsh, _) = fixture_wallet("wsh_2of3");
        assert_eq!(
            wsh.kind(),
            WalletKind::WshSortedMulti {
                threshold: 2,
                keys: 3
            }
        );
        let (tr, _) = fixture_wallet("tr_single");
        assert_eq!(tr.kind(), WalletKind::TrSingle);

        let keys = wsh.keys();
        let fingerprints: Vec<String> = keys.iter().map(|k| k.fingerprint.to_string()).collect();
        assert_eq!(fingerprints, ["1bbaa5fe", "72408740", "3429876a"]);
        let all = fixtures();
        for key in &keys {
            assert_eq!(key.origin_path.to_string(), "84'/1'/0'");
            let name = match key.fingerprint.to_string().as_str() {
                "1bbaa5fe" => "A",
                "72408740" => "B",
                _ => "C",
            };
            assert_eq!(
                key.xpub.to_string(),
                all["keys"][name]["account_tpub"].as_str().unwrap()
            );
        }
        for wallet in [&wpkh, &wsh, &tr] {
            wallet.check_network(Network::Regtest).unwrap();
            wallet.check_network(Network::Testnet).unwrap();
            assert!(matches!(
                wallet.check_network(Network::Bitcoin),
                Err(DescriptorError::WrongNetwork { .. })
            ));
        }
    }

    /// Every address Core put in the fixture PSBTs (inputs it spends, change it made) is
    /// one we derive at the path Core claims for it.
    #[test]
    fn derived_addresses_match_core() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let (wallet, w) = fixture_wallet(name);
            let decoded = &w["decodepsbt"];
            let psbt: Psbt = w["unsigned_psbt"].as_str().unwrap().parse().unwrap();
            let mut checked = 0;
            let mut check = |claims: &serde_json::Value, spk_hex: &str| {
                let path_text = claims[0]["path"].as_str().unwrap();
                let path = DerivationPath::from_str(path_text).unwrap();
                let fingerprint =
                    Fingerprint::from_str(claims[0]["master_fingerprint"].as_str().unwrap()).unwrap();
                let (branch, index) = wallet.claimed_position(fingerprint, &path).unwrap();
                let spk = wallet.script_pubkey(branch, index).unwrap();
                assert_eq!(hex::encode(spk.as_bytes()), spk_hex, "{name} {path_text}");
                let address = wallet.address(branch, index, Network::Regtest).unwrap();
                assert_eq!(address.script_pubkey(), spk);
                checked += 1;
            };
            for input in decoded["inputs"].as_array().unwrap() {
                let claims = if name == "tr_single" {
                    &input["taproot_bip32_derivs"]
                } else {
                    &input["bip32_derivs"]
                };
                check(
                    claims,
                    input["witness_utxo"]["scriptPubKey"]["hex"].as_str().unwrap(),
                );
            }
            for (vout, output) in decoded["outputs"].as_array().unwrap().iter().enumerate() {
                let claims = if name == "tr_single" {
                    &output["taproot_bip32_derivs"]
                } else {
                    &output["bip32_derivs"]
                };
                if claims.is_array() {
                    let spk = hex::encode(psbt.unsigned_tx.output[vout].script_pubkey.as_bytes());
                    check(claims, &spk);
                }
            }
            assert!(checked >= 3, "{name}: two inputs and a change output");
        }
    }

    #[test]
    fn branch_level_cache_derives_the_same_scripts_as_the_descriptor() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let (wallet, _) = fixture_wallet(name);
            for (branch, descriptor) in [
                (Branch::Receive, wallet.receive()),
                (Branch::Change, wallet.change()),
            ] {
                for index in [0, 1, 7, 1000, (1 << 31) - 1] {
                    let direct = descriptor
                        .derived_descriptor(secp(), index)
                        .unwrap()
                        .script_pubkey();
                    assert_eq!(wallet.script_pubkey(branch, index).unwrap(), direct);
                }
            }
            assert!(matches!(
                wallet.script_pubkey(Branch::Receive, 1 << 31),
                Err(DescriptorError::Derivation { .. })
            ));
        }
    }

    #[test]
    fn multipath_form_is_the_same_wallet() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let (pair, w) = fixture_wallet(name);
            let multipath = multipath_of(w["descriptor_receive"].as_str().unwrap());
            let single = WalletDescriptor::parse(&multipath, None).unwrap();
            assert_eq!(single, pair);
            assert_eq!(single.wallet_id(), pair.wallet_id());
            assert_eq!(single.wallet_id().len(), 64);
        }
    }

    #[test]
    fn wallet_id_ignores_checksum_hardened_marker_and_sortedmulti_key_order() {
        let (wallet, w) = fixture_wallet("wsh_2of3");
        let receive = w["descriptor_receive"].as_str().unwrap();
        let change = w["descriptor_change"].as_str().unwrap();
        let strip = |d: &str| {
            d.split('#')
                .next()
                .unwrap()
                .replace("h/", "'/")
                .replace("h]", "']")
        };
        let again = WalletDescriptor::parse(&strip(receive), Some(&strip(change))).unwrap();
        assert_eq!(again.wallet_id(), wallet.wallet_id());

        // sortedmulti(2,A,B,C) and sortedmulti(2,C,A,B) give the same scripts: same wallet.
        let rotate = |d: &str| {
            let body = d.split('#').next().unwrap();
            let inner = body
                .strip_prefix("wsh(sortedmulti(2,")
                .unwrap()
                .strip_suffix("))")
                .unwrap();
            let keys: Vec<&str> = inner.split(',').collect();
            format!("wsh(sortedmulti(2,{},{},{}))", keys[2], keys[0], keys[1])
        };
        let rotated = WalletDescriptor::parse(&rotate(receive), Some(&rotate(change))).unwrap();
        assert_eq!(rotated.wallet_id(), wallet.wallet_id());
        assert_eq!(
            rotated.script_pubkey(Branch::Change, 3).unwrap(),
            wallet.script_pubkey(Branch::Change, 3).unwrap()
        );

        let (other, _) = fixture_wallet("wpkh_single");
        assert_ne!(other.wallet_id(), wallet.wallet_id());
        let (tr, _) = fixture_wallet("tr_single");
        assert_ne!(other.wallet_id(), tr.wallet_id());
    }

    #[test]
    fn bad_checksum_is_refused() {
        let (_, w) = fixture_wallet("wpkh_single");
        let receive = w["descriptor_receive"].as_str().unwrap();
        let change = w["descriptor_change"].as_str().unwrap();
        let mut broken = receive.to_owned();
        let last = broken.pop().unwrap();
        broken.push(if last == 'q' { 'p' } else { 'q' });
        assert!(matches!(
            WalletDescriptor::parse(&broken, Some(change)),
            Err(DescriptorError::Parse(_))
        ));
    }

    const A: &str = "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
    const B: &str = "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";
    const B_NO_ORIGIN: &str = "tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";

    fn parse_pair(receive: &str, change: &str) -> Result<WalletDescriptor, DescriptorError> {
        WalletDescriptor::parse(receive, Some(change))
    }

    #[test]
    fn refuses_unsupported_shapes() {
        let unsupported = [
            format!("pkh({A}/<0;1>/*)"),
            format!("sh(wpkh({A}/<0;1>/*))"),
            format!("wsh(multi(1,{A}/<0;1>/*,{B}/<0;1>/*))"),
            format!("sh(sortedmulti(1,{A}/<0;1>/*,{B}/<0;1>/*))"),
            format!("tr({A}/<0;1>/*,pk({B}/<0;1>/*))"),
        ];
        for text in &unsupported {
            assert!(
                matches!(
                    WalletDescriptor::parse(text, None),
                    Err(DescriptorError::Unsupported(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_keys_without_origin_range_or_right_branch() {
        assert!(matches!(
            WalletDescriptor::parse(
                &format!("wsh(sortedmulti(1,{A}/<0;1>/*,{B_NO_ORIGIN}/<0;1>/*))"),
                None
            ),
            Err(DescriptorError::MissingOrigin(_))
        ));
        assert!(matches!(
            parse_pair(&format!("wpkh({A}/0/5)"), &format!("wpkh({A}/1/5)")),
            Err(DescriptorError::WrongBranch { .. })
        ));
        assert!(matches!(
            parse_pair(&format!("wpkh({A}/0/*h)"), &format!("wpkh({A}/1/*h)")),
            Err(DescriptorError::WrongBranch { .. })
        ));
        assert!(matches!(
            parse_pair(&format!("wpkh({A}/*)"), &format!("wpkh({A}/*)")),
            Err(DescriptorError::WrongBranch { .. })
        ));
        assert!(matches!(
            parse_pair(&format!("wpkh({A}/1/*)"), &format!("wpkh({A}/0/*)")),
            Err(DescriptorError::WrongBranch {
                branch: "receive",
                ..
            })
        ));
        assert!(matches!(
            WalletDescriptor::parse(&format!("wpkh({A}/<1;0>/*)"), None),
            Err(DescriptorError::WrongBranch { .. })
        ));
        assert!(matches!(
            WalletDescriptor::parse(&format!("wpkh({A}/<0;1;2>/*)"), None),
            Err(DescriptorError::Parse(_))
        ));
        // A single non-multipath descriptor is only half a wallet.
        assert!(matches!(
            WalletDescriptor::parse(&format!("wpkh({A}/0/*)"), None),
            Err(DescriptorError::Parse(_))
        ));
        // The origin claims three steps, the key is at depth 3: a wrong-length path is caught.
        let short_origin = A.replace("/84h/1h/0h]", "/84h/1h]");
        assert!(matches!(
            parse_pair(
                &format!("wpkh({short_origin}/0/*)"),
                &format!("wpkh({short_origin}/1/*)")
            ),
            Err(DescriptorError::MissingOrigin(_))
        ));
    }

    #[test]
    fn refuses_branches_of_different_wallets_and_duplicate_keys() {
        assert!(matches!(
            parse_pair(&format!("wpkh({A}/0/*)"), &format!("wpkh({B}/1/*)")),
            Err(DescriptorError::BranchesDisagree(_))
        ));
        assert!(matches!(
            parse_pair(&format!("wpkh({A}/0/*)"), &format!("tr({A}/1/*)")),
            Err(DescriptorError::BranchesDisagree(_))
        ));
        assert!(matches!(
            parse_pair(
                &format!("wsh(sortedmulti(2,{A}/0/*,{B}/0/*))"),
                &format!("wsh(sortedmulti(1,{A}/1/*,{B}/1/*))")
            ),
            Err(DescriptorError::BranchesDisagree(_))
        ));
        let duplicate = A.replace("[1bbaa5fe/", "[aaaaaaaa/");
        assert!(matches!(
            WalletDescriptor::parse(
                &format!("wsh(sortedmulti(2,{A}/<0;1>/*,{duplicate}/<0;1>/*))"),
                None
            ),
            Err(DescriptorError::DuplicateKey(_))
        ));
    }

    #[test]
    fn mainnet_keys_are_refused_for_regtest_and_addresses_need_the_right_network() {
        // BIP 84's account xpub (mainnet).
        let main = "[73c5da0a/84h/0h/0h]xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";
        let wallet = WalletDescriptor::parse(&format!("wpkh({main}/<0;1>/*)"), None).unwrap();
        wallet.check_network(Network::Bitcoin).unwrap();
        assert!(matches!(
            wallet.check_network(Network::Regtest),
            Err(DescriptorError::WrongNetwork { .. })
        ));
        assert!(matches!(
            wallet.address(Branch::Receive, 0, Network::Regtest),
            Err(DescriptorError::WrongNetwork { .. })
        ));
        // BIP 84 test vector: first receive address of this account.
        assert_eq!(
            wallet
                .address(Branch::Receive, 0, Network::Bitcoin)
                .unwrap()
                .to_string(),
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        );
        assert_eq!(
            wallet
                .address(Branch::Change, 0, Network::Bitcoin)
                .unwrap()
                .to_string(),
            "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
        );
        assert!(matches!(
            WalletDescriptor::parse(&format!("wsh(sortedmulti(1,{main}/<0;1>/*,{A}/<0;1>/*))"), None),
            Err(DescriptorError::Parse(_))
        ));
    }

    #[test]
    fn claimed_position_reads_only_our_keys_on_our_branches() {
        let (wallet, _) = fixture_wallet("wsh_2of3");
        let a = Fingerprint::from_str("1bbaa5fe").unwrap();
        let path = |p: &str| DerivationPath::from_str(p).unwrap();
        assert_eq!(
            wallet.claimed_position(a, &path("m/84h/1h/0h/1/9")),
            Some((Branch::Change, 9))
        );
        assert_eq!(
            wallet.claimed_position(a, &path("m/84h/1h/0h/0/0")),
            Some((Branch::Receive, 0))
        );
        assert_eq!(wallet.claimed_position(a, &path("m/84h/1h/0h/2/0")), None);
        assert_eq!(wallet.claimed_position(a, &path("m/84h/1h/0h/1/9h")), None);
        assert_eq!(wallet.claimed_position(a, &path("m/84h/1h/1h/1/9")), None);
        assert_eq!(wallet.claimed_position(a, &path("m/84h/1h/0h/1")), None);
        assert_eq!(wallet.claimed_position(a, &path("m/84h/1h/0h/1/2/3")), None);
        let stranger = Fingerprint::from_str("deadbeef").unwrap();
        assert_eq!(wallet.claimed_position(stranger, &path("m/84h/1h/0h/1/9")), None);
    }
}
