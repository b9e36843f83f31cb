//! How the shadow tells people: a log line per alarm, a status file (JSON, replaced
//! atomically after every check) that monitoring reads, and an outgoing webhook when
//! the set of alarms changes.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use sluice_fsutil::{Access, Existing};

use crate::crosscheck::{Alarm, CheckSummary};

/// What one check found; the status file's contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// `true` only when the check ran and found no alarm.
    pub healthy: bool,
    /// Unix seconds (informational).
    pub checked_at: i64,
    pub tip_height: Option<u32>,
    pub summary: serde_json::Value,
    pub alarms: Vec<serde_json::Value>,
    /// Sweeps made or still outstanding (txid, amount, state).
    #[serde(default)]
    pub sweeps: Vec<serde_json::Value>,
}

impl Status {
    pub fn new(checked_at: i64, tip_height: Option<u32>, summary: &CheckSummary, alarms: &[Alarm]) -> Status {
        Status {
            healthy: alarms.is_empty(),
            checked_at,
            tip_height,
            summary: serde_json::to_value(summary).unwrap_or_default(),
            alarms: alarms
                .iter()
                .map(|a| {
                    let mut value = serde_json::to_value(a).unwrap_or_default();
                    if let Some(map) = value.as_object_mut() {
                        map.insert("message".into(), a.to_string().into());
                    }
                    value
                })
                .collect(),
            sweeps: Vec::new(),
        }
    }

    /// The alarms without their times, to tell whether anything changed.
    fn alarm_set(&self) -> Vec<String> {
        let mut set: Vec<String> = self.alarms.iter().map(|a| a.to_string()).collect();
        set.sort();
        set
    }
}

/// Writes the status file atomically (a reader never sees half of it).
pub fn write_status(path: &Path, status: &Status) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(status)?;
    text.push(b'\n');
    sluice_fsutil::write_file(path, &text, Access::Readable, Existing::Replace)?;
    Ok(())
}

pub fn read_status(path: &Path) -> Option<Status> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Whether the alarms differ from those of the previous status.
pub fn alarms_changed(previous: Option<&Status>, now: &Status) -> bool {
    previous.map(Status::alarm_set) != Some(now.alarm_set())
}

/// POSTs the status to the webhook (http:// only; an outgoing connection). A failure is
/// logged, never fatal: the status file and the exit status still tell.
pub async fn post_webhook(url: &str, status: &Status) {
    let body = match serde_json::to_vec(status) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("sluice-shadow: webhook {url}: {e}");
            return;
        }
    };
    let request = match Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
    {
        Ok(request) => request,
        Err(e) => {
            eprintln!("sluice-shadow: webhook {url} is not a usable URL: {e}");
            return;
        }
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    match tokio::time::timeout(Duration::from_secs(15), client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => {}
        Ok(Ok(response)) => eprintln!("sluice-shadow: webhook {url} answered {}", response.status()),
        Ok(Err(e)) => eprintln!("sluice-shadow: webhook {url}: {e}"),
        Err(_) => eprintln!("sluice-shadow: webhook {url}: no answer within 15 s"),
    }
}
