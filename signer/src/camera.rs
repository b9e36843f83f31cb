//! A V4L2 camera (`/dev/videoN`: a USB webcam, or the kernel's virtual test driver) as the
//! signer's QR input: frames in, grey images out, for the same scanner and fountain decoder
//! that read QR videos and photos ([`crate::qr_io`]).
//!
//! The ioctls and the buffer mapping are the `linuxvideo` crate's (pure Rust, no libv4l, no
//! bindgen; builds static for musl): this crate stays free of unsafe code. Frames are
//! streamed through memory-mapped buffers (what UVC webcams support; many have no `read()`
//! I/O) in YUYV or GREY, converted by `sluice_shared::camera_frames`. Every wait for a frame
//! is bounded ([`Camera::next_frame`] takes a deadline), so a camera that delivers nothing
//! stops the scan with an error instead of hanging; Ctrl-C ends the program as always
//! (nothing is signed or changed while scanning).

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use image::GrayImage;
use linuxvideo::format::{Format, PixFormat, PixelFormat};
use linuxvideo::stream::ReadStream;
use linuxvideo::{BufType, CapabilityFlags, Device};
use rustix::event::{poll, PollFd, PollFlags};
use sluice_shared::camera_frames::{CameraPixelFormat, FrameError, FrameLayout};

/// Why the camera could not deliver frames.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("opening the camera {device}: {source}")]
    Open {
        device: String,
        #[source]
        source: io::Error,
    },
    #[error("{device} is not a V4L2 video device (a camera is /dev/videoN): {source}")]
    NotV4l2 {
        device: String,
        #[source]
        source: io::Error,
    },
    #[error("{device} ({card}, driver {driver}) is not a video capture device: choose the camera's capture node (`ls /sys/class/video4linux/*/name`)")]
    NotCapture {
        device: String,
        card: String,
        driver: String,
    },
    #[error("{device} ({card}) has no streaming I/O, which the scanner needs")]
    NoStreaming { device: String, card: String },
    #[error(
        "{device} ({card}) offers no pixel format the scanner reads (YUYV or GREY); it offers: {offered}"
    )]
    UnsupportedFormat {
        device: String,
        card: String,
        offered: String,
    },
    #[error("{device} is busy: another program is using the camera; close it and try again")]
    Busy { device: String },
    #[error("{device}: {what}: {source}")]
    Device {
        device: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{device} delivers frames the scanner cannot read: {source}")]
    Frame {
        device: String,
        #[source]
        source: FrameError,
    },
}

