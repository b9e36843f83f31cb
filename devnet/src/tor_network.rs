//! A private Tor network on 127.0.0.1 for the stealth-mode tests and `sluice-devnet --tor`:
//! three directory authorities (which are relays too) and two more relays, all Debian's C
//! `tor` with `TestingTorNetwork 1`. Authority keys come from `tor-gencert`. The network is
//! ready when the microdescriptor consensus that clients (arti) use lists every relay; arti
//! then needs only [`TorNetwork::authorities`] and [`TorNetwork::fallback_caches`] (see
//! `sluice_tor::NetworkConfig`). Every process is killed, and the directory removed, on drop.
//!
//! No onion-service host or client runs here: arti does both in-process on either side.
//! Facts this follows (voting interval, fallback identities, readiness) are in the team note
//! `tor-private-network.md`.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The authorities' voting interval. arti's onion-service time period must match the one C
/// tor derives from it (24 × interval, in minutes: 6), and arti accepts no period under 5
/// minutes, so 15 s is the shortest usable interval.
pub const VOTING_INTERVAL: Duration = Duration::from_secs(15);
/// How long the network may take until its consensus lists every relay (about 60 s here).
const READY_WITHIN: Duration = Duration::from_secs(240);
const AUTHORITIES: usize = 3;
const RELAYS: usize = 2;

/// A directory authority, as arti's `tor_network.authorities` names it.
#[derive(Debug, Clone)]
pub struct Authority {
    pub nickname: String,
    /// The v3 identity (hex SHA-1 of the authority identity key), from `tor-gencert`.
    pub v3ident: String,
}

/// A relay arti may bootstrap from (`tor_network.fallback_caches`).
#[derive(Debug, Clone)]
pub struct FallbackCache {
    /// Hex RSA identity fingerprint (`DataDirectory/fingerprint`).
    pub rsa_identity: String,
    /// Base64 Ed25519 identity (`DataDirectory/fingerprint-ed25519`).
    pub ed_identity: String,
    pub or_port: u16,
}

/// One `tor` process of the network.
#[derive(Debug)]
struct Node {
    nickname: String,
    dir: PathBuf,
    or_port: u16,
    dir_port: u16,
    torrc: PathBuf,
    child: Option<Child>,
}

/// A running private Tor network.
#[derive(Debug)]
pub struct TorNetwork {
    /// Removed on drop (after the processes are killed).
    root: tempfile::TempDir,
    tor: PathBuf,
    nodes: Vec<Node>,
    authorities: Vec<Authority>,
    fallback_caches: Vec<FallbackCache>,
    started_in: Duration,
}

