//! `scantxoutset`'s scan objects: `addr(...)`, `raw(...)` and any output descriptor
//! (`wpkh(...)`, `wsh(sortedmulti(...))`, `tr(...)`, multipath `<0;1>`), ranged ones over
//! `range` (default 0..=999, as Core), given as strings or `{"desc", "range"}` objects.

use std::collections::HashMap;
use std::str::FromStr;

use bitcoin::secp256k1::{Secp256k1, VerifyOnly};
use bitcoin::{Address, Network, ScriptBuf};
use miniscript::descriptor::checksum::verify_checksum;
use miniscript::descriptor::{DefiniteDescriptorKey, DescriptorPublicKey, SinglePub, SinglePubKey};
use miniscript::{translate_hash_clone, Descriptor, Translator};
use serde_json::Value;

use super::rules::Rejection;
use super::script_text::{inferred_descriptor, with_checksum};
use sluice_shared::rpc_codes as codes;

const DEFAULT_RANGE_END: u32 = 999;
const MAX_RANGE: u32 = 1_000_000;

fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::new(codes::INVALID_ADDRESS_OR_KEY, message)
}

/// Every script the scan objects stand for, each with the descriptor Core reports for an
/// output paying it (the key expression made concrete, with its full origin).
pub fn scripts(objects: &[Value]) -> Result<HashMap<ScriptBuf, String>, Rejection> {
    let secp = Secp256k1::verification_only();
    let mut scripts = HashMap::new();
    for object in objects {
        let (text, range) = match object {
            Value::String(text) => (text.as_str(), None),
            Value::Object(fields) => (
                fields
                    .get("desc")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("scan object needs a \"desc\" string"))?,
                fields.get("range"),
            ),
            _ => {
                return Err(invalid(
                    "scan objects are descriptor strings or {\"desc\", \"range\"} objects",
                ))
            }
        };
        let body = verify_checksum(text).map_err(|e| invalid(format!("{text}: {e}")))?;
        if let Some(address) = body.strip_prefix("addr(").and_then(|s| s.strip_suffix(')')) {
            let script = Address::from_str(address)
                .ok()
                .and_then(|a| a.require_network(Network::Regtest).ok())
                .ok_or_else(|| invalid(format!("Address {address} is not a valid regtest address")))?
                .script_pubkey();
            scripts.insert(script.clone(), inferred_descriptor(&script));
        } else if let Some(hex_script) = body.strip_prefix("raw(").and_then(|s| s.strip_suffix(')')) {
            let script = ScriptBuf::from_hex(hex_script)
                .map_err(|_| invalid(format!("Raw script {hex_script} is not hex")))?;
            scripts.insert(script.clone(), inferred_descriptor(&script));
        } else {
            let descriptor = Descriptor::<DescriptorPublicKey>::from_str(text)
                .map_err(|e| invalid(format!("{text}: {e}")))?;
            let (start, end) = range_of(range, descriptor.has_wildcard())?;
            let singles = descriptor
                .into_single_descriptors()
                .map_err(|e| invalid(format!("{text}: {e}")))?;
            for single in singles {
                for index in start..=end {
                    let definite = single
                        .at_derivation_index(index)
                        .map_err(|e| invalid(format!("{text}: {e}")))?;
                    scripts.insert(definite.script_pubkey(), concrete(&definite, &secp));
                }
            }
        }
    }
    Ok(scripts)
}

fn range_of(range: Option<&Value>, ranged: bool) -> Result<(u32, u32), Rejection> {
    if !ranged {
        return Ok((0, 0));
    }
    let bad = || {
        Rejection::new(
            codes::INVALID_PARAMETER,
            "Range should be a number or [begin,end]",
        )
    };
    let as_u32 = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(bad);
    let (start, end) = match range {
        None => (0, DEFAULT_RANGE_END),
        Some(Value::Array(pair)) if pair.len() == 2 => (as_u32(&pair[0])?, as_u32(&pair[1])?),
        Some(end) => (0, as_u32(end)?),
    };
    if start > end {
        return Err(Rejection::new(
            codes::INVALID_PARAMETER,
            "Range specified as [begin,end] must not have begin after end",
        ));
    }
    if end - start >= MAX_RANGE {
        return Err(Rejection::new(codes::INVALID_PARAMETER, "Range is too large"));
    }
    Ok((start, end))
}

