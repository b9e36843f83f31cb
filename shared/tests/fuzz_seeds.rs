//! Replays the fuzz targets' seed corpus (`fuzz/seeds/`) on stable Rust, so CI runs the
//! same entry points `cargo fuzz` drives, and checks the corpus still holds inputs that
//! reach deep (valid commands, complete PSBTs, accepted PSBTs) for the fuzzer to mutate.
//!
//! `cargo test -p sluice-shared --test fuzz_seeds -- --ignored` regenerates the seeds this
//! file writes (`regenerate_seeds`).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use sluice_shared::asset::Asset;
use sluice_shared::fuzz_entry::{self, FUZZ_NOW, FUZZ_SIGNER};
use sluice_shared::inspect::inspect_psbt;
use sluice_shared::limit_command::*;
use sluice_shared::limiter::RateLimit;
use sluice_shared::ur_psbt::PsbtPartDecoder;
use sluice_shared::{api, signer_api};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = seeds_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "too few seeds in {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn limit_command_seeds() {
    let mut valid = 0;
    for seed in seeds("limit_command_decode") {
        fuzz_entry::limit_command(&seed);
        let text = String::from_utf8_lossy(&seed);
        if verify(&text, fuzz_entry::fuzz_officers(), FUZZ_SIGNER, FUZZ_NOW).is_ok() {
            valid += 1;
        }
    }
    assert!(valid >= 2, "the corpus should hold commands that verify");
}

#[test]
fn ur_psbt_seeds() {
    let mut complete = 0;
    for seed in seeds("ur_psbt_decode") {
        fuzz_entry::ur_psbt(&seed);
        let mut decoder = PsbtPartDecoder::new();
        for line in String::from_utf8_lossy(&seed).lines() {
            let _ = decoder.receive(line);
        }
        complete += usize::from(decoder.psbt_bytes().is_ok());
    }
    assert!(complete >= 3, "the corpus should hold complete PSBTs");
}

#[test]
fn camera_frame_seeds() {
    let mut read = 0;
    for seed in seeds("camera_frame") {
        for len in 0..=seed.len() {
            fuzz_entry::camera_frame(&seed[..len]);
        }
        read += 1;
    }
    assert!(read >= 3, "the corpus should hold camera frames");
}

#[test]
fn video_frames_seeds() {
    let mut read = 0;
    for seed in seeds("video_frames") {
        fuzz_entry::video_frames(&seed);
        for len in (0..seed.len()).step_by(5) {
            fuzz_entry::video_frames(&seed[..len]);
        }
        read += usize::from(sluice_shared::video_frames::frames(&seed).is_ok_and(|f| !f.is_empty()));
    }
    assert!(read >= 3, "the corpus should hold readable videos");
    // The APNG seed: a white frame; a black 4×4 subframe at (2, 2), cleared afterwards
    // (dispose to background); a grey 2×2 subframe at (0, 0) blended over.
    let apng = std::fs::read(seeds_dir("video_frames").join("apng_subframes.png")).unwrap();
    let frames = sluice_shared::video_frames::frames(&apng).unwrap();
    let at = |n: usize, x, y| frames[n].get_pixel(x, y)[0];
    assert_eq!(frames.len(), 3);
    assert_eq!((at(0, 3, 3), at(1, 3, 3), at(1, 0, 0)), (255, 0, 255));
    assert_eq!((at(2, 0, 0), at(2, 3, 3)), (90, 255));
}

#[test]
fn psbt_inspect_seeds() {
    let mut accepted = 0;
    for seed in seeds("psbt_inspect") {
        fuzz_entry::psbt_inspect(&seed);
        // And every truncation of it.
        for len in (0..seed.len()).step_by(7) {
            fuzz_entry::psbt_inspect(&seed[..len]);
        }
        if let Ok(psbt) = Psbt::deserialize(&seed) {
            let review = inspect_psbt(&psbt, fuzz_entry::fuzz_wallet(), &fuzz_entry::fuzz_policy());
            accepted += usize::from(review.is_ok());
        }
    }
    assert!(
        accepted >= 2,
        "the corpus should hold PSBTs the fixture wallet accepts"
    );
}

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = seeds_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

