//! The appliance's screen: a PSBT shown as a looping animated QR code on the Linux
//! framebuffer (`/dev/fb0`), for a phone or webcam wallet to scan.
//!
//! The geometry and pixel format come from sysfs (`virtual_size`, `bits_per_pixel`,
//! `stride` under `/sys/class/graphics/fbN`); frames are plain writes of whole screens to
//! the device file, so no ioctl, no mmap and no unsafe code. Turning each UR text into
//! screen bytes ([`ScreenFrames::new`]) is pure and tested here; the loop that writes them
//! until a key is pressed ([`show_until_key`]) is the I/O edge.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use image::GrayImage;
use sluice_shared::qr::{self, QrError, QUIET_ZONE};
use sluice_shared::qr_animation::pass_order;

/// Largest framebuffer accepted (16 M pixels: an 8K screen is 33 M; the appliance's are
/// far smaller); a bigger one from sysfs is taken as a misreading.
const MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// Largest QR module drawn, in pixels: bigger codes are no easier for a camera to read.
const MAX_MODULE_PX: u32 = 16;

/// Why the framebuffer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FramebufferError {
    #[error("reading {path}: {source} (is there a framebuffer? the appliance needs its display driver)")]
    Sysfs {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} holds {text:?}, not the number(s) expected")]
    Malformed { path: String, text: String },
    #[error("framebuffer format of {bits} bits per pixel is not supported (16, 24 or 32 are)")]
    PixelFormat { bits: u32 },
    #[error("framebuffer geometry {width}x{height}, stride {stride} bytes, is not usable")]
    Geometry { width: u32, height: u32, stride: u32 },
    #[error("the screen ({width}x{height}) is too small for a {side}-module QR code")]
    TooSmall { width: u32, height: u32, side: u32 },
    #[error("rendering a frame: {0}")]
    Render(#[from] QrError),
    #[error("writing to the framebuffer {path}: {source}")]
    Device {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// A framebuffer's layout, as sysfs describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub width: u32,
    pub height: u32,
    pub bits_per_pixel: u32,
    /// Bytes from the start of one line to the next.
    pub stride: u32,
}

impl Geometry {
    /// Reads the geometry of the framebuffer whose sysfs directory is `dir` (e.g.
    /// `/sys/class/graphics/fb0`).
    pub fn from_sysfs(dir: &Path) -> Result<Self, FramebufferError> {
        let read = |name: &str| -> Result<(String, String), FramebufferError> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|source| FramebufferError::Sysfs {
                path: path.display().to_string(),
                source,
            })?;
            Ok((path.display().to_string(), text.trim().to_owned()))
        };
        let number = |(path, text): (String, String)| -> Result<u32, FramebufferError> {
            text.parse()
                .map_err(|_| FramebufferError::Malformed { path, text })
        };
        let (size_path, size) = read("virtual_size")?;
        let (width, height) = size
            .split_once(',')
            .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
            .ok_or(FramebufferError::Malformed {
                path: size_path,
                text: size.clone(),
            })?;
        let geometry = Self {
            width,
            height,
            bits_per_pixel: number(read("bits_per_pixel")?)?,
            stride: number(read("stride")?)?,
        };
        geometry.check()?;
        Ok(geometry)
    }

    fn bytes_per_pixel(&self) -> Result<u32, FramebufferError> {
        match self.bits_per_pixel {
            16 => Ok(2),
            24 => Ok(3),
            32 => Ok(4),
            bits => Err(FramebufferError::PixelFormat { bits }),
        }
    }

    fn check(&self) -> Result<(), FramebufferError> {
        let bytes = self.bytes_per_pixel()?;
        let unusable = FramebufferError::Geometry {
            width: self.width,
            height: self.height,
            stride: self.stride,
        };
        if self.width == 0
            || self.height == 0
            || u64::from(self.width) * u64::from(self.height) > MAX_PIXELS
            || u64::from(self.stride) < u64::from(self.width) * u64::from(bytes)
        {
            return Err(unusable);
        }
        Ok(())
    }

    fn screen_len(&self) -> usize {
        // Bounded by `check`: at most MAX_PIXELS lines of a few bytes a pixel.
        self.stride as usize * self.height as usize
    }
}

