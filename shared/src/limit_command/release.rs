//! The release instruction (issue 11 item 6): the officers' order to the shadow to spend
//! one tagged deposit, exactly that coin, to exactly one destination, once. A limit
//! command action, so it is signed, checked, refused on replay and printed on paper the
//! same way as the others.
//!
//! Fields (after the action byte 5): purpose u8 (1 return to owner, 2 transfer to an
//! authority) | network u8 | txid [32] | vout u32 | amount u64 (sat, the coin's whole
//! value: the shadow refuses a coin of any other amount) | destination kind u8 |
//! destination hash (20 bytes for kinds 1-3, 32 for kinds 4-5). The txid is in the
//! byte order of its hex form.

use bitcoin::hashes::Hash;
use bitcoin::{
    Address, Amount, Network, OutPoint, PubkeyHash, Script, ScriptBuf, ScriptHash, WPubkeyHash, WScriptHash,
};

/// Why the coin leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleasePurpose {
    /// Back to whoever sent it (an address compliance established).
    ReturnToOwner,
    /// To an address law enforcement controls.
    TransferToAuthority,
}

impl ReleasePurpose {
    pub fn code(self) -> u8 {
        match self {
            ReleasePurpose::ReturnToOwner => 1,
            ReleasePurpose::TransferToAuthority => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<ReleasePurpose> {
        match code {
            1 => Some(ReleasePurpose::ReturnToOwner),
            2 => Some(ReleasePurpose::TransferToAuthority),
            _ => None,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            ReleasePurpose::ReturnToOwner => "return to its owner",
            ReleasePurpose::TransferToAuthority => "transfer to the authority",
        }
    }
}

impl std::str::FromStr for ReleasePurpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "return-to-owner" => Ok(ReleasePurpose::ReturnToOwner),
            "transfer-to-authority" => Ok(ReleasePurpose::TransferToAuthority),
            other => Err(format!(
                "unknown release purpose {other:?}: use return-to-owner or transfer-to-authority"
            )),
        }
    }
}

/// The network codes of a release (its destination is an address of that network).
pub fn network_code(network: Network) -> u8 {
    match network {
        Network::Bitcoin => 1,
        Network::Testnet => 2,
        Network::Testnet4 => 3,
        Network::Signet => 4,
        _ => 5,
    }
}

pub fn network_from_code(code: u8) -> Option<Network> {
    match code {
        1 => Some(Network::Bitcoin),
        2 => Some(Network::Testnet),
        3 => Some(Network::Testnet4),
        4 => Some(Network::Signet),
        5 => Some(Network::Regtest),
        _ => None,
    }
}

/// A standard output script, held by value so that a release stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseDestination {
    kind: u8,
    hash: [u8; 32],
}

const P2PKH: u8 = 1;
const P2SH: u8 = 2;
const P2WPKH: u8 = 3;
const P2WSH: u8 = 4;
const P2TR: u8 = 5;

impl ReleaseDestination {
    /// The destination of a standard output script (P2PKH, P2SH, P2WPKH, P2WSH, P2TR).
    pub fn from_script(script: &Script) -> Option<ReleaseDestination> {
        let bytes = script.as_bytes();
        let (kind, hash): (u8, &[u8]) = if script.is_p2pkh() {
            (P2PKH, &bytes[3..23])
        } else if script.is_p2sh() {
            (P2SH, &bytes[2..22])
        } else if script.is_p2wpkh() {
            (P2WPKH, &bytes[2..22])
        } else if script.is_p2wsh() {
            (P2WSH, &bytes[2..34])
        } else if script.is_p2tr() {
            (P2TR, &bytes[2..34])
        } else {
            return None;
        };
        let mut out = [0u8; 32];
        out[..hash.len()].copy_from_slice(hash);
        Some(ReleaseDestination { kind, hash: out })
    }

    /// Reads the wire form's kind and hash (`hash` exactly as long as the kind needs).
    pub fn from_parts(kind: u8, hash: &[u8]) -> Option<ReleaseDestination> {
        if Self::hash_len(kind)? != hash.len() {
            return None;
        }
        let mut out = [0u8; 32];
        out[..hash.len()].copy_from_slice(hash);
        Some(ReleaseDestination { kind, hash: out })
    }

    /// How many hash bytes a kind carries; `None` for an unknown kind.
    pub fn hash_len(kind: u8) -> Option<usize> {
        match kind {
            P2PKH | P2SH | P2WPKH => Some(20),
            P2WSH | P2TR => Some(32),
            _ => None,
        }
    }

    pub fn kind(&self) -> u8 {
        self.kind
    }