#[test]
#[ignore = "writes fuzz/seeds/; run by hand to regenerate the corpus"]
fn regenerate_seeds() {
    let command = |action, not_after| {
        SignedLimitCommand::unsigned(LimitCommand {
            id: CommandId(*b"fuzz seed cmd id"),
            signer: FUZZ_SIGNER,
            asset: Asset::Btc,
            action,
            not_before: FUZZ_NOW - 86_400,
            not_after,
        })
    };
    let signed = |action, who: &[u8]| {
        let mut c = command(action, FUZZ_NOW + 86_400);
        for n in who {
            c.sign(&fuzz_entry::fuzz_officer(*n), [*n; 32]).unwrap();
        }
        c
    };
    let raise = LimitAction::RaiseTotal {
        amount: Amount::from_sat(1_000_000_000),
    };
    let rate = LimitAction::SetRate {
        rate: RateLimit {
            amount: Amount::from_sat(4_000_000),
            per: std::time::Duration::from_secs(60),
            burst: Amount::from_sat(100_000_000),
        },
    };
    let t = "limit_command_decode";
    let text = |c: SignedLimitCommand| c.encode_text().unwrap().into_bytes();
    write_seed(t, "raise_total_2of3.txt", &text(signed(raise, &[1, 2])));
    write_seed(t, "set_rate_2of3.txt", &text(signed(rate, &[3, 1])));
    write_seed(t, "pause_3of3.txt", &text(signed(LimitAction::Pause, &[1, 2, 3])));
    write_seed(t, "resume_1of3.txt", &text(signed(LimitAction::Resume, &[2])));
    let release = LimitAction::Release {
        release: Release {
            purpose: ReleasePurpose::ReturnToOwner,
            network: bitcoin::Network::Regtest,
            outpoint: bitcoin::OutPoint {
                txid: bitcoin::Txid::from_str(
                    "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
                )
                .unwrap(),
                vout: 1,
            },
            amount: Amount::from_sat(50_000_000),
            destination: ReleaseDestination::from_script(&bitcoin::ScriptBuf::new_p2wpkh(
                &bitcoin::WPubkeyHash::from_byte_array([7; 20]),
            ))
            .unwrap(),
        },
    };
    write_seed(t, "release_2of3.txt", &text(signed(release, &[1, 3])));
    write_seed(
        t,
        "raise_total_2of3.bin",
        &signed(raise, &[1, 2]).to_bytes().unwrap(),
    );
    write_seed(
        t,
        "unsigned.bin",
        &command(LimitAction::Pause, FUZZ_NOW).to_bytes().unwrap(),
    );

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    );
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let w = &fx["wallets"]["wsh_2of3"];
    let psbt = |v: &serde_json::Value| Psbt::from_str(v.as_str().unwrap()).unwrap();
    let unsigned = psbt(&w["unsigned_psbt"]);
    write_seed("psbt_inspect", "wsh_2of3.psbt", &unsigned.serialize());
    write_seed(
        "psbt_inspect",
        "wsh_2of3_signed_by_a.psbt",
        &psbt(&w["partially_signed"]["A"]).serialize(),
    );
    write_seed(
        "psbt_inspect",
        "wsh_2of3_combined.psbt",
        &psbt(&w["combined_psbt"]).serialize(),
    );

    let t = "ur_psbt_decode";
    let parts = sluice_shared::ur_psbt::encode_parts(&unsigned.serialize(), 200);
    assert!(parts.len() > 1);
    write_seed(t, "multipart.txt", parts.join("\n").as_bytes());
    let single = sluice_shared::ur_psbt::encode_parts(&unsigned.serialize(), 4000);
    write_seed(t, "single_part.txt", single.join("\n").as_bytes());
    let mut shuffled = parts.clone();
    shuffled.reverse();
    shuffled.insert(1, parts[0].clone());
    write_seed(
        t,
        "multipart_reversed_with_duplicate.txt",
        shuffled.join("\n").as_bytes(),
    );
}

