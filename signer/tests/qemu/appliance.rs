//! Issue 13, item 3: the appliance image (`hardware/build.sh`) boots in qemu with no network
//! device, and an operator at its serial console initialises the signer from a test seed,
//! registers a wallet, applies a photographed limit-command sheet and signs a PSBT from Bitcoin
//! Core's fixtures on a virtual SD card. On the host, the signed PSBT read back from the SD
//! image finalizes into the transaction Core made, valid under Core's script interpreter, and
//! the appliance reported no network interface but a down `lo`.
//!
//! Issue 13, item 4, in the same boot: after signing, the operator has the signed PSBT shown
//! as a looping animated QR code on the screen (qemu's standard VGA, the bochs DRM driver's
//! framebuffer); the test takes screenshots through qemu's monitor while the loop runs,
//! reads the codes in them, and the fountain decoder's result is the PSBT on the SD card.
//!
//! Needs qemu-system-x86_64 (software emulation, no KVM), mtools and dosfstools (Debian:
//! `apt-get install qemu-system-x86 mtools dosfstools`); fails when they are missing.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use crate::{require_qemu_tools, run, signer_id_and_raise};
use bitcoin::Amount;
use sluice_shared::finalize::{finalize, spent_outputs};

/// The whole session in the guest, from starting qemu to its power-off (measured: 25 s
/// under software emulation on two loaded shared cores).
const SESSION_LIMIT: Duration = Duration::from_secs(420);
/// From starting qemu to the operator menu.
const BOOT_LIMIT: Duration = Duration::from_secs(120);
const PASSPHRASE: &str = "appliance test passphrase";
/// Bytes of PSBT per QR frame the operator chooses: small enough that the signed PSBT
/// needs several frames (a multi-part code) on the screen.
const QR_FRAGMENT_LEN: usize = 60;
/// Screenshots of the QR loop before the test gives up (each is bounded by the monitor's
/// 30 s answer time).
const MAX_SCREENSHOTS: usize = 120;

/// Builds the image, or takes it from the cache of `hardware/build.sh`.
fn image_dir() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../hardware/build.sh");
    let out = Command::new(script).stderr(Stdio::inherit()).output().unwrap();
    assert!(
        out.status.success(),
        "hardware/build.sh failed (see its messages above)"
    );
    let dir = PathBuf::from(text(&out.stdout).trim());
    assert!(dir.join("initrd.img").is_file(), "{}", dir.display());
    dir
}

/// A FAT disk image, as an SD card, holding the given files.
fn make_sd_card(path: &Path, files: &[(&str, &Path)]) {
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "SLUICE-SD"])
        .arg(path)
        .arg("32768"));
    for (name, source) in files {
        run(Command::new("mcopy")
            .arg("-i")
            .arg(path)
            .arg(source)
            .arg(format!("::{name}")));
    }
}

fn read_from_sd_card(image: &Path, name: &str, to: &Path) {
    run(Command::new("mcopy")
        .arg("-i")
        .arg(image)
        .arg(format!("::{name}"))
        .arg(to));
}

/// The limit-command sheet's QR code as a phone photographs it: smaller, blurred, a little
/// noisy, on a grey page.
fn photographed(png: &[u8]) -> Vec<u8> {
    let sheet = image::load_from_memory(png).unwrap().to_luma8();
    let (w, h) = sheet.dimensions();
    let small = image::imageops::resize(
        &sheet,
        w * 3 / 5,
        h * 3 / 5,
        image::imageops::FilterType::Triangle,
    );
    let mut photo = image::imageops::blur(&small, 0.8);
    for (i, px) in photo.pixels_mut().enumerate() {
        let noise = ((i * 7919) % 23) as i16 - 11;
        px.0[0] = (i16::from(px.0[0]) * 7 / 8 + 12 + noise).clamp(0, 255) as u8;
    }
    sluice_shared::qr::encode_png(&photo).unwrap()
}

