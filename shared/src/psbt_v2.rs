//! PSBT version 2 (BIP370) on top of rust-bitcoin's version 0 `Psbt`.
//!
//! rust-bitcoin reads and writes only version 0 (BIP174), where the global map carries
//! the whole unsigned transaction. Version 2 drops that transaction and keeps its parts
//! as fields of the maps: the transaction version, a fallback locktime, the input and
//! output counts in the global map; each input's previous txid, output index, sequence
//! and required locktimes in its input map; each output's amount and script in its output
//! map. Bitcoin Core 31 makes version 2 by default.
//!
//! [`decode`] turns either version into a `Psbt` (a version 2 PSBT is rebuilt as the
//! version 0 PSBT of the same transaction) and a [`PsbtVersion`] that remembers what
//! version 0 cannot hold; [`encode`] writes a `Psbt` back in the version it came in.
//! Every other field, unknown and proprietary ones included, passes through unchanged.
//! Malformed PSBTs are refused: a version 2 PSBT missing a required field, carrying a
//! version 0 field (or a version 0 PSBT carrying a version 2 field), counts that do not
//! match its maps, duplicated keys, or required locktimes that no locktime satisfies.
//! Pure: bytes in, values out.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

const MAGIC: &[u8] = b"psbt\xff";

// Global fields (BIP174, BIP370).
const GLOBAL_UNSIGNED_TX: u8 = 0x00;
const GLOBAL_TX_VERSION: u8 = 0x02;
const GLOBAL_FALLBACK_LOCKTIME: u8 = 0x03;
const GLOBAL_INPUT_COUNT: u8 = 0x04;
const GLOBAL_OUTPUT_COUNT: u8 = 0x05;
const GLOBAL_TX_MODIFIABLE: u8 = 0x06;
const GLOBAL_VERSION: u8 = 0xfb;
// Input fields that exist only in version 2.
const IN_PREVIOUS_TXID: u8 = 0x0e;
const IN_OUTPUT_INDEX: u8 = 0x0f;
const IN_SEQUENCE: u8 = 0x10;
const IN_REQUIRED_TIME_LOCKTIME: u8 = 0x11;
const IN_REQUIRED_HEIGHT_LOCKTIME: u8 = 0x12;
// Output fields that exist only in version 2.
const OUT_AMOUNT: u8 = 0x03;
const OUT_SCRIPT: u8 = 0x04;

/// Locktimes below this are block heights, at or above it times (consensus).
const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// Why bytes are not a PSBT this module accepts. Each names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsbtV2Error {
    #[error("not a PSBT: {0}")]
    Malformed(String),
    #[error("PSBT version {0} is not supported (only 0 and 2)")]
    UnsupportedVersion(u32),
    #[error("PSBT version 2 lacks the required {0}")]
    MissingField(&'static str),
    #[error("a version {version} PSBT must not carry {field}")]
    ExcludedField { version: u32, field: &'static str },
    #[error("the {map} map has the key {key} twice")]
    DuplicateKey { map: String, key: String },
    #[error("{field}: {reason}")]
    BadField { field: &'static str, reason: String },
    #[error("the inputs' required locktimes cannot all be met (some need a height, others a time)")]
    LocktimeConflict,
    #[error("the PSBT as version 0: {0}")]
    Version0(String),
}

/// One key-value pair of a PSBT map, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Pair {
    fn key_type(&self) -> u8 {
        self.key[0]
    }

    /// A field whose key is its type alone (every version 2 transaction field).
    fn is_bare(&self) -> bool {
        self.key.len() == 1
    }
}

/// A PSBT as its maps of pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawPsbt {
    global: Vec<Pair>,
    inputs: Vec<Vec<Pair>>,
    outputs: Vec<Vec<Pair>>,
}

/// What a version 2 PSBT holds that its version 0 form cannot: written back by
/// [`encode`]. The transaction version, the inputs' outpoints and sequences and the
/// outputs come back from the `Psbt`'s unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version2Fields {
    fallback_locktime: Option<u32>,
    tx_modifiable: Option<u8>,
    inputs: Vec<Version2Input>,
}

/// An input's version 2 fields beyond its outpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version2Input {
    /// Whether the sequence was written (absent means 0xffffffff).
    sequence_given: bool,
    required_time: Option<u32>,
    required_height: Option<u32>,
}

/// The version a PSBT came in, and what it needs to be written in that version again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsbtVersion {
    V0,
    V2(Version2Fields),
}

impl PsbtVersion {
    /// Version 2 for a PSBT first written as version 0: its locktime as the fallback
    /// locktime, every sequence written, no required locktimes, no modifiable flags.
    pub fn version2_for(psbt: &Psbt) -> PsbtVersion {
        PsbtVersion::V2(Version2Fields {
            fallback_locktime: Some(psbt.unsigned_tx.lock_time.to_consensus_u32()),
            tx_modifiable: None,
            inputs: vec![
                Version2Input {
                    sequence_given: true,
                    required_time: None,
                    required_height: None,
                };
                psbt.unsigned_tx.input.len()
            ],
        })
    }