#[test]
fn signer_request_seeds() {
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let key = fuzz_entry::fuzz_identity().x_only_public_key().0;
    let mut verified = 0;
    for seed in seeds("signer_request") {
        fuzz_entry::signer_request(&seed);
        let text = String::from_utf8_lossy(&seed);
        let fields: Vec<&str> = text.splitn(7, '\n').collect();
        let names = [
            signer_api::SIGNER_ID_HEADER,
            signer_api::TIMESTAMP_HEADER,
            signer_api::NONCE_HEADER,
            signer_api::BODY_SHA256_HEADER,
            signer_api::SIGNATURE_HEADER,
        ];
        let auth = signer_api::RequestAuth::from_headers(|name| {
            names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| fields.get(i).copied())
        });
        let (Ok(auth), Some((method, path)), Some(body)) =
            (auth, fields.get(5).and_then(|l| l.split_once(' ')), fields.get(6))
        else {
            continue;
        };
        verified += usize::from(
            auth.verify(&secp, &key, method, path, FUZZ_NOW).is_ok()
                && auth.check_body(body.as_bytes()).is_ok(),
        );
    }
    assert!(verified >= 2, "the corpus should hold requests that verify");
}

#[test]
fn signer_reply_seeds() {
    let mut accepted = 0;
    for seed in seeds("signer_reply") {
        fuzz_entry::signer_reply(&seed);
        if let Ok(list) = serde_json::from_slice::<signer_api::SessionList>(&seed) {
            for offer in list.sessions {
                if let Ok(psbt) = Psbt::from_str(offer.psbt.trim()) {
                    let review = inspect_psbt(&psbt, fuzz_entry::fuzz_wallet(), &fuzz_entry::fuzz_policy());
                    accepted += usize::from(review.is_ok());
                }
            }
        }
    }
    assert!(
        accepted >= 1,
        "the corpus should hold offers the fixture wallet accepts"
    );
}

#[test]
fn staff_api_body_seeds() {
    let mut decoded = 0;
    for seed in seeds("staff_api_body") {
        fuzz_entry::staff_api_body(&seed);
        decoded += usize::from(
            serde_json::from_slice::<api::NewWithdrawal>(&seed).is_ok()
                || serde_json::from_slice::<api::RejectWithdrawal>(&seed).is_ok()
                || serde_json::from_slice::<api::WithdrawalDetail>(&seed).is_ok()
                || serde_json::from_slice::<api::WithdrawalList>(&seed).is_ok(),
        );
    }
    assert!(decoded >= 3, "the corpus should hold bodies that decode");
}

#[test]
fn sd_card_psbt_seeds() {
    let mut accepted = 0;
    for seed in seeds("sd_card_psbt") {
        fuzz_entry::sd_card_psbt(&seed);
        for len in (0..seed.len()).step_by(11) {
            fuzz_entry::sd_card_psbt(&seed[..len]);
        }
        if let Ok(psbt) = sluice_shared::sd_card::parse_psbt(&seed, "seed") {
            let review = inspect_psbt(&psbt, fuzz_entry::fuzz_wallet(), &fuzz_entry::fuzz_policy());
            accepted += usize::from(review.is_ok());
        }
    }
    assert!(
        accepted >= 2,
        "the corpus should hold binary and base64 PSBTs the wallet accepts"
    );
}

