//! The frames of a video, as grey images, for scanning animated QR codes: an animated
//! PNG (APNG; a still PNG is one frame) or a YUV4MPEG2 stream (`.y4m`, what `ffmpeg
//! -f yuv4mpegpipe` and many capture tools write; only its luma plane is used). In
//! memory and bounded: a video is outside input.

use std::io::Cursor;

use image::{GrayImage, Luma};

/// The most frames read from one video (over half an hour at 5 frames a second).
pub const MAX_FRAMES: usize = 10_000;

/// The largest frame accepted, in pixels (a 4K frame is 8.3 million).
pub const MAX_FRAME_PIXELS: u64 = 16 * 1024 * 1024;

/// The most pixels of all frames together (1 GiB of grey samples): an APNG may declare
/// thousands of one-pixel frames on a large canvas, and every frame is a whole canvas.
pub const MAX_TOTAL_PIXELS: u64 = 1 << 30;

/// Why a video could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    #[error(
        "not an APNG/PNG or YUV4MPEG2 (.y4m) video; convert it, e.g. `ffmpeg -i IN -f yuv4mpegpipe OUT.y4m`"
    )]
    UnknownFormat,
    #[error("the PNG/APNG is malformed: {0}")]
    Png(String),
    #[error("the YUV4MPEG2 video is malformed: {0}")]
    Y4m(String),
    #[error("frames of {width}×{height} are larger than {MAX_FRAME_PIXELS} pixels")]
    FrameTooLarge { width: u32, height: u32 },
    #[error("more than {MAX_FRAMES} frames")]
    TooManyFrames,
    #[error("the frames together exceed {MAX_TOTAL_PIXELS} pixels: cut the video shorter or smaller")]
    TooLong,
}

/// Every frame of the video in `bytes`, in order.
pub fn frames(bytes: &[u8]) -> Result<Vec<GrayImage>, VideoError> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        apng_frames(bytes)
    } else if bytes.starts_with(b"YUV4MPEG2 ") {
        y4m_frames(bytes)
    } else {
        Err(VideoError::UnknownFormat)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), VideoError> {
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_FRAME_PIXELS {
        return Err(VideoError::FrameTooLarge { width, height });
    }
    Ok(())
}

/// Grey value of a pixel with `channels` 8-bit samples, composited over white.
fn luma(px: &[u8]) -> (u8, u8) {
    let (grey, alpha) = match px.len() {
        1 => (u32::from(px[0]), 255),
        2 => (u32::from(px[0]), u32::from(px[1])),
        3 => (
            (299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2])) / 1000,
            255,
        ),
        _ => (
            (299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2])) / 1000,
            u32::from(px[3]),
        ),
    };
    (grey as u8, alpha as u8)
}