/// A binary PPM (P6, as qemu's `screendump` writes) as a grey image.
fn ppm_to_grey(bytes: &[u8]) -> image::GrayImage {
    let mut fields = Vec::new();
    let mut at = 0;
    // "P6", width, height, maxval, each followed by one whitespace byte.
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    at += 1;
    assert_eq!(fields[0], "P6", "not a binary PPM");
    assert_eq!(fields[3], "255", "PPM with 16-bit samples");
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let rgb = &bytes[at..at + (w * h * 3) as usize];
    image::GrayImage::from_fn(w, h, |x, y| {
        let i = ((y * w + x) * 3) as usize;
        let sum = u16::from(rgb[i]) + u16::from(rgb[i + 1]) + u16::from(rgb[i + 2]);
        image::Luma([(sum / 3) as u8])
    })
}

/// qemu's human monitor on a Unix socket: one command at a time, each answered by the next
/// `(qemu) ` prompt.
struct Monitor {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Monitor {
    fn connect(path: &Path, limit: Duration) -> Self {
        let deadline = Instant::now() + limit;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "qemu's monitor at {}: {e}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut monitor = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        monitor.until_prompt();
        monitor
    }

    /// Reads up to the next prompt (bounded by the socket's read timeout).
    fn until_prompt(&mut self) -> String {
        let mut said = Vec::new();
        while !said.ends_with(b"(qemu) ") {
            let mut byte = [0u8; 1];
            let n = self
                .reader
                .read(&mut byte)
                .expect("qemu's monitor did not answer in 30 s");
            assert!(n == 1, "qemu's monitor closed");
            said.push(byte[0]);
            assert!(said.len() < 1 << 20, "qemu's monitor says too much");
        }
        String::from_utf8_lossy(&said).into_owned()
    }

