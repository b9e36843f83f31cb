//! `sluice-signer online`: the signer dials out to the coordinator, fetches the signing
//! sessions that need its key, and treats each PSBT exactly as an offline `sign` does
//! (inspection against the registered wallet, signing plan, limits, a durable
//! reservation before the signature exists, the journal), then posts the signed PSBT.
//! It opens no port. Every request is signed with the signer's identity key.
//!
//! One poll takes all the sessions offered at once: it decides each PSBT (inspection,
//! plan, the limits' verdict: every refusal as for a single one), then reserves all the
//! approved ones in ONE sealed state commit (`pipeline::reserve_and_sign_all`: the state
//! authenticated once, the plans reserved in order as if one after another, then
//! signed), posts the signatures, and journals them all in one more commit, also those
//! whose posting failed (they may have left). If the reservation commit fails, nothing
//! is signed. Each sealed commit costs an fsync, a MAC over the covered rows and an anchor
//! write, so a poll costs two of them however many sessions it signs, instead of three
//! per session.
//!
//! A PSBT refused by inspection, the plan or as a repeat is refused for good (the same
//! bytes always fail the same way): it is journaled once and skipped afterwards. One
//! refused by the limits is tried again on each poll, since the bucket refills and limit
//! commands raise the total, but journaled and reported again only when the reason
//! changes. The limits decide each session as the sessions approved before it in the
//! same poll will leave them (a running budget), so a poll offering more than the limits
//! allow signs what fits and waits for the rest; the batch's reservation decides again in
//! its transaction and refuses (and journals) only what changed in between.
//!
//! What the signer cannot read is journaled too, once while it repeats: a session whose
//! PSBT does not decode (a refusal, rule `decoding`), and a 2xx reply that is not a
//! session list (`coordinator-reply-refused`). A coordinator that sends either is
//! broken or hostile, and the journal is where an auditor looks for that. Replies that
//! never arrive whole (unreachable, timeouts, a body over the size limit) are transport
//! failures, printed and retried but not journaled, as the network can cause them.

pub mod client;
#[cfg(feature = "tor")]
pub mod onion_transport;
pub mod transport;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Result;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use serde_json::json;
use sluice_shared::derived_keys::DerivedKeys;
use sluice_shared::limiter::FlowLimiter;
use sluice_shared::signer_api::SessionList;

use self::client::CoordinatorClient;
use self::transport::Transport;
use crate::coordinator_key;
use crate::home::Home;
use crate::keys::{self, KeyMaterial};
use crate::pipeline::{self, Decided, PipelineError, Rule};
use crate::reservation::ReservationError;
use crate::review::Decision;
use crate::state::{self, State};
use crate::{clock, passphrase};

/// How the online loop runs.
#[derive(Debug, Clone)]
pub struct OnlineOptions {
    pub poll: Duration,
    /// One poll, then exit (for scripts and tests).
    pub once: bool,
    /// Stealth mode on a private test network described by this file (tests and
    /// `sluice-devnet --tor`); the public Tor network when absent.
    pub tor_network: Option<std::path::PathBuf>,
}

/// What the loop remembers between polls.
#[derive(Debug, Default)]
struct Memory {
    /// txid → the reason it was refused for good.
    refused_for_good: HashMap<String, String>,
    /// txid → the last limits refusal journaled.
    waiting_on_limits: HashMap<String, String>,
    /// SHA-256 of each undecodable PSBT text already journaled.
    undecodable: HashSet<[u8; 32]>,
    /// The last unreadable reply journaled, while it repeats.
    unreadable_reply: Option<String>,
    /// Refused sessions counted toward pausing this signer (issue 8 item 7).
    refusals: Option<sluice_shared::self_pause::RefusalWindow>,
}

/// Journals what the signer could not read (its own transaction).
fn journal_unreadable(state: &mut State, event: &str, details: serde_json::Value) -> Result<()> {
    let tx = state.begin()?;
    state::journal(&tx, event, details)?;
    tx.commit()?;
    Ok(())
}

/// The session list, journaling a reply that arrived but is not one.
fn fetch_sessions<T: Transport>(
    client: &CoordinatorClient<T>,
    state: &mut State,
    memory: &mut Memory,
) -> Result<SessionList> {
    match client.sessions() {
        Ok(list) => {
            memory.unreadable_reply = None;
            Ok(list)
        }
        Err(error) if error.downcast_ref::<serde_json::Error>().is_some() => {
            let reason = format!("{error:#}");
            if memory.unreadable_reply.as_ref() != Some(&reason) {
                journal_unreadable(state, "coordinator-reply-refused", json!({ "reason": reason }))?;
                memory.unreadable_reply = Some(reason);
            }
            Err(error)
        }
        Err(error) => Err(error),
    }
}