fn apng_frames(bytes: &[u8]) -> Result<Vec<GrayImage>, VideoError> {
    let png_error = |e: png::DecodingError| VideoError::Png(e.to_string());
    let limits = png::Limits {
        bytes: 4 * MAX_FRAME_PIXELS as usize,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (width, height) = (reader.info().width, reader.info().height);
    check_size(width, height)?;
    let frame_count = reader
        .info()
        .animation_control
        .map_or(1, |a| a.num_frames as usize)
        // The default image may be shown before the animation without being part of it.
        .saturating_add(usize::from(reader.info().frame_control.is_none()));
    if frame_count > MAX_FRAMES + 1 {
        return Err(VideoError::TooManyFrames);
    }
    let mut buf = vec![
        0u8;
        reader
            .output_buffer_size()
            .ok_or_else(|| VideoError::Png("frame too large".to_owned()))?
    ];
    let mut canvas = GrayImage::from_pixel(width, height, Luma([255]));
    let mut out = Vec::new();
    let frame_pixels = u64::from(width) * u64::from(height);
    for n in 0..frame_count {
        if (n as u64 + 1) * frame_pixels > MAX_TOTAL_PIXELS {
            return Err(VideoError::TooLong);
        }
        let info = match reader.next_frame(&mut buf) {
            Ok(info) => info,
            // Fewer frames than announced: keep what was read.
            Err(_) if !out.is_empty() => break,
            Err(e) => return Err(png_error(e)),
        };
        let channels = info.color_type.samples();
        let control = reader.info().frame_control;
        let (x0, y0, blend_over, dispose) = match control {
            Some(fc) => (
                fc.x_offset,
                fc.y_offset,
                fc.blend_op == png::BlendOp::Over,
                fc.dispose_op,
            ),
            None => (0, 0, false, png::DisposeOp::None),
        };
        if x0.saturating_add(info.width) > width || y0.saturating_add(info.height) > height {
            return Err(VideoError::Png("a frame lies outside the image".to_owned()));
        }
        let before = canvas.clone();
        for y in 0..info.height {
            let row = &buf[y as usize * info.line_size..][..info.width as usize * channels];
            for (x, px) in row.chunks_exact(channels).enumerate() {
                let (grey, alpha) = luma(px);
                let target = canvas.get_pixel_mut(x0 + x as u32, y0 + y);
                let under = if blend_over { u32::from(target[0]) } else { 255 };
                let a = u32::from(alpha);
                target[0] = ((u32::from(grey) * a + under * (255 - a)) / 255) as u8;
            }
        }
        out.push(canvas.clone());
        match dispose {
            png::DisposeOp::None => {}
            png::DisposeOp::Background => {
                for y in y0..y0 + info.height {
                    for x in x0..x0 + info.width {
                        canvas.put_pixel(x, y, Luma([255]));
                    }
                }
            }
            png::DisposeOp::Previous => canvas = before,
        }
    }
    Ok(out)
}

/// The value of a `W`/`H`-style tag in a YUV4MPEG2 header.
fn y4m_tag(header: &str, tag: char) -> Option<&str> {
    header.split(' ').skip(1).find_map(|t| t.strip_prefix(tag))
}

fn y4m_frames(bytes: &[u8]) -> Result<Vec<GrayImage>, VideoError> {
    let bad = |why: &str| VideoError::Y4m(why.to_owned());
    let header_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| bad("no header line"))?;
    let header = std::str::from_utf8(&bytes[..header_end]).map_err(|_| bad("header is not text"))?;
    let number = |tag| {
        y4m_tag(header, tag)
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| VideoError::Y4m(format!("header lacks {tag}")))
    };
    let (width, height) = (number('W')?, number('H')?);
    check_size(width, height)?;
    let luma_len = width as usize * height as usize;
    let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
    let chroma_len = match y4m_tag(header, 'C').unwrap_or("420") {
        c if c.starts_with("420") => 2 * cw * ch,
        c if c.starts_with("422") => 2 * cw * height as usize,
        c if c.starts_with("444") => 2 * luma_len,
        c if c.starts_with("mono") => 0,
        c => return Err(VideoError::Y4m(format!("colour space C{c} is not supported"))),
    };
    let mut rest = &bytes[header_end + 1..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        if !rest.starts_with(b"FRAME") {
            return Err(bad("a frame does not start with FRAME"));
        }
        let line_end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| bad("truncated frame header"))?;
        rest = &rest[line_end + 1..];
        if rest.len() < luma_len + chroma_len {
            return Err(bad("truncated frame"));
        }
        if out.len() == MAX_FRAMES {
            return Err(VideoError::TooManyFrames);
        }
        if (out.len() as u64 + 1) * luma_len as u64 > MAX_TOTAL_PIXELS {
            return Err(VideoError::TooLong);
        }
        let frame =
            GrayImage::from_raw(width, height, rest[..luma_len].to_vec()).ok_or_else(|| bad("frame size"))?;
        out.push(frame);
        rest = &rest[luma_len + chroma_len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y4m_luma_frames_are_read_and_malformed_ones_named() {
        let mut video = b"YUV4MPEG2 W4 H2 F5:1 Ip A1:1 C420jpeg\n".to_vec();
        for value in [10u8, 200] {
            video.extend_from_slice(b"FRAME\n");
            video.extend_from_slice(&[value; 8]);
            video.extend_from_slice(&[128; 4]);
        }
        let got = frames(&video).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].get_pixel(3, 1)[0], 200);
        assert!(matches!(
            frames(&video[..video.len() - 1]),
            Err(VideoError::Y4m(_))
        ));
        assert!(matches!(
            frames(b"YUV4MPEG2 W0 H2\n"),
            Err(VideoError::FrameTooLarge { .. })
        ));
        assert_eq!(frames(b"GIF89a"), Err(VideoError::UnknownFormat));
    }
}