/// Where Debian puts `tor` and `tor-gencert`; `SLUICE_TOR_DIR` names another directory.
pub fn tor_binaries() -> Result<(PathBuf, PathBuf)> {
    let find = |name: &str, default_dir: &str| -> Result<PathBuf> {
        let dir = std::env::var_os("SLUICE_TOR_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default_dir));
        let path = dir.join(name);
        if !path.is_file() {
            bail!(
                "no {name} in {}: install Debian's tor package (`apt-get install tor`; .ci/run does), or set SLUICE_TOR_DIR to a directory holding tor and tor-gencert",
                dir.display()
            );
        }
        Ok(path)
    };
    Ok((find("tor", "/usr/sbin")?, find("tor-gencert", "/usr/bin")?))
}

impl TorNetwork {
    /// Starts the network and waits (bounded) until its consensus lists every relay.
    pub fn start() -> Result<TorNetwork> {
        let began = Instant::now();
        let (tor, gencert) = tor_binaries()?;
        let root = tempfile::Builder::new()
            .prefix("sluice-tor-network-")
            .tempdir()
            .context("creating the Tor network's directory")?;
        let ports = free_ports(2 * (AUTHORITIES + RELAYS))?;
        let mut nodes = Vec::new();
        for index in 0..AUTHORITIES + RELAYS {
            let nickname = if index < AUTHORITIES {
                format!("auth{index}")
            } else {
                format!("relay{}", index - AUTHORITIES)
            };
            let dir = root.path().join(&nickname);
            fs::create_dir_all(dir.join("keys"))?;
            set_private(&dir)?;
            nodes.push(Node {
                torrc: dir.join("torrc"),
                nickname,
                dir,
                or_port: ports[2 * index],
                dir_port: ports[2 * index + 1],
                child: None,
            });
        }

        // The authorities' keys, then the DirAuthority lines every node needs.
        let mut authorities = Vec::new();
        let mut dir_authority_lines = String::new();
        for node in &nodes[..AUTHORITIES] {
            let v3ident = generate_authority_keys(&gencert, node)?;
            let rsa = rsa_fingerprint(&tor, node)?;
            dir_authority_lines.push_str(&format!(
                "DirAuthority {} orport={} no-v2 v3ident={v3ident} 127.0.0.1:{} {rsa}\n",
                node.nickname, node.or_port, node.dir_port
            ));
            authorities.push(Authority {
                nickname: node.nickname.clone(),
                v3ident,
            });
        }
        for (index, node) in nodes.iter().enumerate() {
            fs::write(
                &node.torrc,
                torrc(node, index < AUTHORITIES, &dir_authority_lines),
            )?;
        }

        let mut network = TorNetwork {
            root,
            tor,
            nodes,
            authorities,
            fallback_caches: Vec::new(),
            started_in: Duration::ZERO,
        };
        network.start_processes()?;
        network.fallback_caches = network.read_identities()?;
        network.wait_until_consensus_lists_every_relay(began + READY_WITHIN)?;
        network.started_in = began.elapsed();
        Ok(network)
    }

    /// The authorities, for arti's `tor_network.authorities`.
    pub fn authorities(&self) -> &[Authority] {
        &self.authorities
    }

    /// Every relay (authorities included), for arti's `tor_network.fallback_caches`.
    pub fn fallback_caches(&self) -> &[FallbackCache] {
        &self.fallback_caches
    }

    /// How long [`TorNetwork::start`] took, until the consensus listed every relay.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The onion-service time period (minutes) that C tor derives from the voting interval
    /// under `TestingTorNetwork`: arti's `override_net_params.hsdir_interval` must match.
    pub fn hsdir_interval_minutes(&self) -> u64 {
        24 * VOTING_INTERVAL.as_secs() / 60
    }

    /// Kills every `tor` process (the circuit breaker: no path to the onion service remains).
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts the processes again with their keys and state (after [`TorNetwork::stop`]),
    /// and waits (bounded) until the consensus lists every relay again.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start_processes()?;
        self.wait_until_consensus_lists_every_relay(Instant::now() + READY_WITHIN)
    }

    fn start_processes(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            let log = fs::File::create(node.dir.join("stdout.log"))?;
            let child = Command::new(&self.tor)
                .arg("-f")
                .arg(&node.torrc)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {} for {}", self.tor.display(), node.nickname))?;
            node.child = Some(child);
        }
        Ok(())
    }

    /// Each relay writes its identities to its data directory about a second after start.
    fn read_identities(&mut self) -> Result<Vec<FallbackCache>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut caches = Vec::new();
        for index in 0..self.nodes.len() {
            let (nickname, dir, or_port) = {
                let node = &self.nodes[index];
                (node.nickname.clone(), node.dir.clone(), node.or_port)
            };
            let (rsa, ed) = loop {
                let rsa = fs::read_to_string(dir.join("fingerprint"));
                let ed = fs::read_to_string(dir.join("fingerprint-ed25519"));
                if let (Ok(rsa), Ok(ed)) = (rsa, ed) {
                    if let (Some(rsa), Some(ed)) = (second_word(&rsa), second_word(&ed)) {
                        break (rsa, ed);
                    }
                }
                self.check_running()?;
                if Instant::now() > deadline {
                    bail!(
                        "{nickname} wrote no identity fingerprints within 30 s:\n{}",
                        log_tail(&dir.join("notice.log"), 15)
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            caches.push(FallbackCache {
                rsa_identity: rsa,
                ed_identity: ed,
                or_port,
            });
        }
        Ok(caches)
    }

    fn wait_until_consensus_lists_every_relay(&mut self, deadline: Instant) -> Result<()> {
        let expected = self.nodes.len();
        loop {
            self.check_running()?;
            // Every authority must serve the full consensus, not only one of them.
            let counts: Vec<usize> = self.nodes[..AUTHORITIES]
                .iter()
                .map(|node| relays_in_consensus(node.dir_port).unwrap_or(0))
                .collect();
            if counts.iter().all(|&count| count >= expected) {
                return Ok(());
            }
            let listed = counts.into_iter().min().unwrap_or(0);
            if Instant::now() > deadline {
                bail!(
                    "the private Tor network's consensus lists {listed} of {expected} relays with the flags onion services need ({FLAGS_NEEDED:?}) after {READY_WITHIN:?}:\n{}",
                    log_tail(&self.nodes[0].dir.join("notice.log"), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn check_running(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "tor ({}) exited ({status}):\n{}\n{}",
                        node.nickname,
                        log_tail(&node.dir.join("stdout.log"), 10),
                        log_tail(&node.dir.join("notice.log"), 10)
                    );
                }
            }
        }
        Ok(())
    }

    /// The network as arti's configuration names it (`sluice_tor::NetworkConfig`).
    pub fn network_config(&self) -> sluice_tor::NetworkConfig {
        sluice_tor::NetworkConfig::Private {
            authorities: self.authorities.iter().map(|a| a.v3ident.clone()).collect(),
            fallback_caches: self
                .fallback_caches
                .iter()
                .map(|relay| sluice_tor::FallbackRelay {
                    rsa_identity: relay.rsa_identity.clone(),
                    ed_identity: relay.ed_identity.clone(),
                    or_address: format!("127.0.0.1:{}", relay.or_port),
                })
                .collect(),
            hsdir_interval_minutes: u32::try_from(self.hsdir_interval_minutes()).unwrap_or(u32::MAX),
        }
    }

    /// Writes [`TorNetwork::network_config`] for `--tor-network FILE` of the coordinator
    /// and the signers.
    pub fn write_network_file(&self, path: &Path) -> Result<()> {
        fs::write(path, self.network_config().to_json())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The process ids of the running `tor` processes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|node| node.child.as_ref().map(Child::id))
            .collect()
    }

    /// The microdescriptor consensus served by the first authority (diagnostics).
    pub fn consensus_text(&self) -> String {
        fetch_consensus(self.nodes[0].dir_port).unwrap_or_default()
    }

    /// The network's directory (logs: `NICKNAME/notice.log`).
    pub fn dir(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for TorNetwork {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `tor-gencert` for an authority; returns its v3 identity.
fn generate_authority_keys(gencert: &Path, node: &Node) -> Result<String> {
    let keys = node.dir.join("keys");
    let mut child = Command::new(gencert)
        .arg("--create-identity-key")
        .arg("--passphrase-fd")
        .arg("0")
        .arg("-m")
        .arg("12")
        .arg("-a")
        .arg(format!("127.0.0.1:{}", node.dir_port))
        .arg("-i")
        .arg(keys.join("authority_identity_key"))
        .arg("-s")
        .arg(keys.join("authority_signing_key"))
        .arg("-c")
        .arg(keys.join("authority_certificate"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", gencert.display()))?;
    // An empty passphrase: these keys live and die with the test network.
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"\n")?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "tor-gencert failed for {}: {}",
            node.nickname,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let certificate = fs::read_to_string(keys.join("authority_certificate"))?;
    certificate
        .lines()
        .find_map(|line| line.strip_prefix("fingerprint "))
        .map(|hex| hex.trim().to_owned())
        .context("tor-gencert wrote a certificate without a fingerprint line")
}

/// The relay's RSA identity fingerprint (tor creates the key if needed).
fn rsa_fingerprint(tor: &Path, node: &Node) -> Result<String> {
    let output = Command::new(tor)
        .args(["--quiet", "--ignore-missing-torrc", "--list-fingerprint"])
        .arg("--DataDirectory")
        .arg(&node.dir)
        .args(["--ORPort", "1", "--Nickname"])
        .arg(&node.nickname)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --list-fingerprint", tor.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let fingerprint: String = text
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{} ", node.nickname)))
        .map(|rest| rest.split_whitespace().collect())
        .unwrap_or_default();
    if !output.status.success() || fingerprint.len() != 40 {
        bail!(
            "tor --list-fingerprint for {} failed: {}{}",
            node.nickname,
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(fingerprint)
}

fn torrc(node: &Node, authority: bool, dir_authority_lines: &str) -> String {
    let dir = node.dir.display();
    let interval = VOTING_INTERVAL.as_secs();
    let mut text = format!(
        "TestingTorNetwork 1
DataDirectory {dir}
PidFile {dir}/pid
Log notice file {dir}/notice.log
RunAsDaemon 0
Nickname {nickname}
ContactInfo {nickname}@sluice.test
ShutdownWaitLength 0
SafeLogging 0
LogTimeGranularity 1
SocksPort 0
ControlPort 0
__OwningControllerProcess {owner}
Address 127.0.0.1
OutboundBindAddress 127.0.0.1
ORPort 127.0.0.1:{or_port}
DirPort 127.0.0.1:{dir_port}
AssumeReachable 1
PathsNeededToBuildCircuits 0.67
ExitRelay 0
ExitPolicy reject *:*
{dir_authority_lines}",
        nickname = node.nickname,
        or_port = node.or_port,
        dir_port = node.dir_port,
        // tor exits by itself when this process is gone, even where `Drop` never runs (a
        // network kept in a `static` for a whole test binary, a killed devnet).
        owner = std::process::id(),
    );
    if authority {
        text.push_str(&format!(
            "AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
V3AuthVotingInterval {interval} seconds
TestingV3AuthInitialVotingInterval 5 seconds
V3AuthVoteDelay 2 seconds
TestingV3AuthInitialVoteDelay 2 seconds
V3AuthDistDelay 2 seconds
TestingV3AuthInitialDistDelay 2 seconds
TestingDirAuthVoteGuard *
TestingDirAuthVoteHSDir *
TestingMinExitFlagThreshold 0
TestingMinFastFlagThreshold 0
AuthDirFastGuarantee 0
AuthDirVoteStableGuaranteeMinUptime 0
AuthDirVoteStableGuaranteeMTBF 0
"
        ));
    }
    text
}

/// How many relays the microdescriptor consensus (what arti fetches) served by the
/// authority on `dir_port` lists; `None` while it has none.
/// Relays must carry these flags before arti can build onion-service circuits: onion
/// service paths need Stable middles and intro points, and with five relays every one of
/// them is needed (a relay without Stable left "3/3 in same family" and no intro point).
const FLAGS_NEEDED: [&str; 6] = ["Fast", "Guard", "HSDir", "Running", "Stable", "Valid"];

fn relays_in_consensus(dir_port: u16) -> Option<usize> {
    let text = fetch_consensus(dir_port)?;
    let mut ready = 0;
    let mut listed = false;
    for line in text.lines() {
        if line.starts_with("r ") {
            listed = true;
        } else if let Some(flags) = line.strip_prefix("s ").filter(|_| listed) {
            listed = false;
            let flags: Vec<&str> = flags.split_whitespace().collect();
            if FLAGS_NEEDED.iter().all(|flag| flags.contains(flag)) {
                ready += 1;
            }
        }
    }
    Some(ready)
}

fn fetch_consensus(dir_port: u16) -> Option<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, dir_port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /tor/status-vote/current/consensus-microdesc HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut reply = Vec::new();
    stream.take(4 * 1024 * 1024).read_to_end(&mut reply).ok()?;
    let text = String::from_utf8_lossy(&reply);
    if !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    Some(text.into_owned())
}

/// `count` distinct ports of 127.0.0.1 that were free a moment ago: all are held open
/// until every one is picked, so the network never gets one port twice.
fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port"))
        .collect::<Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

fn second_word(line: &str) -> Option<String> {
    line.split_whitespace().nth(1).map(str::to_owned)
}

fn set_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // tor refuses a data directory others can read.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
