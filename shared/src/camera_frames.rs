//! Raw frames from a camera (a V4L2 capture buffer) as grey images for the QR scanner, and
//! grey images as raw frames for a video output (the test feeder that drives a virtual
//! camera). Pure: the capture itself is the signer's I/O edge (`sluice-signer`'s
//! `camera` module).
//!
//! Two pixel formats, the ones every UVC webcam and the kernel's virtual test driver (vivid)
//! offer: packed YUYV 4:2:2 (`Y0 U Y1 V` for each pair of pixels) and 8-bit GREY. Only the
//! luma samples matter to a QR scanner, so colour is dropped, not converted.

use image::GrayImage;

use crate::video_frames::MAX_FRAME_PIXELS;

/// A camera pixel format the QR scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraPixelFormat {
    /// Packed 4:2:2, two bytes a pixel: `Y0 U Y1 V`.
    Yuyv,
    /// 8-bit luma only.
    Grey,
}

impl CameraPixelFormat {
    /// The V4L2 four-character code.
    pub const fn fourcc(self) -> [u8; 4] {
        match self {
            Self::Yuyv => *b"YUYV",
            Self::Grey => *b"GREY",
        }
    }

    /// The format with this four-character code, if the scanner reads it.
    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"YUYV" => Some(Self::Yuyv),
            b"GREY" => Some(Self::Grey),
            _ => None,
        }
    }

    /// Bytes of one pixel in a line.
    pub const fn bytes_per_pixel(self) -> u32 {
        match self {
            Self::Yuyv => 2,
            Self::Grey => 1,
        }
    }

    /// Which format to ask a camera for among the ones it offers: YUYV (every UVC webcam's
    /// uncompressed format, and what a screen-to-camera loop such as vivid's copies as is),
    /// else GREY (monochrome cameras); `None` when it offers neither.
    pub fn preferred(offered: &[[u8; 4]]) -> Option<Self> {
        [Self::Yuyv, Self::Grey]
            .into_iter()
            .find(|f| offered.contains(&f.fourcc()))
    }
}

/// The layout of the frames a camera delivers, as the driver settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    pub format: CameraPixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes from the start of one line to the next (at least `width` × bytes per pixel).
    pub bytes_per_line: u32,
}

/// Why a raw frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frames of {width}×{height} are empty or larger than {MAX_FRAME_PIXELS} pixels")]
    Size { width: u32, height: u32 },
    #[error("a line of {bytes_per_line} bytes is too short for {width} pixels of {format:?}")]
    Stride {
        format: CameraPixelFormat,
        width: u32,
        bytes_per_line: u32,
    },
    #[error("YUYV frames need an even width, not {0}")]
    OddWidth(u32),
    #[error("the frame holds {got} bytes, {needed} are needed")]
    Short { got: usize, needed: usize },
}

impl FrameLayout {
    /// Checks that frames of this layout can be read at all.
    pub fn check(&self) -> Result<(), FrameError> {
        let pixels = u64::from(self.width) * u64::from(self.height);
        if pixels == 0 || pixels > MAX_FRAME_PIXELS {
            return Err(FrameError::Size {
                width: self.width,
                height: self.height,
            });
        }
        if self.format == CameraPixelFormat::Yuyv && self.width % 2 != 0 {
            return Err(FrameError::OddWidth(self.width));
        }
        if u64::from(self.bytes_per_line) < u64::from(self.width) * u64::from(self.format.bytes_per_pixel()) {
            return Err(FrameError::Stride {
                format: self.format,
                width: self.width,
                bytes_per_line: self.bytes_per_line,
            });
        }
        Ok(())
    }

    /// Bytes a whole frame needs (the last line without its padding).
    fn needed(&self) -> usize {
        let line = self.width as usize * self.format.bytes_per_pixel() as usize;
        (self.height as usize - 1) * self.bytes_per_line as usize + line
    }