/// One signed signer-API request in the request target's layout.
fn signed_request(method: &str, path: &str, body: &[u8], timestamp: i64, nonce: u8) -> Vec<u8> {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let parts = signer_api::RequestParts::new(method, path, body);
    let auth = signer_api::sign_request(
        &secp,
        &fuzz_entry::fuzz_identity(),
        &parts,
        timestamp,
        [nonce; 16],
        [0; 32],
    );
    let mut out = Vec::new();
    for (_, value) in auth.header_values() {
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(format!("{method} {path}\n").as_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
#[ignore = "writes fuzz/seeds/; run by hand to regenerate the corpus"]
fn regenerate_api_seeds() {
    let psbt_seed = |name: &str| std::fs::read(seeds_dir("psbt_inspect").join(name)).unwrap();
    let unsigned = Psbt::deserialize(&psbt_seed("wsh_2of3.psbt")).unwrap();
    let signed_by_a = Psbt::deserialize(&psbt_seed("wsh_2of3_signed_by_a.psbt")).unwrap();

    let t = "signer_request";
    let body = serde_json::to_vec(&signer_api::SignedSession {
        psbt: signed_by_a.to_string(),
    })
    .unwrap();
    let path = fuzz_entry::SIGNER_REQUEST_PATH;
    write_seed(
        t,
        "post_signatures.txt",
        &signed_request("POST", path, &body, FUZZ_NOW, 1),
    );
    write_seed(
        t,
        "get_sessions.txt",
        &signed_request("GET", "/v1/signer/sessions", b"", FUZZ_NOW + 60, 2),
    );
    write_seed(
        t,
        "stale_timestamp.txt",
        &signed_request("GET", "/v1/signer/sessions", b"", FUZZ_NOW - 1_000, 3),
    );
    let mut tampered = signed_request("POST", path, &body, FUZZ_NOW, 4);
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    write_seed(t, "tampered_body.txt", &tampered);

    let t = "signer_reply";
    let list = signer_api::SessionList {
        sessions: vec![
            signer_api::SessionOffer {
                id: 7,
                wallet: "treasury".into(),
                psbt: unsigned.to_string(),
            },
            signer_api::SessionOffer {
                id: 8,
                wallet: "treasury".into(),
                psbt: "cHNidP8=".into(),
            },
        ],
    };
    write_seed(t, "two_offers.json", &serde_json::to_vec_pretty(&list).unwrap());
    write_seed(t, "no_offers.json", br#"{"sessions":[]}"#);
    let receipt = signer_api::SignatureReceipt {
        stored: 2,
        already_stored: 0,
        session_signed: true,
    };
    write_seed(t, "receipt.json", &serde_json::to_vec(&receipt).unwrap());
    write_seed(
        t,
        "error.json",
        br#"{"error":{"code":"unauthenticated","message":"the request signature does not verify"}}"#,
    );

    let t = "staff_api_body";
    write_seed(
        t,
        "new_withdrawal.json",
        br#"{"customer_id":"customer-1","wallet":"treasury","destination":"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080","amount_sat":20000000}"#,
    );
    write_seed(t, "approve.json", b"{}");
    write_seed(t, "reject.json", br#"{"reason":"the customer asked to stop it"}"#);
    write_seed(t, "status.txt", b"pending_approval");
    let withdrawal = api::Withdrawal {
        id: 3,
        customer_id: "customer-1".into(),
        wallet: "treasury".into(),
        asset: "BTC".into(),
        destination: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
        amount_sat: Amount::from_sat(20_000_000),
        fee_sat: Amount::from_sat(10_000),
        status: api::WithdrawalStatus::Broadcast,
        requested_by: "exchange-backend".into(),
        created_at: FUZZ_NOW,
        updated_at: FUZZ_NOW + 30,
        session_id: Some(7),
        txid: Some("4d5e6f".repeat(10) + "0123"),
    };
    let detail = api::WithdrawalDetail {
        withdrawal: withdrawal.clone(),
        approvals: vec![api::Approval {
            approver: None,
            method: api::ApprovalMethod::AutoRule,
            approved_at: FUZZ_NOW,
            detail: Some("below the automatic ceiling".into()),
        }],
        history: vec![api::WithdrawalEvent {
            kind: api::EventKind::Broadcast,
            actor: "sender".into(),
            reason: Some("reorg: back to the mempool".into()),
            recorded_at: FUZZ_NOW + 30,
        }],
        flags: vec![api::RiskFlag {
            kind: api::RiskFlagKind::NewBeneficiary,
            reason: "first withdrawal of customer c1 to this destination".into(),
        }],
        signer_refusals: Vec::new(),
    };
    write_seed(t, "detail.json", &serde_json::to_vec(&detail).unwrap());
    let list = api::WithdrawalList {
        withdrawals: vec![withdrawal],
    };
    write_seed(t, "list.json", &serde_json::to_vec(&list).unwrap());

    let t = "sd_card_psbt";
    write_seed(t, "binary.psbt", &unsigned.serialize());
    write_seed(t, "base64.psbt", format!("{unsigned}\n").as_bytes());
    write_seed(
        t,
        "signed_by_a_base64.psbt",
        format!("  {signed_by_a}\r\n").as_bytes(),
    );
    write_seed(t, "not_a_psbt.psbt", b"psbt\xff\x00garbage");
}