/// The screen bytes of every frame of a loop, ready to write.
#[derive(Debug)]
pub struct ScreenFrames {
    pub geometry: Geometry,
    pub frames: Vec<Vec<u8>>,
    /// Pixels per QR module, the same for every frame.
    pub module_px: u32,
}

impl ScreenFrames {
    /// Renders each UR text as a QR code, all at the one module size that lets the
    /// largest fit the screen, centred on white, in the screen's pixel format.
    pub fn new(texts: &[String], geometry: Geometry) -> Result<Self, FramebufferError> {
        geometry.check()?;
        let mut side = 0u32;
        for text in texts {
            let (width, _) = qr::modules(text)?;
            let width = u32::try_from(width).map_err(|_| QrError::TooLong(text.len()))?;
            side = side.max(width + 2 * QUIET_ZONE);
        }
        let module_px = (geometry.width.min(geometry.height) / side.max(1)).min(MAX_MODULE_PX);
        if module_px == 0 {
            return Err(FramebufferError::TooSmall {
                width: geometry.width,
                height: geometry.height,
                side,
            });
        }
        let frames = texts
            .iter()
            .map(|text| Ok(screen_bytes(&qr::render_image(text, module_px)?, &geometry)))
            .collect::<Result<Vec<_>, FramebufferError>>()?;
        Ok(Self {
            geometry,
            frames,
            module_px,
        })
    }
}

/// One grey level in the screen's pixel format: XRGB8888 / RGB888 little-endian or RGB565.
fn pixel(level: u8, bytes_per_pixel: usize) -> [u8; 4] {
    match bytes_per_pixel {
        2 => {
            let (r, g, b) = (
                u16::from(level >> 3),
                u16::from(level >> 2),
                u16::from(level >> 3),
            );
            let [lo, hi] = ((r << 11) | (g << 5) | b).to_le_bytes();
            [lo, hi, 0, 0]
        }
        _ => [level, level, level, 0xff],
    }
}

