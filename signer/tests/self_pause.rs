//! Issue 8 item 7: an online signer that is sent K PSBTs its inspection refuses within the
//! window (default 3 in 10 minutes) pauses itself until a signed `resume`. The real
//! `sluice-signer online` polls a fake coordinator (a loopback HTTP server in this test)
//! that offers three tampered PSBTs.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use bitcoin::secp256k1::{Keypair, Secp256k1};
use sluice_shared::limit_command::LimitAction;
use sluice_shared::signer_api::{sign_reply, RequestAuth, COORDINATOR_SIGNATURE_HEADER};
use support::*;

/// The fake coordinator's identity key; the signer is told to trust it at setup.
fn coordinator_key() -> Keypair {
    Keypair::from_seckey_slice(&Secp256k1::new(), &[0x42; 32]).unwrap()
}

/// Serves `body` for `GET /v1/signer/sessions` (and 404 for anything else) on a loopback
/// port chosen by the OS, each reply signed for the request it answers as the real
/// coordinator signs it; the thread ends with the test process.
fn fake_coordinator(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request).into_owned();
            let (status, code, reply) = if head.starts_with("GET /v1/signer/sessions ") {
                ("200 OK", 200, body.clone())
            } else {
                ("404 Not Found", 404, "{}".to_owned())
            };
            let mut lines = head.lines();
            let mut request_line = lines.next().unwrap_or_default().split(' ');
            let (method, path) = (
                request_line.next().unwrap_or_default().to_owned(),
                request_line.next().unwrap_or_default().to_owned(),
            );
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let signature = RequestAuth::from_headers(|name| {
                headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
            })
            .map(|auth| {
                sign_reply(
                    &Secp256k1::new(),
                    &coordinator_key(),
                    &auth.reply_context(&method, &path),
                    code,
                    reply.as_bytes(),
                    [0; 32],
                )
            })
            .unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{COORDINATOR_SIGNATURE_HEADER}: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    url
}

#[test]
fn three_tampered_sessions_pause_the_online_signer_until_a_signed_resume() {
    let fx = fixtures();
    let s = TestSigner::new();
    let extra = officer_args();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &extra);
    let (r, c, wallet) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    s.limits("1", "1", "1", "10");
    let id = s.ok(&["id"]).lines().last().unwrap().to_owned();
    let trusted = coordinator_key().x_only_public_key().0.to_string();
    s.ok(&["coordinator", "trust", &trusted]);

    // Three fee lies: segwit v0 inputs without the previous transaction.
    let sessions: Vec<serde_json::Value> = (0..3u32)
        .map(|i| {
            let mut psbt = make_psbt(&wallet, 1, btc("1"), btc("0.1"), btc("0.0001"), 40 + i);
            psbt.inputs[0].non_witness_utxo = None;
            serde_json::json!({ "id": i + 1, "wallet": "hot", "psbt": psbt.to_string() })
        })
        .collect();
    let url = fake_coordinator(serde_json::json!({ "sessions": sessions }).to_string());
    let out = s.ok(&["online", "--coordinator", &url, "--once"]);
    assert!(out.contains("PAUSED"), "{out}");
    let shown = s.ok(&["limits", "show"]);
    assert!(
        shown.contains("Paused           yes") && shown.contains("SELF-PAUSED"),
        "{shown}"
    );

    // Nothing is signed, offline either, until the officers sign a resume.
    let honest = s.path("honest.psbt");
    write_psbt(
        &honest,
        &make_psbt(&wallet, 1, btc("1"), btc("0.1"), btc("0.0001"), 50),
    );
    let err = s.fails(&["sign", "--yes", "--in", honest.to_str().unwrap()]);
    assert!(err.contains("paused"), "{err}");
    let officers = officers();
    let resume = limit_command(&id, LimitAction::Resume, 9, &[&officers[0], &officers[1]]);
    s.ok(&["limits", "apply", "--text", &resume]);
    assert!(!s.ok(&["limits", "show"]).contains("SELF-PAUSED"));
    s.ok(&["sign", "--yes", "--in", honest.to_str().unwrap()]);
    let journal = s.ok(&["journal", "show"]);
    assert!(journal.contains("self-paused"), "{journal}");
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
}