    fn command(&mut self, line: &str) -> String {
        self.writer.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.until_prompt()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// qemu, killed when dropped: a failing or hanging test leaves no emulator behind.
struct Qemu {
    child: Child,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The appliance's serial console: everything it printed, and how far the test has read.
struct Console {
    output: Arc<(Mutex<Vec<u8>>, Condvar)>,
    read_to: usize,
    input: ChildStdin,
    deadline: Instant,
}

impl Console {
    /// Waits for `pattern` in what the console printed after the last match; answers the
    /// signer's passphrase prompts on the way. Returns the text up to and including it.
    fn expect(&mut self, pattern: &str, limit: Duration) -> String {
        let deadline = self.deadline.min(Instant::now() + limit);
        let prompt = "passphrase: ";
        let output = Arc::clone(&self.output);
        let (lock, wake) = &*output;
        let mut seen = String::new();
        loop {
            {
                let mut out = lock.lock().unwrap();
                loop {
                    let new = &out[self.read_to..];
                    let at_pattern = find(new, pattern.as_bytes());
                    let at_prompt = find(new, prompt.as_bytes());
                    let (end, is_prompt) = match (at_pattern, at_prompt) {
                        (Some(p), Some(q)) if q < p => (Some(q + prompt.len()), true),
                        (Some(p), _) => (Some(p + pattern.len()), false),
                        (None, Some(q)) => (Some(q + prompt.len()), true),
                        (None, None) => (None, false),
                    };
                    if let Some(end) = end {
                        seen.push_str(&String::from_utf8_lossy(&new[..end]));
                        self.read_to += end;
                        if !is_prompt {
                            return seen;
                        }
                        break;
                    }
                    let now = Instant::now();
                    assert!(
                        now < deadline,
                        "the appliance did not print {pattern:?} in time; its console so far:\n{}",
                        String::from_utf8_lossy(&out)
                    );
                    out = wake.wait_timeout(out, deadline - now).unwrap().0;
                }
            }
            // A passphrase prompt. Characters that arrive before the signer has turned the
            // terminal's echo off are echoed (typing ahead): give it a moment first.
            std::thread::sleep(Duration::from_secs(1));
            self.send(PASSPHRASE);
        }
    }

    fn send(&mut self, line: &str) {
        self.send_raw(&format!("{line}\n"));
    }

    /// Types without Enter (a key press for a program reading the terminal raw).
    fn send_raw(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    /// Chooses a menu entry, answers its questions in order, and insists that it succeeded.
    fn menu(&mut self, choice: &str, dialogue: &[(&str, &str)]) -> String {
        self.expect("Choice:", Duration::from_secs(60));
        self.send(choice);
        let mut said = String::new();
        for (question, answer) in dialogue {
            said.push_str(&self.expect(question, Duration::from_secs(120)));
            self.send(answer);
        }
        self.finish(choice, said)
    }

    /// Waits for the end of a menu entry and insists that it succeeded.
    fn finish(&mut self, choice: &str, mut said: String) -> String {
        said.push_str(&self.expect("[done: exit status ", Duration::from_secs(180)));
        let status = self.expect("]", Duration::from_secs(5));
        assert_eq!(
            status, "0]",
            "menu entry {choice} failed; the console said:\n{said}"
        );
        said
    }
}

#[test]
fn the_appliance_boots_without_network_and_signs_cores_psbt_from_its_sd_card() {
    require_qemu_tools();
    let image = image_dir();
    let fx = fixtures();
    let wallet = &fx["wallets"]["wpkh_single"];
    let tprv = fx["keys"]["A"]["master_tprv"].as_str().unwrap();

    let (signer_id, raise) = signer_id_and_raise(tprv);
    let officers = officers();

    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    };
    let seed = file("seed.tprv", tprv.as_bytes());
    let officer_keys: String = officers
        .iter()
        .map(|k| format!("{}\n", k.x_only_public_key().0))
        .collect();
    let officer_file = file("officers.txt", officer_keys.as_bytes());
    let wallet_file = file(
        "wpkh.wallet",
        format!(
            "{}\n{}\n",
            wallet["descriptor_receive"].as_str().unwrap(),
            wallet["descriptor_change"].as_str().unwrap()
        )
        .as_bytes(),
    );
    let psbt = file("wpkh.psbt", wallet["unsigned_psbt"].as_str().unwrap().as_bytes());
    let sheet = file(
        "raise.png",
        &photographed(&sluice_shared::qr::render_png(&raise, 8).unwrap()),
    );
    let sd = dir.path().join("sd.img");
    make_sd_card(
        &sd,
        &[
            ("seed.tprv", &seed),
            ("officers.txt", &officer_file),
            ("wpkh.wallet", &wallet_file),
            ("wpkh.psbt", &psbt),
            ("raise.png", &sheet),
        ],
    );
    // The signer home: a blank persistent volume, formatted by the appliance on first boot.
    let home = dir.path().join("home.img");
    std::fs::File::create(&home).unwrap().set_len(64 << 20).unwrap();

    let cmdline = std::fs::read_to_string(image.join("cmdline")).unwrap();
    let monitor_socket = dir.path().join("monitor.sock");
    let started = Instant::now();
    let mut qemu = Qemu {
        child: Command::new("qemu-system-x86_64")
            .args([
                "-m",
                "512",
                "-nographic",
                "-no-reboot",
                "-nic",
                "none",
                "-vga",
                "std",
            ])
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", monitor_socket.display()))
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.img"))
            .arg("-append")
            .arg(cmdline.trim())
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", home.display()))
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", sd.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting qemu-system-x86_64"),
    };
    let output = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let mut stdout = qemu.child.stdout.take().unwrap();
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
    let mut console = Console {
        output: Arc::clone(&output),
        read_to: 0,
        input: qemu.child.stdin.take().unwrap(),
        deadline: started + SESSION_LIMIT,
    };

    // The init's own check, before anything else runs.
    let boot = console.expect("(all down); module loading disabled", BOOT_LIMIT);
    assert!(boot.contains("network interfaces: lo (all down)"), "{boot}");
    let booted = started.elapsed();
    let status = console.menu("1", &[]);
    assert!(
        status.contains("Network interfaces: lo (down)\r\n"),
        "the appliance must have no interface but a down lo:\n{status}"
    );

    let restored = console.menu(
        "3",
        &[
            ("Network", "regtest"),
            ("weak test KDF", "y"),
            ("File name:", "seed.tprv"),
            ("Officer key file", "officers.txt"),
            ("How many officers", "2"),
        ],
    );
    assert!(restored.contains(&signer_id), "{restored}");
    console.menu("4", &[("File name:", "wpkh.wallet")]);
    console.menu(
        "5",
        &[
            ("Refill amount per period", "1"),
            ("Refill period", "60"),
            ("Bucket capacity", "5"),
            // Below the PSBT's 0.6 BTC outflow: only the officers' raise lets it through.
            ("Total allowance", "0.5"),
            ("Largest fee", ""),
        ],
    );
    let applied = console.menu("6", &[("File name:", "raise.png")]);
    assert!(applied.contains("Applied limit command"), "{applied}");
    let mut monitor = Monitor::connect(&monitor_socket, Duration::from_secs(30));
    console.expect("Choice:", Duration::from_secs(60));
    console.send("7");
    let mut signed = String::new();
    for (question, answer) in [
        ("File name:", "wpkh.psbt"),
        ("Sign? [y/N]", "y"),
        ("animated QR code on the screen? [y/N]", "y"),
        ("Frames per second [5]:", "5"),
        ("per frame (10-400) [200]:", &QR_FRAGMENT_LEN.to_string()),
    ] {
        signed.push_str(&console.expect(question, Duration::from_secs(120)));
        console.send(answer);
    }
    signed.push_str(&console.expect("Press any key to stop.", Duration::from_secs(120)));
    // Screenshots of the loop until the fountain decoder has the whole PSBT.
    let mut decoder = sluice_shared::ur_psbt::PsbtPartDecoder::new();
    let mut screenshots = 0;
    let mut codes_read = 0;
    while !decoder.is_complete() {
        assert!(
            screenshots < MAX_SCREENSHOTS,
            "{screenshots} screenshots of the QR loop, {codes_read} codes read, and the PSBT is still incomplete"
        );
        let dump = dir.path().join(format!("screen-{screenshots}.ppm"));
        let said = monitor.command(&format!("screendump {}", dump.display()));
        screenshots += 1;
        let Ok(bytes) = std::fs::read(&dump) else {
            panic!("screendump wrote no file: the monitor said {said:?}");
        };
        for text in sluice_shared::qr::decode_image(&ppm_to_grey(&bytes)).unwrap_or_default() {
            codes_read += 1;
            decoder.receive(&text).unwrap();
        }
        std::fs::remove_file(&dump).unwrap();
    }
    let shown_psbt = decoder.psbt_bytes().unwrap();
    console.send_raw("q");
    let stopped = console.expect("Stopped after ", Duration::from_secs(60));
    let shown = console.finish("7", stopped);
    signed.push_str(&shown);
    eprintln!("appliance: QR loop read back from {screenshots} screenshots ({codes_read} codes)");
    assert!(
        signed.contains("Signed PSBT written to /mnt/sd/wpkh-signed.psbt")
            && signed.contains("SD card unmounted"),
        "{signed}"
    );
    let outflow = amount_after(
        &signed[signed.find("Outflow").unwrap()..].replace('\r', ""),
        "Outflow",
    );
    let expected = format!("{:.8}", wallet["expected_outflow_btc"].as_f64().unwrap());
    assert_eq!(
        outflow,
        Amount::from_str_in(&expected, bitcoin::Denomination::Bitcoin).unwrap()
    );

    console.expect("Choice:", Duration::from_secs(60));
    console.send("0");
    let stop = console.deadline.min(Instant::now() + Duration::from_secs(60));
    let exit = loop {
        if let Some(status) = qemu.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < stop,
            "the appliance did not power off; its console:\n{}",
            String::from_utf8_lossy(&output.0.lock().unwrap())
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(exit.success(), "qemu: {exit}");
    eprintln!(
        "appliance: menu after {booted:?}, whole session {:?}",
        started.elapsed()
    );

    // On the host: the signed PSBT from the SD card finalizes into Core's transaction.
    let back = dir.path().join("wpkh-signed.psbt");
    read_from_sd_card(&sd, "wpkh-signed.psbt", &back);
    let psbt = read_psbt(&back);
    let tx = finalize(&psbt).unwrap();
    sluice_shared::consensus::verify_transaction(&tx, &spent_outputs(&psbt).unwrap())
        .expect("Bitcoin Core's interpreter accepts the appliance's signature");
    assert_eq!(tx.compute_txid().to_string(), wallet["txid"].as_str().unwrap());
    // The QR loop on the screen carried exactly that PSBT.
    assert_eq!(
        bitcoin::psbt::Psbt::deserialize(&shown_psbt).unwrap(),
        psbt,
        "the PSBT read from the screen is not the one on the SD card"
    );
}