    pub fn hash(&self) -> &[u8] {
        let len = Self::hash_len(self.kind).unwrap_or(32);
        &self.hash[..len]
    }

    pub fn script_pubkey(&self) -> ScriptBuf {
        let mut h20 = [0u8; 20];
        h20.copy_from_slice(&self.hash[..20]);
        match self.kind {
            P2PKH => ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(h20)),
            P2SH => ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(h20)),
            P2WPKH => ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h20)),
            P2WSH => ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array(self.hash)),
            _ => {
                // P2TR: OP_1 PUSH32 <output key>.
                let mut bytes = vec![0x51, 0x20];
                bytes.extend_from_slice(&self.hash);
                ScriptBuf::from_bytes(bytes)
            }
        }
    }

    pub fn address(&self, network: Network) -> Option<Address> {
        Address::from_script(&self.script_pubkey(), network).ok()
    }
}

/// One coin, one destination, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub purpose: ReleasePurpose,
    pub network: Network,
    pub outpoint: OutPoint,
    /// The coin's whole value; the fee comes out of it.
    pub amount: Amount,
    pub destination: ReleaseDestination,
}

impl Release {
    pub fn describe(&self) -> String {
        let to = self.destination.address(self.network).map_or_else(
            || self.destination.script_pubkey().to_hex_string(),
            |a| a.to_string(),
        );
        format!(
            "Release deposit {} ({} BTC) to {to}: {}",
            self.outpoint,
            super::plain_amount(self.amount),
            self.purpose.words()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::asset::Asset;
    use crate::identity::SignerId;
    use crate::limit_command::{decode_text, CommandId, LimitAction, LimitCommand, SignedLimitCommand};
    use bitcoin::secp256k1::Keypair;

    fn release(script: ScriptBuf) -> Release {
        Release {
            purpose: ReleasePurpose::TransferToAuthority,
            network: Network::Regtest,
            outpoint: OutPoint {
                txid: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
                    .parse()
                    .unwrap(),
                vout: 7,
            },
            amount: Amount::from_sat(50_000_000),
            destination: ReleaseDestination::from_script(&script).unwrap(),
        }
    }

    fn scripts() -> Vec<ScriptBuf> {
        vec![
            ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([1; 20])),
            ScriptBuf::new_p2sh(&ScriptHash::from_byte_array([2; 20])),
            ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([3; 20])),
            ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([4; 32])),
            ScriptBuf::from_bytes([vec![0x51, 0x20], vec![5; 32]].concat()),
        ]
    }

    #[test]
    fn every_standard_destination_round_trips_through_a_signed_command() {
        let officer = Keypair::from_seckey_slice(&bitcoin::secp256k1::Secp256k1::new(), &[9; 32]).unwrap();
        for script in scripts() {
            let r = release(script.clone());
            assert_eq!(r.destination.script_pubkey(), script);
            let mut signed = SignedLimitCommand::unsigned(LimitCommand {
                id: CommandId([1; 16]),
                signer: SignerId([2; 8]),
                asset: Asset::Btc,
                action: LimitAction::Release { release: r },
                not_before: 1_700_000_000,
                not_after: 1_800_000_000,
            });
            signed.sign(&officer, [3; 32]).unwrap();
            let text = signed.encode_text().unwrap();
            assert_eq!(decode_text(&text).unwrap(), signed);
            assert!(
                signed.command.describe().contains("7 "),
                "{}",
                signed.command.describe()
            );
        }
        assert!(ReleaseDestination::from_script(&ScriptBuf::from_bytes(vec![0x6a])).is_none());
    }

    #[test]
    fn a_malformed_release_is_refused() {
        let mut command = LimitCommand {
            id: CommandId([1; 16]),
            signer: SignerId([2; 8]),
            asset: Asset::Btc,
            action: LimitAction::Release {
                release: release(scripts()[2].clone()),
            },
            not_before: 1_700_000_000,
            not_after: 1_800_000_000,
        };
        let good = SignedLimitCommand::unsigned(command.clone()).to_bytes().unwrap();
        // Unknown destination kind, purpose and network; truncation; a zero amount.
        let kind_at = good.len() - 1 - 20 - 8 - 1;
        for (at, value) in [(kind_at, 9u8), (27, 3), (28, 0)] {
            let mut bad = good.clone();
            bad[at] = value;
            assert!(
                SignedLimitCommand::from_bytes(&bad).is_err(),
                "byte {at} = {value}"
            );
        }
        assert!(SignedLimitCommand::from_bytes(&good[..good.len() - 2]).is_err());
        if let LimitAction::Release { release } = &mut command.action {
            release.amount = Amount::ZERO;
        }
        assert!(command.encode().is_err());
    }
}