/// `img` centred on a white screen.
fn screen_bytes(img: &GrayImage, geometry: &Geometry) -> Vec<u8> {
    let bpp = geometry.bits_per_pixel as usize / 8;
    let stride = geometry.stride as usize;
    let (width, height) = (geometry.width as usize, geometry.height as usize);
    let white = pixel(255, bpp);
    let mut screen = vec![0u8; geometry.screen_len()];
    for line in screen.chunks_exact_mut(stride) {
        for px in line[..width * bpp].chunks_exact_mut(bpp) {
            px.copy_from_slice(&white[..bpp]);
        }
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (left, top) = (width.saturating_sub(w) / 2, height.saturating_sub(h) / 2);
    for (x, y, level) in img.enumerate_pixels() {
        let (sx, sy) = (left + x as usize, top + y as usize);
        if sx < width && sy < height {
            let at = sy * stride + sx * bpp;
            screen[at..at + bpp].copy_from_slice(&pixel(level.0[0], bpp)[..bpp]);
        }
    }
    screen
}

/// Where a framebuffer device's sysfs description lives: `/dev/fbN` ->
/// `/sys/class/graphics/fbN`.
pub fn sysfs_dir_of(device: &Path) -> PathBuf {
    let name = device
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Path::new("/sys/class/graphics").join(name)
}

/// Writes the frames to `device` in a loop (in order, then in a new order each pass:
/// [`pass_order`]), `interval` apart, until a byte arrives on
/// standard input (the menu puts the terminal in non-canonical mode, so any key) or
/// standard input closes; then blanks the screen. Returns how many frames were shown.
pub fn show_until_key(
    device: &Path,
    frames: &ScreenFrames,
    interval: Duration,
) -> Result<u64, FramebufferError> {
    let device_error = |source: io::Error| FramebufferError::Device {
        path: device.display().to_string(),
        source,
    };
    let mut screen = std::fs::OpenOptions::new()
        .write(true)
        .open(device)
        .map_err(device_error)?;
    let (key_tx, key_rx) = mpsc::channel::<()>();
    // Blocks on the console until a key; left behind (it ends with the process) if the
    // loop stops for an error first.
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let _ = io::stdin().lock().read(&mut byte);
        let _ = key_tx.send(());
    });
    let mut shown = 0u64;
    'shown: for pass in 0u64.. {
        for i in pass_order(frames.frames.len(), pass) {
            let frame = &frames.frames[i];
            screen.seek(SeekFrom::Start(0)).map_err(device_error)?;
            screen.write_all(frame).map_err(device_error)?;
            shown += 1;
            match key_rx.recv_timeout(interval) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break 'shown,
            }
        }
    }
    screen.seek(SeekFrom::Start(0)).map_err(device_error)?;
    screen
        .write_all(&vec![0u8; frames.geometry.screen_len()])
        .map_err(device_error)?;
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(bits: u32, width: u32, height: u32, stride: u32) -> Geometry {
        Geometry {
            width,
            height,
            bits_per_pixel: bits,
            stride,
        }
    }

    /// Reads a screen back as grey levels (the first byte of each pixel for 24/32 bits).
    fn grey(screen: &[u8], g: &Geometry) -> GrayImage {
        let bpp = g.bits_per_pixel as usize / 8;
        GrayImage::from_fn(g.width, g.height, |x, y| {
            let at = y as usize * g.stride as usize + x as usize * bpp;
            let level = if bpp == 2 {
                let v = u16::from_le_bytes([screen[at], screen[at + 1]]);
                ((v >> 5) & 0x3f) as u8 * 4
            } else {
                screen[at]
            };
            image::Luma([level])
        })
    }

    #[test]
    fn frames_decode_back_in_every_pixel_format() {
        let texts = sluice_shared::qr_animation::animation_texts(&[7u8; 300], 100);
        assert!(texts.len() > 2);
        for g in [
            geometry(32, 640, 480, 640 * 4),
            geometry(24, 400, 300, 400 * 3 + 8),
            geometry(16, 320, 240, 320 * 2),
        ] {
            let frames = ScreenFrames::new(&texts, g).unwrap();
            assert_eq!(frames.frames.len(), texts.len());
            for (frame, text) in frames.frames.iter().zip(&texts) {
                assert_eq!(frame.len(), g.stride as usize * g.height as usize);
                let read = qr::decode_image(&grey(frame, &g)).unwrap();
                assert!(read.iter().any(|r| r.eq_ignore_ascii_case(text)), "{read:?}");
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_draw() {
        let texts = vec!["ur:crypto-psbt/hello".to_owned()];
        assert!(matches!(
            ScreenFrames::new(&texts, geometry(8, 640, 480, 640)),
            Err(FramebufferError::PixelFormat { bits: 8 })
        ));
        assert!(matches!(
            ScreenFrames::new(&texts, geometry(32, 640, 480, 640)),
            Err(FramebufferError::Geometry { .. })
        ));
        assert!(matches!(
            ScreenFrames::new(&texts, geometry(32, 20, 20, 80)),
            Err(FramebufferError::TooSmall { .. })
        ));
    }

    #[test]
    fn geometry_from_sysfs_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("virtual_size"), "1024,768\n").unwrap();
        std::fs::write(dir.path().join("bits_per_pixel"), "32\n").unwrap();
        std::fs::write(dir.path().join("stride"), "4096\n").unwrap();
        assert_eq!(
            Geometry::from_sysfs(dir.path()).unwrap(),
            geometry(32, 1024, 768, 4096)
        );
        std::fs::write(dir.path().join("virtual_size"), "1024x768\n").unwrap();
        assert!(matches!(
            Geometry::from_sysfs(dir.path()),
            Err(FramebufferError::Malformed { .. })
        ));
        assert!(matches!(
            Geometry::from_sysfs(&dir.path().join("missing")),
            Err(FramebufferError::Sysfs { .. })
        ));
        assert_eq!(
            sysfs_dir_of(Path::new("/dev/fb0")),
            Path::new("/sys/class/graphics/fb0")
        );
    }
}