/// A capture device streaming frames.
pub struct Camera {
    device: String,
    card: String,
    layout: FrameLayout,
    stream: ReadStream,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("device", &self.device)
            .field("card", &self.card)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

fn fourcc_text(code: [u8; 4]) -> String {
    code.iter()
        .map(|b| if b.is_ascii_graphic() { char::from(*b) } else { '?' })
        .collect()
}

impl Camera {
    /// Opens the capture device at `path`, chooses YUYV or GREY at the size the camera is set
    /// to, and starts streaming.
    pub fn open(path: &Path) -> Result<Self, CameraError> {
        let device = path.display().to_string();
        let dev = Device::open(path).map_err(|source| match source.raw_os_error() {
            Some(code) if code == rustix::io::Errno::NOTTY.raw_os_error() => CameraError::NotV4l2 {
                device: device.clone(),
                source,
            },
            Some(code) if code == rustix::io::Errno::BUSY.raw_os_error() => CameraError::Busy {
                device: device.clone(),
            },
            _ => CameraError::Open {
                device: device.clone(),
                source,
            },
        })?;
        let device_error = |what: &'static str| {
            let device = device.clone();
            move |source: io::Error| {
                if source.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) {
                    CameraError::Busy { device }
                } else {
                    CameraError::Device { device, what, source }
                }
            }
        };
        let caps = dev
            .capabilities()
            .map_err(device_error("querying its capabilities"))?;
        let card = caps.card().to_owned();
        let flags = caps.device_capabilities();
        if !flags.contains(CapabilityFlags::VIDEO_CAPTURE) {
            return Err(CameraError::NotCapture {
                device: device.clone(),
                card,
                driver: caps.driver().to_owned(),
            });
        }
        if !flags.contains(CapabilityFlags::STREAMING) {
            return Err(CameraError::NoStreaming {
                device: device.clone(),
                card,
            });
        }
        let mut offered = Vec::new();
        for desc in dev.formats(BufType::VIDEO_CAPTURE) {
            let desc = desc.map_err(device_error("listing its pixel formats"))?;
            offered.push(desc.pixel_format().as_fourcc());
        }
        let Some(format) = CameraPixelFormat::preferred(&offered) else {
            return Err(CameraError::UnsupportedFormat {
                device: device.clone(),
                card,
                offered: offered
                    .into_iter()
                    .map(fourcc_text)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        // Keep the size the camera is set to (its default, or what the operator chose with
        // v4l2-ctl); only the pixel format is ours to choose.
        let (width, height) = match dev.format(BufType::VIDEO_CAPTURE) {
            Ok(Format::VideoCapture(current)) => (current.width(), current.height()),
            _ => (640, 480),
        };
        let capture = dev
            .video_capture(PixFormat::new(
                width,
                height,
                PixelFormat::from_fourcc(format.fourcc()),
            ))
            .map_err(device_error("setting the capture format"))?;
        let settled = capture.format();
        let Some(settled_format) = CameraPixelFormat::from_fourcc(settled.pixel_format().as_fourcc()) else {
            return Err(CameraError::UnsupportedFormat {
                device: device.clone(),
                card,
                offered: format!(
                    "{} (asked for {})",
                    fourcc_text(settled.pixel_format().as_fourcc()),
                    fourcc_text(format.fourcc())
                ),
            });
        };
        let layout = FrameLayout {
            format: settled_format,
            width: settled.width(),
            height: settled.height(),
            bytes_per_line: settled.bytes_per_line(),
        };
        layout.check().map_err(|source| CameraError::Frame {
            device: device.clone(),
            source,
        })?;
        let stream = capture
            .into_stream()
            .map_err(device_error("starting the video stream"))?;
        Ok(Self {
            device,
            card,
            layout,
            stream,
        })
    }

    /// The camera's name (V4L2 "card").
    pub fn card(&self) -> &str {
        &self.card
    }

    /// The frames' format and size.
    pub fn layout(&self) -> FrameLayout {
        self.layout
    }

    /// The next frame as a grey image, or `None` when none arrived by `deadline`. Frames the
    /// driver marks as corrupt are skipped.
    pub fn next_frame(&mut self, deadline: Instant) -> Result<Option<GrayImage>, CameraError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            let mut fds = [PollFd::new(&self.stream, PollFlags::IN)];
            match poll(&mut fds, ms) {
                // Timed out: the deadline decides, at the top of the loop, so a wait that
                // ends before it waits again. (Under heavy load the qemu camera test once
                // gave up 8 s into a 200 s scan; whether this was why is not known.)
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(CameraError::Device {
                        device: self.device.clone(),
                        what: "waiting for a frame",
                        source: e.into(),
                    })
                }
            }
            if fds[0].revents().contains(PollFlags::ERR) {
                return Err(CameraError::Device {
                    device: self.device.clone(),
                    what: "waiting for a frame",
                    source: io::Error::other("the device reported an error (unplugged?)"),
                });
            }
            let layout = self.layout;
            let frame = self
                .stream
                .dequeue(|buf| {
                    if buf.is_error() {
                        return Ok(None);
                    }
                    Ok(Some(layout.to_luma(&buf)))
                })
                .map_err(|source| CameraError::Device {
                    device: self.device.clone(),
                    what: "reading a frame",
                    source,
                })?;
            match frame {
                None => continue,
                Some(Ok(image)) => return Ok(Some(image)),
                Some(Err(source)) => {
                    return Err(CameraError::Frame {
                        device: self.device.clone(),
                        source,
                    })
                }
            }
        }
    }
}

/// How long and how many frames a camera scan may take before it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBounds {
    pub time: Duration,
    pub frames: u64,
}

impl ScanBounds {
    /// `seconds` of time, and as many frames as a camera at 30 frames a second gives in it.
    pub fn seconds(seconds: u64) -> Self {
        Self {
            time: Duration::from_secs(seconds),
            frames: seconds.saturating_mul(30).max(1),
        }
    }
}

/// What a finished scan saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanTally {
    pub frames: u64,
    pub codes: u64,
}

/// Why a scan stopped short.
#[derive(Debug)]
pub enum ScanStop<E> {
    /// The camera failed.
    Camera(CameraError),
    /// The caller refused what was scanned.
    Refused(E),
    /// The time or frame bound passed before the caller was satisfied.
    OutOfBounds(ScanTally),
}

/// Opens `device` and hands the QR codes of each frame (an empty list for frames where none
/// reads) to `take` until it answers `true` (done), it fails, or `bounds` pass.
pub fn scan_codes<E>(
    device: &Path,
    bounds: ScanBounds,
    mut take: impl FnMut(Vec<String>) -> Result<bool, E>,
) -> Result<ScanTally, ScanStop<E>> {
    let mut camera = Camera::open(device).map_err(ScanStop::Camera)?;
    let layout = camera.layout();
    eprintln!(
        "Scanning with {} ({}, {}x{} {:?}); hold the QR code in front of it (Ctrl-C stops).",
        device.display(),
        camera.card(),
        layout.width,
        layout.height,
        layout.format
    );
    let deadline = Instant::now() + bounds.time;
    let mut tally = ScanTally::default();
    while tally.frames < bounds.frames {
        let Some(frame) = camera.next_frame(deadline).map_err(ScanStop::Camera)? else {
            break;
        };
        tally.frames += 1;
        let texts = sluice_shared::qr_scan::scan_quick(&frame).unwrap_or_default();
        tally.codes += texts.len() as u64;
        if take(texts).map_err(ScanStop::Refused)? {
            return Ok(tally);
        }
    }
    Err(ScanStop::OutOfBounds(tally))
}
