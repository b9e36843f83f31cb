//! Issue 13, item 5: a V4L2 camera as the signer's QR input (`sign --in-qr-camera`,
//! `limits apply --camera`).
//!
//! On the host: a path that is not a camera gets an error naming it. In qemu (software
//! emulation, no KVM), with a real V4L2 device: the appliance's kernel and initrd
//! (hardware/build.sh) plus, appended for this test only, the kernel's virtual video driver
//! vivid and `sluice-vivid-feeder` (hardware/build.sh --camera-test). vivid loops what is
//! written to its video output node into what its capture node delivers; the feeder shows a
//! limit-command sheet and then the animated QR code of Bitcoin Core's PSBT fixture there
//! (blurred, noisy, every third fountain part never shown), while the appliance's own
//! `sluice-signer` reads the capture node as a webcam, applies the command and signs. On the
//! host the signed PSBT finalizes into Core's transaction.
//!
//! The qemu test needs qemu-system-x86_64, mtools and dosfstools (.ci/run installs them).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use crate::{require_qemu_tools, run, signer_id_and_raise};
use sluice_shared::finalize::{finalize, spent_outputs};

/// From starting qemu to its power-off.
const SESSION_LIMIT: Duration = Duration::from_secs(600);

#[test]
fn camera_paths_that_are_not_capture_devices_are_named() {
    let signer = TestSigner::new();
    let fx = fixtures();
    signer.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);

    let err = signer.fails(&["inspect", "--in-qr-camera", "/dev/null"]);
    assert!(err.contains("/dev/null is not a V4L2 video device"), "{err}");
    let missing = signer.path("no-such-video9");
    let err = signer.fails(&["inspect", "--in-qr-camera", missing.to_str().unwrap()]);
    assert!(
        err.contains("opening the camera") && err.contains("no-such-video9"),
        "{err}"
    );
    let err = signer.fails(&["limits", "apply", "--camera", "/dev/null"]);
    assert!(err.contains("/dev/null is not a V4L2 video device"), "{err}");
    let err = signer.fails(&["inspect", "--in-qr-camera", "/dev/null", "--in", "x.psbt"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// The camera test boot, built by hardware/build.sh into `dir`.
fn camera_test_boot(dir: &Path) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../hardware/build.sh");
    let out = Command::new(script)
        .arg("--camera-test")
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hardware/build.sh --camera-test failed (see its messages above)"
    );
    let boot = PathBuf::from(text(&out.stdout).trim());
    assert!(boot.join("initrd.img").is_file(), "{}", boot.display());
    boot
}

/// qemu, killed when dropped: a failing or hanging test leaves no emulator behind.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_appliance_signer_reads_a_limit_sheet_and_an_animated_psbt_from_a_v4l2_camera() {
    require_qemu_tools();
    let dir = tempfile::tempdir().unwrap();
    let boot = camera_test_boot(&dir.path().join("boot"));
    let fx = fixtures();
    let wallet = &fx["wallets"]["wpkh_single"];
    let tprv = fx["keys"]["A"]["master_tprv"].as_str().unwrap();

    let (_, raise) = signer_id_and_raise(tprv);
    let officers = officers();
    let file = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    };
    let officer_keys: String = officers
        .iter()
        .map(|k| format!("{}\n", k.x_only_public_key().0))
        .collect();
    let files = [
        ("pass.txt", file("pass.txt", b"camera test passphrase\n")),
        ("seed.tprv", file("seed.tprv", tprv.as_bytes())),
        ("officers.txt", file("officers.txt", officer_keys.as_bytes())),
        (
            "wpkh.wallet",
            file(
                "wpkh.wallet",
                format!(
                    "{}\n{}\n",
                    wallet["descriptor_receive"].as_str().unwrap(),
                    wallet["descriptor_change"].as_str().unwrap()
                )
                .as_bytes(),
            ),
        ),
        (
            "wpkh.psbt",
            file("wpkh.psbt", wallet["unsigned_psbt"].as_str().unwrap().as_bytes()),
        ),
        ("raise.txt", file("raise.txt", format!("{raise}\n").as_bytes())),
    ];
    let disk = dir.path().join("disk.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "CAMTEST"])
        .arg(&disk)
        .arg("32768"));
    for (name, path) in &files {
        run(Command::new("mcopy")
            .arg("-i")
            .arg(&disk)
            .arg(path)
            .arg(format!("::{name}")));
    }

    let started = Instant::now();
    let mut qemu = Qemu(
        Command::new("qemu-system-x86_64")
            .args(["-m", "512", "-nographic", "-no-reboot", "-nic", "none"])
            .arg("-kernel")
            .arg(boot.join("vmlinuz"))
            .arg("-initrd")
            .arg(boot.join("initrd.img"))
            .arg("-append")
            .arg("console=ttyS0,115200 panic=-1 quiet ipv6.disable=1 rdinit=/camera-test")
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", disk.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting qemu-system-x86_64"),
    );
    let output = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let mut stdout = qemu.0.stdout.take().unwrap();
    let sink = Arc::clone(&output);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            let (lock, wake) = &*sink;
            lock.lock().unwrap().extend_from_slice(&buf[..n]);
            wake.notify_all();
        }
    });
    let console = {
        let (lock, wake) = &*output;
        let mut out = lock.lock().unwrap();
        loop {
            let said = String::from_utf8_lossy(&out).into_owned();
            if said.contains("camera-test: PASSED") || said.contains("camera-test: FAILED") {
                break said;
            }
            let now = Instant::now();
            assert!(
                now < started + SESSION_LIMIT,
                "the camera test boot did not finish in {SESSION_LIMIT:?}; its console:\n{said}"
            );
            if qemu.0.try_wait().unwrap().is_some() {
                // The reader thread may still hold the last bytes: one more look.
                out = wake.wait_timeout(out, Duration::from_secs(2)).unwrap().0;
                let said = String::from_utf8_lossy(&out).into_owned();
                assert!(
                    said.contains("camera-test: PASSED"),
                    "qemu stopped before the test finished; its console:\n{said}"
                );
                break said;
            }
            out = wake.wait_timeout(out, Duration::from_secs(1)).unwrap().0;
        }
    };
    assert!(
        console.contains("camera-test: PASSED"),
        "the camera test in the guest failed; its console:\n{console}"
    );
    let stop = Instant::now() + Duration::from_secs(60);
    while qemu.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < stop, "qemu did not power off");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("camera test boot: {:?}", started.elapsed());
    for line in console.lines().filter(|l| {
        l.contains("camera-test:")
            || l.contains("Scanning with")
            || l.contains("Read the PSBT")
            || l.contains("vivid feeder")
    }) {
        eprintln!("  guest: {}", line.trim_end());
    }
    assert!(
        console.contains("Scanning with") && console.contains("Applied limit command"),
        "{console}"
    );
    assert!(console.contains("Read the PSBT from"), "{console}");

    let signed = dir.path().join("signed.psbt");
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&disk)
        .arg("::signed.psbt")
        .arg(&signed));
    let psbt = read_psbt(&signed);
    let tx = finalize(&psbt).unwrap();
    sluice_shared::consensus::verify_transaction(&tx, &spent_outputs(&psbt).unwrap())
        .expect("Bitcoin Core's interpreter accepts the signature made from the camera's PSBT");
    assert_eq!(tx.compute_txid().to_string(), wallet["txid"].as_str().unwrap());
}