fn say(text: &str) {
    println!("[{}] {text}", clock::utc_text(clock::unix_now()));
}

/// Runs the online signer until killed (or one poll with `once`).
pub fn run(
    home: &Home,
    passphrase_file: Option<&Path>,
    coordinator: &str,
    options: &OnlineOptions,
) -> Result<()> {
    home.require_initialized()?;
    // Refuse an unusable coordinator before the passphrase is asked for.
    let target = Target::parse(coordinator)?;
    let coordinator_key = coordinator_key::load(home)?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let transport = target.connect(home, &keys, options)?;
    let client = CoordinatorClient::new(transport, keys.identity_keypair()?, coordinator_key);
    let mut state = State::open_keyed(&home.state(), keys.state_key())?;
    say(&format!(
        "signer {} online: polling {coordinator} every {} s",
        keys.signer_id()?,
        options.poll.as_secs_f64()
    ));
    let mut memory = Memory::default();
    let mut backoff = options.poll;
    loop {
        match poll_once(&client, &mut state, &keys, &mut memory) {
            Ok(()) => backoff = options.poll,
            Err(error) => {
                client::journal_if_unauthenticated(&mut state, &error)?;
                if options.once {
                    return Err(error);
                }
                say(&format!("{error:#}; retrying in {} s", backoff.as_secs_f64()));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        }
        if options.once {
            return Ok(());
        }
        derive_keys_ahead(&state);
        std::thread::sleep(options.poll);
    }
}

/// The most wallet keys derived ahead between two polls (about 20 µs each: 40 ms).
const KEYS_AHEAD_PER_POLL: usize = 2_000;

/// Between polls, makes the registered wallets' next keys (`sluice_shared::derived_keys`)
/// so that inspecting the next PSBTs finds them made. Only a speed-up: a failure to list
/// the wallets is left to the next poll, which reports it.
fn derive_keys_ahead(state: &State) {
    if let Ok(wallets) = state.wallets() {
        for wallet in &wallets {
            wallet.descriptor.remember_keys();
        }
    }
    DerivedKeys::global().derive_ahead(KEYS_AHEAD_PER_POLL);
}

/// Where the coordinator is: loopback HTTP, or (stealth mode) an onion service.
enum Target {
    Http(transport::HttpTransport),
    #[cfg(feature = "tor")]
    Onion(sluice_tor::OnionAddress),
}

impl Target {
    fn parse(coordinator: &str) -> Result<Target> {
        if looks_like_onion(coordinator) {
            #[cfg(feature = "tor")]
            return Ok(Target::Onion(coordinator.parse()?));
            #[cfg(not(feature = "tor"))]
            anyhow::bail!(
                "{coordinator} is an onion service, but this sluice-signer was built without the `tor` feature (stealth mode): use a build with default features"
            );
        }
        Ok(Target::Http(transport::HttpTransport::new(coordinator)?))
    }

    #[cfg_attr(not(feature = "tor"), allow(unused_variables))]
    fn connect(self, home: &Home, keys: &KeyMaterial, options: &OnlineOptions) -> Result<Box<dyn Transport>> {
        match self {
            Target::Http(transport) => Ok(Box::new(transport)),
            #[cfg(feature = "tor")]
            Target::Onion(address) => {
                let network = match &options.tor_network {
                    Some(file) => sluice_tor::NetworkConfig::read(file)?,
                    None => sluice_tor::NetworkConfig::Public,
                };
                let key = sluice_tor::DiscoveryKey::from_bytes(*keys.tor_discovery_secret()?);
                say(&format!(
                    "joining the Tor network to reach {address} (stealth mode)"
                ));
                let started = std::time::Instant::now();
                let transport = onion_transport::OnionTransport::start(home, address, &key, &network)?;
                say(&format!("Tor ready in {:.1} s", started.elapsed().as_secs_f64()));
                Ok(Box::new(transport))
            }
        }
    }
}

/// `http://….onion[:PORT]`: stealth mode's address, whatever this build supports.
fn looks_like_onion(url: &str) -> bool {
    let url = url.trim().trim_end_matches('/');
    let host = url.strip_prefix("http://").unwrap_or(url);
    let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
    host.to_ascii_lowercase().ends_with(".onion")
}

/// Tells the coordinator why a session is not signed, so staff see it on the withdrawal.
/// A failed report is said and otherwise ignored: it must never stop signing others.
fn report_refusal<T: Transport>(client: &CoordinatorClient<T>, session: u64, reason: &str, detail: &str) {
    if let Err(error) = client.post_refusal(session, reason, detail) {
        say(&format!(
            "session {session}: could not report the refusal to the coordinator: {error:#}"
        ));
    }
}

/// A session every check so far lets through, waiting for the batch's reservation.
struct Approved {
    session: u64,
    txid: String,
    wallet: String,
}

/// Fetches the sessions and answers them: decides each one, reserves and signs all those
/// approved in one sealed commit, posts the signatures, and journals them all in one
/// more.
fn poll_once<T: Transport>(
    client: &CoordinatorClient<T>,
    state: &mut State,
    keys: &KeyMaterial,
    memory: &mut Memory,
) -> Result<()> {
    let mut approved = Vec::new();
    let mut plans = Vec::new();
    let mut budget: Option<FlowLimiter> = None;
    for offer in fetch_sessions(client, state, memory)?.sessions {
        let psbt = match Psbt::from_str(offer.psbt.trim()) {
            Ok(psbt) => psbt,
            Err(e) => {
                let reason = format!("the coordinator sent a PSBT that does not parse: {e}");
                say(&format!("session {}: refused (decoding): {reason}", offer.id));
                let digest = sha256::Hash::hash(offer.psbt.as_bytes()).to_byte_array();
                if memory.undecodable.insert(digest) {
                    journal_unreadable(
                        state,
                        "refused",
                        json!({ "session": offer.id, "wallet": offer.wallet, "rule": "decoding", "reason": reason }),
                    )?;
                }
                continue;
            }
        };
        let txid = psbt.unsigned_tx.compute_txid().to_string();
        if memory.refused_for_good.contains_key(&txid) {
            continue;
        }
        let Decided {
            wallet,
            plan,
            decision,
            limits,
        } = match pipeline::decide(state, psbt, None) {
            Ok(decided) => decided,
            Err(refusal) => {
                // Inspection and plan refusals were journaled by `decide`.
                refused_for_good(client, state, memory, offer.id, txid, &refusal)?;
                continue;
            }
        };
        // The limits as the sessions approved before it in this poll will leave them: a
        // session they would not cover waits here, journaled once while its reason holds,
        // rather than being refused (and journaled) by the batch's reservation on every
        // poll.
        let budget = budget.get_or_insert(limits.limiter);
        let decision = within_budget(budget, decision, plan.review().outflow());
        if let Decision::Refused(refusal) = decision {
            let reason = refusal.to_string();
            if memory.waiting_on_limits.get(&txid) != Some(&reason) {
                let error = pipeline::refuse(state, &txid, &wallet.name, Rule::Limits, reason.clone())?;
                say(&format!("session {} ({txid}): {error}; waiting", offer.id));
                report_refusal(client, offer.id, refusal.code(), &reason);
                memory.waiting_on_limits.insert(txid, reason);
            }
            continue;
        }
        approved.push(Approved {
            session: offer.id,
            txid,
            wallet: wallet.name,
        });
        plans.push(plan);
    }
    if plans.is_empty() {
        return Ok(());
    }
    // One sealed commit for every reservation of this poll; if it fails, nothing is
    // reserved and nothing signed.
    let results = pipeline::reserve_and_sign_all(state, keys, plans)?;
    let mut signed = Vec::new();
    let mut failure = None;
    for (approved, result) in approved.into_iter().zip(results) {
        match result {
            Ok(signature) => {
                memory.waiting_on_limits.remove(&approved.txid);
                signed.push((approved, signature));
            }
            Err(PipelineError::Reservation(ReservationError::Refused(refusal))) => {
                // The limits ran out within this batch; journaled in its commit. Waiting,
                // as for a refusal by the limits at `decide`.
                let reason = refusal.to_string();
                if memory.waiting_on_limits.get(&approved.txid) != Some(&reason) {
                    say(&format!(
                        "session {} ({}): refused (limits): {reason}; waiting",
                        approved.session, approved.txid
                    ));
                    report_refusal(client, approved.session, refusal.code(), &reason);
                    memory.waiting_on_limits.insert(approved.txid, reason);
                }
            }
            Err(PipelineError::Reservation(ReservationError::RepeatDiffers(reason))) => {
                // Another PSBT of this txid, earlier in the batch, claimed another outflow;
                // journaled in the batch's commit.
                let refusal = PipelineError::Refused {
                    rule: Rule::Repeat,
                    reason,
                };
                refused_for_good(client, state, memory, approved.session, approved.txid, &refusal)?;
            }
            Err(error) => {
                // Signing failed after the reservation, which stands (fail closed).
                say(&format!(
                    "session {} ({}): {error:#}",
                    approved.session, approved.txid
                ));
                failure.get_or_insert(anyhow::Error::new(error).context(format!(
                    "session {} ({}): not signed",
                    approved.session, approved.txid
                )));
            }
        }
    }
    let receipts = post_all(client, &signed);
    // Every signature has left (or may have left) the signer: journal them all, in one
    // commit, whether or not posting succeeded.
    let places: Vec<String> = signed
        .iter()
        .map(|(approved, _)| format!("coordinator session {}", approved.session))
        .collect();
    let released: Vec<pipeline::Released<'_>> = signed
        .iter()
        .zip(&places)
        .map(|((approved, signed), place)| pipeline::Released {
            signed,
            wallet: &approved.wallet,
            written_to: place,
        })
        .collect();
    pipeline::journal_signed_all(state, &released)?;
    for ((approved, signed), receipt) in signed.iter().zip(receipts) {
        match receipt {
            Ok(receipt) => say(&format!(
                "session {} ({}): signed {} outflow for wallet {}; coordinator stored {} signature(s){}",
                approved.session,
                approved.txid,
                sluice_shared::asset::format_btc(signed.outflow),
                approved.wallet,
                receipt.stored,
                if receipt.session_signed {
                    ", session complete"
                } else {
                    ""
                }
            )),
            Err(error) => {
                say(&format!(
                    "session {} ({}): signed, but posting the signature failed: {error:#}",
                    approved.session, approved.txid
                ));
                failure.get_or_insert(error);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// `decision` (made for a session of `outflow` against the limits as they stand) against
/// `budget`, the limits less what the sessions approved before it in this poll will
/// reserve; an approval is taken from `budget`. The batch's reservation decides again,
/// in its transaction.
fn within_budget(budget: &mut FlowLimiter, decision: Decision, outflow: Amount) -> Decision {
    let charge = match &decision {
        Decision::Sign => Some(outflow),
        Decision::Replace { charge, .. } => Some(*charge),
        Decision::SignAgain | Decision::Refused(_) => None,
    };
    match charge {
        Some(charge) => match budget.reserve(charge) {
            Ok(()) => decision,
            Err(refusal) => Decision::Refused(refusal),
        },
        None => decision,
    }
}

/// How many signatures are posted at once: enough to overlap the coordinator's work on
/// a poll's sessions, few enough not to flood it (or a Tor circuit).
const POSTS_IN_FLIGHT: usize = 4;

/// Posts each signed PSBT to its session, up to [`POSTS_IN_FLIGHT`] at once; the receipts
/// in the order of `signed`.
fn post_all<T: Transport>(
    client: &CoordinatorClient<T>,
    signed: &[(Approved, pipeline::Signed)],
) -> Vec<Result<sluice_shared::signer_api::SignatureReceipt>> {
    let mut receipts = Vec::with_capacity(signed.len());
    for group in signed.chunks(POSTS_IN_FLIGHT) {
        std::thread::scope(|scope| {
            let posts: Vec<_> = group
                .iter()
                .map(|(approved, signed)| {
                    scope.spawn(|| client.post_signatures(approved.session, &signed.psbt))
                })
                .collect();
            for post in posts {
                receipts.push(post.join().unwrap_or_else(|_| {
                    Err(anyhow::anyhow!(
                        "posting the signature failed: the posting thread panicked"
                    ))
                }));
            }
        });
    }
    receipts
}

/// A refusal that the same bytes will always meet (inspection, plan, repeat): counted
/// toward the self-pause, reported, and skipped on later polls. Already journaled.
fn refused_for_good<T: Transport>(
    client: &CoordinatorClient<T>,
    state: &mut State,
    memory: &mut Memory,
    session: u64,
    txid: String,
    refusal: &PipelineError,
) -> Result<()> {
    say(&format!("session {session} ({txid}): {refusal:#}"));
    if let PipelineError::Refused { rule, reason } = refusal {
        let now = clock::monotonic_now();
        if let Some(why) = crate::self_pause::count_refusal(state, &mut memory.refusals, now, *rule, reason)?
        {
            say(&format!("PAUSED: {why}"));
        }
    }
    report_refusal(client, session, "inspection", &format!("{refusal:#}"));
    memory.refused_for_good.insert(txid, format!("{refusal:#}"));
    Ok(())
}