/// The descriptor with each key replaced by the derived public key and its full origin,
/// e.g. `wpkh([d34db33f/84h/1h/0h/0/5]03...)#checksum`, as Core's `InferDescriptor` writes it.
fn concrete(definite: &Descriptor<DefiniteDescriptorKey>, secp: &Secp256k1<VerifyOnly>) -> String {
    struct Concrete<'a> {
        secp: &'a Secp256k1<VerifyOnly>,
        x_only: bool,
    }
    impl Translator<DefiniteDescriptorKey> for Concrete<'_> {
        type TargetPk = DescriptorPublicKey;
        type Error = std::convert::Infallible;

        fn pk(&mut self, pk: &DefiniteDescriptorKey) -> Result<DescriptorPublicKey, Self::Error> {
            let derived = pk.derive_public_key(self.secp);
            let key = if self.x_only {
                SinglePubKey::XOnly(derived.inner.x_only_public_key().0)
            } else {
                SinglePubKey::FullKey(derived)
            };
            let origin = pk
                .full_derivation_path()
                .map(|path| (pk.master_fingerprint(), path));
            Ok(DescriptorPublicKey::Single(SinglePub { origin, key }))
        }

        translate_hash_clone!(DefiniteDescriptorKey);
    }
    let x_only = matches!(definite, Descriptor::Tr(_));
    match definite.translate_pk(&mut Concrete { secp, x_only }) {
        // Core 26+ writes hardened steps as `h`; miniscript writes `'`.
        Ok(described) => {
            let text = described.to_string();
            let body = text.split('#').next().unwrap_or_default().replace('\'', "h");
            with_checksum(&body)
        }
        Err(_) => inferred_descriptor(&definite.script_pubkey()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_raw_scripts_and_ranged_descriptors() {
        let found = scripts(&[json!(
            "addr(bcrt1qkmuutzraktgjhcq67l86elxt6afzqzn28sl4s2)#zhfcy73l"
        )])
        .unwrap();
        let (script, desc) = found.iter().next().unwrap();
        assert_eq!(
            script.to_hex_string(),
            "0014b6f9c5887db2d12be01af7cfacfccbd752200a6a"
        );
        assert_eq!(
            desc,
            "addr(bcrt1qkmuutzraktgjhcq67l86elxt6afzqzn28sl4s2)#zhfcy73l"
        );
        assert!(scripts(&[json!(
            "addr(bcrt1qkmuutzraktgjhcq67l86elxt6afzqzn28sl4s2)#aaaaaaaa"
        )])
        .is_err());
        // Signer A of psbt_fixtures.json, on both branches, 3 indexes each.
        let xpub = "tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
        let ranged = json!({ "desc": format!("wpkh([1bbaa5fe/84h/1h/0h]{xpub}/<0;1>/*)"), "range": 2 });
        let found = scripts(&[ranged]).unwrap();
        assert_eq!(found.len(), 6);
        assert!(found
            .values()
            .all(|d| d.starts_with("wpkh([1bbaa5fe/84h/1h/0h/") && d.contains('#')));
        assert!(found
            .values()
            .any(|d| d.starts_with("wpkh([1bbaa5fe/84h/1h/0h/1/2]")));
        // The fixture's own receive descriptor, checksum and all, unranged object form.
        let receive = format!("wpkh([1bbaa5fe/84h/1h/0h]{xpub}/0/*)#0ue3g76e");
        assert_eq!(scripts(&[json!(receive)]).unwrap().len(), 1000);
        assert!(scripts(&[json!("wpkh(nonsense)")]).is_err());
    }
}