    /// The luma plane of one raw frame.
    pub fn to_luma(&self, data: &[u8]) -> Result<GrayImage, FrameError> {
        self.check()?;
        let needed = self.needed();
        if data.len() < needed {
            return Err(FrameError::Short {
                got: data.len(),
                needed,
            });
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let mut luma = Vec::with_capacity(w * h);
        for line in data.chunks(self.bytes_per_line as usize).take(h) {
            match self.format {
                CameraPixelFormat::Grey => luma.extend_from_slice(&line[..w]),
                CameraPixelFormat::Yuyv => luma.extend(line[..2 * w].iter().step_by(2)),
            }
        }
        GrayImage::from_raw(self.width, self.height, luma).ok_or(FrameError::Short {
            got: data.len(),
            needed,
        })
    }

    /// One raw frame of this layout showing `picture` (grey) centred on white; parts that do
    /// not fit are cut. Chroma is neutral (128). For a video output device.
    pub fn from_luma(&self, picture: &GrayImage) -> Result<Vec<u8>, FrameError> {
        self.check()?;
        let mut frame = vec![0u8; self.bytes_per_line as usize * self.height as usize];
        let left = (i64::from(self.width) - i64::from(picture.width())) / 2;
        let top = (i64::from(self.height) - i64::from(picture.height())) / 2;
        for (y, line) in frame.chunks_mut(self.bytes_per_line as usize).enumerate() {
            for x in 0..self.width as usize {
                let (px, py) = (x as i64 - left, y as i64 - top);
                let inside =
                    px >= 0 && py >= 0 && px < i64::from(picture.width()) && py < i64::from(picture.height());
                let value = if inside {
                    picture.get_pixel(px as u32, py as u32)[0]
                } else {
                    255
                };
                match self.format {
                    CameraPixelFormat::Grey => line[x] = value,
                    CameraPixelFormat::Yuyv => {
                        line[2 * x] = value;
                        line[2 * x + 1] = 128;
                    }
                }
            }
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn yuyv_and_grey_frames_give_their_luma_with_line_padding() {
        // 4×2 YUYV with 2 bytes of padding a line.
        let layout = FrameLayout {
            format: CameraPixelFormat::Yuyv,
            width: 4,
            height: 2,
            bytes_per_line: 10,
        };
        let data = [
            10, 1, 20, 2, 30, 3, 40, 4, 99, 99, //
            50, 5, 60, 6, 70, 7, 80, 8, 99, 99,
        ];
        let grey = layout.to_luma(&data).unwrap();
        assert_eq!(grey.as_raw(), &[10, 20, 30, 40, 50, 60, 70, 80]);
        // The last line's padding may be missing.
        assert!(layout.to_luma(&data[..18]).is_ok());
        assert_eq!(
            layout.to_luma(&data[..17]),
            Err(FrameError::Short { got: 17, needed: 18 })
        );

        let layout = FrameLayout {
            format: CameraPixelFormat::Grey,
            width: 3,
            height: 2,
            bytes_per_line: 4,
        };
        let grey = layout.to_luma(&[1, 2, 3, 0, 4, 5, 6]).unwrap();
        assert_eq!(grey.as_raw(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn impossible_layouts_are_named() {
        let mut layout = FrameLayout {
            format: CameraPixelFormat::Yuyv,
            width: 3,
            height: 2,
            bytes_per_line: 6,
        };
        assert_eq!(layout.check(), Err(FrameError::OddWidth(3)));
        layout.width = 4;
        assert!(matches!(layout.check(), Err(FrameError::Stride { .. })));
        layout.width = 0;
        assert!(matches!(layout.check(), Err(FrameError::Size { .. })));
    }

    #[test]
    fn a_picture_written_as_a_frame_reads_back() {
        let picture = GrayImage::from_fn(6, 4, |x, y| Luma([(x * 10 + y) as u8]));
        for format in [CameraPixelFormat::Yuyv, CameraPixelFormat::Grey] {
            let layout = FrameLayout {
                format,
                width: 10,
                height: 8,
                bytes_per_line: 10 * format.bytes_per_pixel() + 4,
            };
            let frame = layout.from_luma(&picture).unwrap();
            let back = layout.to_luma(&frame).unwrap();
            assert_eq!(back.get_pixel(0, 0)[0], 255);
            assert_eq!(back.get_pixel(2 + 5, 2 + 3)[0], 53);
            assert_eq!(back.get_pixel(2, 2)[0], 0);
        }
    }

    #[test]
    fn yuyv_is_preferred_then_grey() {
        assert_eq!(
            CameraPixelFormat::preferred(&[*b"MJPG", *b"GREY", *b"YUYV"]),
            Some(CameraPixelFormat::Yuyv)
        );
        assert_eq!(
            CameraPixelFormat::preferred(&[*b"MJPG", *b"GREY"]),
            Some(CameraPixelFormat::Grey)
        );
        assert_eq!(CameraPixelFormat::preferred(&[*b"MJPG"]), None);
    }
}