    pub fn number(&self) -> u32 {
        match self {
            PsbtVersion::V0 => 0,
            PsbtVersion::V2(_) => 2,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PsbtV2Error> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| PsbtV2Error::Malformed("it ends in the middle of a map".to_owned()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn compact_size(&mut self) -> Result<u64, PsbtV2Error> {
        let first = self.take(1)?[0];
        let (len, min) = match first {
            0xfd => (2, 0xfd),
            0xfe => (4, 0x1_0000),
            0xff => (8, 0x1_0000_0000),
            n => return Ok(u64::from(n)),
        };
        let mut buf = [0u8; 8];
        buf[..len].copy_from_slice(self.take(len)?);
        let value = u64::from_le_bytes(buf);
        if value < min {
            return Err(PsbtV2Error::Malformed(
                "a length is not minimally encoded".to_owned(),
            ));
        }
        Ok(value)
    }

    fn length(&mut self) -> Result<usize, PsbtV2Error> {
        let n = self.compact_size()?;
        let n = usize::try_from(n).map_err(|_| PsbtV2Error::Malformed("a length is too large".to_owned()))?;
        if n > self.bytes.len() - self.at {
            return Err(PsbtV2Error::Malformed("a length runs past the end".to_owned()));
        }
        Ok(n)
    }

    /// One map, up to its 0x00 separator; `name` names it in errors.
    fn map(&mut self, name: &str) -> Result<Vec<Pair>, PsbtV2Error> {
        let mut pairs: Vec<Pair> = Vec::new();
        loop {
            let key_len = self.length()?;
            if key_len == 0 {
                return Ok(pairs);
            }
            let key = self.take(key_len)?.to_vec();
            let value_len = self.length()?;
            let value = self.take(value_len)?.to_vec();
            if pairs.iter().any(|p| p.key == key) {
                return Err(PsbtV2Error::DuplicateKey {
                    map: name.to_owned(),
                    key: hex_text(&key),
                });
            }
            pairs.push(Pair { key, value });
        }
    }
}

fn hex_text(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_compact_size(out: &mut Vec<u8>, n: usize) {
    let n = n as u64;
    if n < 0xfd {
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xfe);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

fn write_map(out: &mut Vec<u8>, pairs: &[Pair]) {
    for pair in pairs {
        write_compact_size(out, pair.key.len());
        out.extend_from_slice(&pair.key);
        write_compact_size(out, pair.value.len());
        out.extend_from_slice(&pair.value);
    }
    out.push(0x00);
}

fn serialize_raw(raw: &RawPsbt) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    write_map(&mut out, &raw.global);
    for map in raw.inputs.iter().chain(&raw.outputs) {
        write_map(&mut out, map);
    }
    out
}

/// The bare field `key_type` of `map`, if present. A field of that type with key data
/// is not the transaction field (it is refused elsewhere when it matters).
fn field(map: &[Pair], key_type: u8) -> Option<&[u8]> {
    map.iter()
        .find(|p| p.key_type() == key_type && p.is_bare())
        .map(|p| p.value.as_slice())
}

fn has_type(map: &[Pair], key_type: u8) -> bool {
    map.iter().any(|p| p.key_type() == key_type)
}

fn fixed<const N: usize>(value: &[u8], name: &'static str) -> Result<[u8; N], PsbtV2Error> {
    value.try_into().map_err(|_| PsbtV2Error::BadField {
        field: name,
        reason: format!("{} bytes, expected {N}", value.len()),
    })
}

fn u32_field(value: &[u8], name: &'static str) -> Result<u32, PsbtV2Error> {
    Ok(u32::from_le_bytes(fixed::<4>(value, name)?))
}

fn count_field(value: &[u8], name: &'static str) -> Result<usize, PsbtV2Error> {
    let mut reader = Reader { bytes: value, at: 0 };
    let n = reader.compact_size().map_err(|e| PsbtV2Error::BadField {
        field: name,
        reason: e.to_string(),
    })?;
    if reader.at != value.len() {
        return Err(PsbtV2Error::BadField {
            field: name,
            reason: "trailing bytes".to_owned(),
        });
    }
    usize::try_from(n).map_err(|_| PsbtV2Error::BadField {
        field: name,
        reason: "too large".to_owned(),
    })
}

/// The `version` field of the global map (0 when absent).
fn version_of(global: &[Pair]) -> Result<u32, PsbtV2Error> {
    match global.iter().find(|p| p.key_type() == GLOBAL_VERSION) {
        None => Ok(0),
        Some(p) if !p.is_bare() => Err(PsbtV2Error::BadField {
            field: "PSBT_GLOBAL_VERSION",
            reason: "its key has key data".to_owned(),
        }),
        Some(p) => u32_field(&p.value, "PSBT_GLOBAL_VERSION"),
    }
}

/// Reads the maps: the global map, then as many input and output maps as the version
/// says (the unsigned transaction's counts for 0, the count fields for 2).
fn parse_raw(bytes: &[u8]) -> Result<(RawPsbt, u32), PsbtV2Error> {
    if !bytes.starts_with(MAGIC) {
        return Err(PsbtV2Error::Malformed(
            "it does not start with the PSBT magic".to_owned(),
        ));
    }
    let mut reader = Reader {
        bytes,
        at: MAGIC.len(),
    };
    let global = reader.map("global")?;
    let version = version_of(&global)?;
    let (inputs, outputs) = match version {
        0 => {
            let tx_bytes = field(&global, GLOBAL_UNSIGNED_TX)
                .ok_or_else(|| PsbtV2Error::Version0("it has no unsigned transaction".to_owned()))?;
            let tx: Transaction = bitcoin::consensus::deserialize(tx_bytes)
                .map_err(|e| PsbtV2Error::Version0(format!("its unsigned transaction: {e}")))?;
            (tx.input.len(), tx.output.len())
        }
        2 => (
            count_field(
                field(&global, GLOBAL_INPUT_COUNT)
                    .ok_or(PsbtV2Error::MissingField("PSBT_GLOBAL_INPUT_COUNT"))?,
                "PSBT_GLOBAL_INPUT_COUNT",
            )?,
            count_field(
                field(&global, GLOBAL_OUTPUT_COUNT)
                    .ok_or(PsbtV2Error::MissingField("PSBT_GLOBAL_OUTPUT_COUNT"))?,
                "PSBT_GLOBAL_OUTPUT_COUNT",
            )?,
        ),
        other => return Err(PsbtV2Error::UnsupportedVersion(other)),
    };
    // Every map takes at least its separator byte: counts beyond the bytes left are lies.
    let left = bytes.len() - reader.at;
    if inputs.saturating_add(outputs) > left {
        return Err(PsbtV2Error::Malformed(format!(
            "it declares {inputs} inputs and {outputs} outputs but has only {left} bytes of maps"
        )));
    }
    let mut raw = RawPsbt {
        global,
        inputs: Vec::with_capacity(inputs),
        outputs: Vec::with_capacity(outputs),
    };
    for index in 0..inputs {
        raw.inputs.push(reader.map(&format!("input {index}"))?);
    }
    for index in 0..outputs {
        raw.outputs.push(reader.map(&format!("output {index}"))?);
    }
    if reader.at != bytes.len() {
        return Err(PsbtV2Error::Malformed(format!(
            "{} bytes follow the last map (more maps than the counts say?)",
            bytes.len() - reader.at
        )));
    }
    Ok((raw, version))
}

const V2_ONLY_GLOBAL: [(u8, &str); 5] = [
    (GLOBAL_TX_VERSION, "PSBT_GLOBAL_TX_VERSION"),
    (GLOBAL_FALLBACK_LOCKTIME, "PSBT_GLOBAL_FALLBACK_LOCKTIME"),
    (GLOBAL_INPUT_COUNT, "PSBT_GLOBAL_INPUT_COUNT"),
    (GLOBAL_OUTPUT_COUNT, "PSBT_GLOBAL_OUTPUT_COUNT"),
    (GLOBAL_TX_MODIFIABLE, "PSBT_GLOBAL_TX_MODIFIABLE"),
];
const V2_ONLY_INPUT: [(u8, &str); 5] = [
    (IN_PREVIOUS_TXID, "PSBT_IN_PREVIOUS_TXID"),
    (IN_OUTPUT_INDEX, "PSBT_IN_OUTPUT_INDEX"),
    (IN_SEQUENCE, "PSBT_IN_SEQUENCE"),
    (IN_REQUIRED_TIME_LOCKTIME, "PSBT_IN_REQUIRED_TIME_LOCKTIME"),
    (IN_REQUIRED_HEIGHT_LOCKTIME, "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME"),
];
const V2_ONLY_OUTPUT: [(u8, &str); 2] = [(OUT_AMOUNT, "PSBT_OUT_AMOUNT"), (OUT_SCRIPT, "PSBT_OUT_SCRIPT")];

/// Refuses version 2 fields in a version 0 PSBT (rust-bitcoin would keep them as unknown
/// fields, and a reader of version 2 would then see a transaction that is not the one
/// inspected).
fn check_version0(raw: &RawPsbt) -> Result<(), PsbtV2Error> {
    let excluded = |map: &[Pair], fields: &[(u8, &'static str)]| {
        for (key_type, name) in fields {
            if has_type(map, *key_type) {
                return Err(PsbtV2Error::ExcludedField {
                    version: 0,
                    field: name,
                });
            }
        }
        Ok(())
    };
    excluded(&raw.global, &V2_ONLY_GLOBAL)?;
    for input in &raw.inputs {
        excluded(input, &V2_ONLY_INPUT)?;
    }
    for output in &raw.outputs {
        excluded(output, &V2_ONLY_OUTPUT)?;
    }
    Ok(())
}

/// Every version 2 transaction field must have a bare key (type byte only).
fn check_bare(map: &[Pair], fields: &[(u8, &'static str)]) -> Result<(), PsbtV2Error> {
    for pair in map {
        if let Some((_, name)) = fields.iter().find(|(t, _)| *t == pair.key_type()) {
            if !pair.is_bare() {
                return Err(PsbtV2Error::BadField {
                    field: name,
                    reason: "its key has key data".to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// BIP370's locktime: the fallback (or 0) when no input requires one; otherwise the
/// largest required locktime of the one kind every requiring input accepts (height when
/// both are accepted by all).
fn determine_locktime(fallback: Option<u32>, inputs: &[Version2Input]) -> Result<u32, PsbtV2Error> {
    let requiring: Vec<&Version2Input> = inputs
        .iter()
        .filter(|i| i.required_time.is_some() || i.required_height.is_some())
        .collect();
    if requiring.is_empty() {
        return Ok(fallback.unwrap_or(0));
    }
    if requiring.iter().all(|i| i.required_height.is_some()) {
        return Ok(requiring
            .iter()
            .filter_map(|i| i.required_height)
            .max()
            .unwrap_or(0));
    }
    if requiring.iter().all(|i| i.required_time.is_some()) {
        return Ok(requiring
            .iter()
            .filter_map(|i| i.required_time)
            .max()
            .unwrap_or(0));
    }
    Err(PsbtV2Error::LocktimeConflict)
}

/// Converts a parsed version 2 PSBT into the bytes of its version 0 form, and what
/// version 0 cannot hold.
fn version2_to_version0(raw: &RawPsbt) -> Result<(Vec<u8>, Version2Fields), PsbtV2Error> {
    let excluded_v0 = [(GLOBAL_UNSIGNED_TX, "PSBT_GLOBAL_UNSIGNED_TX")];
    for (key_type, name) in excluded_v0 {
        if has_type(&raw.global, key_type) {
            return Err(PsbtV2Error::ExcludedField {
                version: 2,
                field: name,
            });
        }
    }
    check_bare(&raw.global, &V2_ONLY_GLOBAL)?;
    let tx_version = i32::from_le_bytes(fixed::<4>(
        field(&raw.global, GLOBAL_TX_VERSION).ok_or(PsbtV2Error::MissingField("PSBT_GLOBAL_TX_VERSION"))?,
        "PSBT_GLOBAL_TX_VERSION",
    )?);
    if tx_version < 2 {
        return Err(PsbtV2Error::BadField {
            field: "PSBT_GLOBAL_TX_VERSION",
            reason: format!("transaction version {tx_version}; version 2 PSBTs need at least 2"),
        });
    }
    let fallback_locktime = field(&raw.global, GLOBAL_FALLBACK_LOCKTIME)
        .map(|v| u32_field(v, "PSBT_GLOBAL_FALLBACK_LOCKTIME"))
        .transpose()?;
    let tx_modifiable = field(&raw.global, GLOBAL_TX_MODIFIABLE)
        .map(|v| fixed::<1>(v, "PSBT_GLOBAL_TX_MODIFIABLE").map(|b| b[0]))
        .transpose()?;

    let mut txins = Vec::with_capacity(raw.inputs.len());
    let mut extra_inputs = Vec::with_capacity(raw.inputs.len());
    for input in &raw.inputs {
        check_bare(input, &V2_ONLY_INPUT)?;
        let txid = fixed::<32>(
            field(input, IN_PREVIOUS_TXID).ok_or(PsbtV2Error::MissingField("PSBT_IN_PREVIOUS_TXID"))?,
            "PSBT_IN_PREVIOUS_TXID",
        )?;
        let vout = u32_field(
            field(input, IN_OUTPUT_INDEX).ok_or(PsbtV2Error::MissingField("PSBT_IN_OUTPUT_INDEX"))?,
            "PSBT_IN_OUTPUT_INDEX",
        )?;
        let sequence = field(input, IN_SEQUENCE)
            .map(|v| u32_field(v, "PSBT_IN_SEQUENCE"))
            .transpose()?;
        let required_time = field(input, IN_REQUIRED_TIME_LOCKTIME)
            .map(|v| u32_field(v, "PSBT_IN_REQUIRED_TIME_LOCKTIME"))
            .transpose()?;
        if required_time.is_some_and(|t| t < LOCKTIME_THRESHOLD) {
            return Err(PsbtV2Error::BadField {
                field: "PSBT_IN_REQUIRED_TIME_LOCKTIME",
                reason: format!("below {LOCKTIME_THRESHOLD}, so not a time"),
            });
        }
        let required_height = field(input, IN_REQUIRED_HEIGHT_LOCKTIME)
            .map(|v| u32_field(v, "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME"))
            .transpose()?;
        if required_height.is_some_and(|h| h == 0 || h >= LOCKTIME_THRESHOLD) {
            return Err(PsbtV2Error::BadField {
                field: "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME",
                reason: format!("not a block height between 1 and {}", LOCKTIME_THRESHOLD - 1),
            });
        }
        txins.push(TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array(txid),
                vout,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence(sequence.unwrap_or(u32::MAX)),
            witness: Witness::new(),
        });
        extra_inputs.push(Version2Input {
            sequence_given: sequence.is_some(),
            required_time,
            required_height,
        });
    }
    let mut txouts = Vec::with_capacity(raw.outputs.len());
    for output in &raw.outputs {
        check_bare(output, &V2_ONLY_OUTPUT)?;
        let amount = i64::from_le_bytes(fixed::<8>(
            field(output, OUT_AMOUNT).ok_or(PsbtV2Error::MissingField("PSBT_OUT_AMOUNT"))?,
            "PSBT_OUT_AMOUNT",
        )?);
        let amount = u64::try_from(amount)
            .ok()
            .map(Amount::from_sat)
            .filter(|a| *a <= Amount::MAX_MONEY)
            .ok_or_else(|| PsbtV2Error::BadField {
                field: "PSBT_OUT_AMOUNT",
                reason: format!("{amount} sat is not an amount of bitcoin"),
            })?;
        let script = field(output, OUT_SCRIPT).ok_or(PsbtV2Error::MissingField("PSBT_OUT_SCRIPT"))?;
        txouts.push(TxOut {
            value: amount,
            script_pubkey: ScriptBuf::from_bytes(script.to_vec()),
        });
    }
    let locktime = determine_locktime(fallback_locktime, &extra_inputs)?;
    let tx = Transaction {
        version: Version(tx_version),
        lock_time: LockTime::from_consensus(locktime),
        input: txins,
        output: txouts,
    };

    let drop_types = |map: &[Pair], types: &[(u8, &str)]| -> Vec<Pair> {
        map.iter()
            .filter(|p| !types.iter().any(|(t, _)| *t == p.key_type()))
            .cloned()
            .collect()
    };
    let mut global = vec![Pair {
        key: vec![GLOBAL_UNSIGNED_TX],
        value: bitcoin::consensus::serialize(&tx),
    }];
    global.extend(
        drop_types(&raw.global, &V2_ONLY_GLOBAL)
            .into_iter()
            .filter(|p| p.key_type() != GLOBAL_VERSION),
    );
    let v0 = RawPsbt {
        global,
        inputs: raw.inputs.iter().map(|m| drop_types(m, &V2_ONLY_INPUT)).collect(),
        outputs: raw
            .outputs
            .iter()
            .map(|m| drop_types(m, &V2_ONLY_OUTPUT))
            .collect(),
    };
    Ok((
        serialize_raw(&v0),
        Version2Fields {
            fallback_locktime,
            tx_modifiable,
            inputs: extra_inputs,
        },
    ))
}

/// Reads a PSBT of version 0 or 2 (BIP174 binary); see the module documentation.
pub fn decode(bytes: &[u8]) -> Result<(Psbt, PsbtVersion), PsbtV2Error> {
    let (raw, version) = parse_raw(bytes)?;
    match version {
        0 => {
            check_version0(&raw)?;
            let psbt = Psbt::deserialize(bytes).map_err(|e| PsbtV2Error::Version0(e.to_string()))?;
            Ok((psbt, PsbtVersion::V0))
        }
        _ => {
            let (v0_bytes, fields) = version2_to_version0(&raw)?;
            let psbt = Psbt::deserialize(&v0_bytes).map_err(|e| PsbtV2Error::Version0(e.to_string()))?;
            if psbt.inputs.len() != fields.inputs.len() {
                return Err(PsbtV2Error::Malformed(
                    "input count changed in conversion".to_owned(),
                ));
            }
            Ok((psbt, PsbtVersion::V2(fields)))
        }
    }
}

/// Writes `psbt` in `version`: version 0 as rust-bitcoin writes it; version 2 with the
/// transaction's parts as fields, each map's pairs in key order (as Bitcoin Core writes
/// them). Fails if `psbt`'s transaction no longer fits the version 2 fields it was read
/// with (different input count, or a locktime the required locktimes do not give).
pub fn encode(psbt: &Psbt, version: &PsbtVersion) -> Result<Vec<u8>, PsbtV2Error> {
    let fields = match version {
        PsbtVersion::V0 => return Ok(psbt.serialize()),
        PsbtVersion::V2(fields) => fields,
    };
    let tx = &psbt.unsigned_tx;
    if tx.input.len() != fields.inputs.len() {
        return Err(PsbtV2Error::Malformed(format!(
            "the PSBT has {} inputs but was read with {}",
            tx.input.len(),
            fields.inputs.len()
        )));
    }
    let locktime = determine_locktime(fields.fallback_locktime, &fields.inputs)?;
    if tx.lock_time.to_consensus_u32() != locktime {
        return Err(PsbtV2Error::Malformed(
            "the transaction's locktime is not the one its version 2 fields determine".to_owned(),
        ));
    }
    let (v0, _) = parse_raw(&psbt.serialize())?;
    let bare = |key_type: u8, value: Vec<u8>| Pair {
        key: vec![key_type],
        value,
    };
    let count = |n: usize| {
        let mut v = Vec::new();
        write_compact_size(&mut v, n);
        v
    };
    let mut global: Vec<Pair> = v0
        .global
        .into_iter()
        .filter(|p| p.key_type() != GLOBAL_UNSIGNED_TX && p.key_type() != GLOBAL_VERSION)
        .collect();
    global.push(bare(GLOBAL_TX_VERSION, tx.version.0.to_le_bytes().to_vec()));
    if let Some(fallback) = fields.fallback_locktime {
        global.push(bare(GLOBAL_FALLBACK_LOCKTIME, fallback.to_le_bytes().to_vec()));
    }
    global.push(bare(GLOBAL_INPUT_COUNT, count(tx.input.len())));
    global.push(bare(GLOBAL_OUTPUT_COUNT, count(tx.output.len())));
    if let Some(modifiable) = fields.tx_modifiable {
        global.push(bare(GLOBAL_TX_MODIFIABLE, vec![modifiable]));
    }
    global.push(bare(GLOBAL_VERSION, 2u32.to_le_bytes().to_vec()));
    let mut inputs = Vec::with_capacity(v0.inputs.len());
    for ((mut map, txin), extra) in v0.inputs.into_iter().zip(&tx.input).zip(&fields.inputs) {
        map.push(bare(
            IN_PREVIOUS_TXID,
            txin.previous_output.txid.to_byte_array().to_vec(),
        ));
        map.push(bare(
            IN_OUTPUT_INDEX,
            txin.previous_output.vout.to_le_bytes().to_vec(),
        ));
        if extra.sequence_given || txin.sequence != Sequence::MAX {
            map.push(bare(IN_SEQUENCE, txin.sequence.0.to_le_bytes().to_vec()));
        }
        if let Some(time) = extra.required_time {
            map.push(bare(IN_REQUIRED_TIME_LOCKTIME, time.to_le_bytes().to_vec()));
        }
        if let Some(height) = extra.required_height {
            map.push(bare(IN_REQUIRED_HEIGHT_LOCKTIME, height.to_le_bytes().to_vec()));
        }
        inputs.push(map);
    }
    let mut outputs = Vec::with_capacity(v0.outputs.len());
    for (mut map, txout) in v0.outputs.into_iter().zip(&tx.output) {
        map.push(bare(OUT_AMOUNT, txout.value.to_sat().to_le_bytes().to_vec()));
        map.push(bare(OUT_SCRIPT, txout.script_pubkey.to_bytes()));
        outputs.push(map);
    }
    let mut v2 = RawPsbt {
        global,
        inputs,
        outputs,
    };
    for map in std::iter::once(&mut v2.global)
        .chain(v2.inputs.iter_mut())
        .chain(v2.outputs.iter_mut())
    {
        map.sort_by(|a, b| a.key.cmp(&b.key));
    }
    Ok(serialize_raw(&v2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::base64::prelude::{Engine, BASE64_STANDARD};

    /// Bitcoin Core 31.99 `createpsbt` (version 2 by default): two inputs with sequence
    /// 0xfffffffd, a P2WPKH output and an OP_RETURN, locktime 0.
    const CORE_TWO_INPUTS: &str = "cHNidP8BAgQCAAAAAQMEAAAAAAEEAQIBBQECAfsEAgAAAAABDiABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAqgEPBAEAAAABEAT9////AAEOIAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAC7AQ8EAAAAAAEQBP3///8AAQMIgPD6AgAAAAABBBYAFHUedugZkZbUVJQcRdGzoyPxQzvWAAEDCAAAAAAAAAAAAQQDagEAAA==";
    /// The same node, one input, fallback locktime 700.
    const CORE_LOCKTIME_700: &str = "cHNidP8BAgQCAAAAAQMEvAIAAAEEAQEBBQEBAfsEAgAAAAABDiABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAqgEPBAEAAAABEAT+////AAEDCIDw+gIAAAAAAQQWABR1HnboGZGW1FSUHEXRs6Mj8UM71gA=";

    fn bytes(base64: &str) -> Vec<u8> {
        BASE64_STANDARD.decode(base64).unwrap()
    }

    fn raw(base64: &str) -> RawPsbt {
        parse_raw(&bytes(base64)).unwrap().0
    }

    #[test]
    fn cores_version_2_psbts_convert_and_round_trip_byte_for_byte() {
        let (psbt, version) = decode(&bytes(CORE_TWO_INPUTS)).unwrap();
        assert_eq!(version.number(), 2);
        let tx = &psbt.unsigned_tx;
        assert_eq!(tx.version, Version::TWO);
        assert_eq!(tx.lock_time, LockTime::ZERO);
        assert_eq!(tx.input.len(), 2);
        assert_eq!(
            tx.input[0].previous_output.txid.to_string(),
            "aa00000000000000000000000000000000000000000000000000000000000001"
        );
        assert_eq!(tx.input[0].previous_output.vout, 1);
        assert_eq!(tx.input[1].sequence, Sequence(0xffff_fffd));
        assert_eq!(tx.output[0].value, Amount::from_sat(50_000_000));
        assert!(tx.output[1].script_pubkey.is_op_return());
        assert_eq!(encode(&psbt, &version).unwrap(), bytes(CORE_TWO_INPUTS));

        let (psbt, version) = decode(&bytes(CORE_LOCKTIME_700)).unwrap();
        assert_eq!(psbt.unsigned_tx.lock_time, LockTime::from_consensus(700));
        assert_eq!(encode(&psbt, &version).unwrap(), bytes(CORE_LOCKTIME_700));
        // And as version 0, rust-bitcoin reads the same transaction.
        let v0 = encode(&psbt, &PsbtVersion::V0).unwrap();
        let (again, v) = decode(&v0).unwrap();
        assert_eq!((again, v), (psbt, PsbtVersion::V0));
    }

    #[test]
    fn unknown_and_proprietary_fields_round_trip() {
        let mut r = raw(CORE_TWO_INPUTS);
        r.global.push(Pair {
            key: vec![0xfc, 0x03, b'a', b'b', b'c', 0x01],
            value: vec![7, 7],
        });
        r.inputs[1].push(Pair {
            key: vec![0xf0, 0x01],
            value: vec![1, 2, 3],
        });
        r.outputs[0].push(Pair {
            key: vec![0xee],
            value: vec![],
        });
        for map in std::iter::once(&mut r.global)
            .chain(r.inputs.iter_mut())
            .chain(r.outputs.iter_mut())
        {
            map.sort_by(|a, b| a.key.cmp(&b.key));
        }
        let with_extras = serialize_raw(&r);
        let (psbt, version) = decode(&with_extras).unwrap();
        assert_eq!(psbt.proprietary.len(), 1);
        assert_eq!(psbt.inputs[1].unknown.len(), 1);
        assert_eq!(encode(&psbt, &version).unwrap(), with_extras);
    }

    fn refused(r: &RawPsbt) -> PsbtV2Error {
        decode(&serialize_raw(r)).unwrap_err()
    }

    fn without(map: &mut Vec<Pair>, key_type: u8) {
        map.retain(|p| p.key_type() != key_type);
    }

    #[test]
    fn malformed_version_2_psbts_are_refused_naming_the_rule() {
        for (key_type, name) in [
            (GLOBAL_TX_VERSION, "PSBT_GLOBAL_TX_VERSION"),
            (GLOBAL_INPUT_COUNT, "PSBT_GLOBAL_INPUT_COUNT"),
            (GLOBAL_OUTPUT_COUNT, "PSBT_GLOBAL_OUTPUT_COUNT"),
        ] {
            let mut r = raw(CORE_TWO_INPUTS);
            without(&mut r.global, key_type);
            assert_eq!(refused(&r), PsbtV2Error::MissingField(name));
        }
        let mut r = raw(CORE_TWO_INPUTS);
        without(&mut r.inputs[1], IN_PREVIOUS_TXID);
        assert_eq!(refused(&r), PsbtV2Error::MissingField("PSBT_IN_PREVIOUS_TXID"));
        let mut r = raw(CORE_TWO_INPUTS);
        without(&mut r.inputs[0], IN_OUTPUT_INDEX);
        assert_eq!(refused(&r), PsbtV2Error::MissingField("PSBT_IN_OUTPUT_INDEX"));
        let mut r = raw(CORE_TWO_INPUTS);
        without(&mut r.outputs[1], OUT_AMOUNT);
        assert_eq!(refused(&r), PsbtV2Error::MissingField("PSBT_OUT_AMOUNT"));
        let mut r = raw(CORE_TWO_INPUTS);
        without(&mut r.outputs[0], OUT_SCRIPT);
        assert_eq!(refused(&r), PsbtV2Error::MissingField("PSBT_OUT_SCRIPT"));

        // A version 0 field in version 2.
        let (psbt, _) = decode(&bytes(CORE_TWO_INPUTS)).unwrap();
        let mut r = raw(CORE_TWO_INPUTS);
        r.global.insert(
            0,
            Pair {
                key: vec![GLOBAL_UNSIGNED_TX],
                value: bitcoin::consensus::serialize(&psbt.unsigned_tx),
            },
        );
        assert!(matches!(
            refused(&r),
            PsbtV2Error::ExcludedField { version: 2, .. }
        ));

        // Counts that do not match the maps.
        let mut r = raw(CORE_TWO_INPUTS);
        r.global
            .iter_mut()
            .find(|p| p.key_type() == GLOBAL_INPUT_COUNT)
            .unwrap()
            .value = vec![3];
        assert!(matches!(
            refused(&r),
            PsbtV2Error::Malformed(_) | PsbtV2Error::MissingField(_)
        ));
        let mut r = raw(CORE_TWO_INPUTS);
        r.global
            .iter_mut()
            .find(|p| p.key_type() == GLOBAL_INPUT_COUNT)
            .unwrap()
            .value = vec![1];
        assert!(matches!(
            refused(&r),
            PsbtV2Error::Malformed(_) | PsbtV2Error::MissingField(_)
        ));
        let mut r = raw(CORE_TWO_INPUTS);
        r.global
            .iter_mut()
            .find(|p| p.key_type() == GLOBAL_OUTPUT_COUNT)
            .unwrap()
            .value = vec![200];
        assert!(matches!(refused(&r), PsbtV2Error::Malformed(_)));

        // Unsupported PSBT version, and a transaction version below 2.
        let mut r = raw(CORE_TWO_INPUTS);
        r.global
            .iter_mut()
            .find(|p| p.key_type() == GLOBAL_VERSION)
            .unwrap()
            .value = 1u32.to_le_bytes().to_vec();
        assert_eq!(refused(&r), PsbtV2Error::UnsupportedVersion(1));
        let mut r = raw(CORE_TWO_INPUTS);
        r.global
            .iter_mut()
            .find(|p| p.key_type() == GLOBAL_TX_VERSION)
            .unwrap()
            .value = 1i32.to_le_bytes().to_vec();
        assert!(matches!(
            refused(&r),
            PsbtV2Error::BadField {
                field: "PSBT_GLOBAL_TX_VERSION",
                ..
            }
        ));

        // Fields of the wrong size, with key data, or out of range.
        let mut r = raw(CORE_TWO_INPUTS);
        r.inputs[0]
            .iter_mut()
            .find(|p| p.key_type() == IN_PREVIOUS_TXID)
            .unwrap()
            .value
            .pop();
        assert!(matches!(
            refused(&r),
            PsbtV2Error::BadField {
                field: "PSBT_IN_PREVIOUS_TXID",
                ..
            }
        ));
        let mut r = raw(CORE_TWO_INPUTS);
        r.inputs[0]
            .iter_mut()
            .find(|p| p.key_type() == IN_SEQUENCE)
            .unwrap()
            .key
            .push(0);
        assert!(matches!(
            refused(&r),
            PsbtV2Error::BadField {
                field: "PSBT_IN_SEQUENCE",
                ..
            }
        ));
        let mut r = raw(CORE_TWO_INPUTS);
        r.outputs[0]
            .iter_mut()
            .find(|p| p.key_type() == OUT_AMOUNT)
            .unwrap()
            .value = (-1i64).to_le_bytes().to_vec();
        assert!(matches!(
            refused(&r),
            PsbtV2Error::BadField {
                field: "PSBT_OUT_AMOUNT",
                ..
            }
        ));
        let mut r = raw(CORE_TWO_INPUTS);
        r.inputs[0].push(Pair {
            key: vec![IN_REQUIRED_TIME_LOCKTIME],
            value: 499_999_999u32.to_le_bytes().to_vec(),
        });
        assert!(matches!(refused(&r), PsbtV2Error::BadField { .. }));
        let mut r = raw(CORE_TWO_INPUTS);
        r.inputs[0].push(Pair {
            key: vec![IN_REQUIRED_HEIGHT_LOCKTIME],
            value: 0u32.to_le_bytes().to_vec(),
        });
        assert!(matches!(refused(&r), PsbtV2Error::BadField { .. }));

        // Duplicate keys and trailing bytes.
        let mut r = raw(CORE_TWO_INPUTS);
        let again = r.outputs[0][0].clone();
        r.outputs[0].push(again);
        assert!(matches!(refused(&r), PsbtV2Error::DuplicateKey { .. }));
        let mut trailing = bytes(CORE_TWO_INPUTS);
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(PsbtV2Error::Malformed(_))));
    }

    #[test]
    fn version_2_fields_in_a_version_0_psbt_are_refused() {
        let (psbt, _) = decode(&bytes(CORE_TWO_INPUTS)).unwrap();
        let v0 = psbt.serialize();
        for (map, key_type) in [
            ("global", GLOBAL_TX_VERSION),
            ("input", IN_PREVIOUS_TXID),
            ("output", OUT_AMOUNT),
        ] {
            let mut r = parse_raw(&v0).unwrap().0;
            let pair = Pair {
                key: vec![key_type],
                value: vec![0; 4],
            };
            match map {
                "global" => r.global.push(pair),
                "input" => r.inputs[0].push(pair),
                _ => r.outputs[0].push(pair),
            }
            assert!(
                matches!(refused(&r), PsbtV2Error::ExcludedField { version: 0, .. }),
                "{map}"
            );
        }
    }

    #[test]
    fn locktime_is_determined_as_bip370_says() {
        let input = |time: Option<u32>, height: Option<u32>| Version2Input {
            sequence_given: true,
            required_time: time,
            required_height: height,
        };
        // No requirement: the fallback, or 0.
        assert_eq!(determine_locktime(None, &[input(None, None)]), Ok(0));
        assert_eq!(determine_locktime(Some(700), &[input(None, None)]), Ok(700));
        // Heights (or both): the largest height, even with a fallback.
        assert_eq!(
            determine_locktime(
                Some(700),
                &[
                    input(None, Some(10_000)),
                    input(Some(1_657_048_460), Some(10_001)),
                    input(None, None)
                ]
            ),
            Ok(10_001)
        );
        // Times only: the largest time.
        assert_eq!(
            determine_locktime(
                None,
                &[
                    input(Some(1_657_048_459), None),
                    input(Some(1_657_048_460), Some(10))
                ]
            ),
            Ok(1_657_048_460)
        );
        // One needs a height, another a time: no locktime works.
        assert_eq!(
            determine_locktime(None, &[input(Some(1_657_048_459), None), input(None, Some(10))]),
            Err(PsbtV2Error::LocktimeConflict)
        );
    }

    #[test]
    fn a_changed_transaction_is_not_written_with_stale_version_2_fields() {
        let (mut psbt, version) = decode(&bytes(CORE_LOCKTIME_700)).unwrap();
        psbt.unsigned_tx.lock_time = LockTime::from_consensus(701);
        assert!(encode(&psbt, &version).is_err());
    }
}
