//! An image's width and height read from its header (PNG `IHDR`, JPEG `SOFn`, WebP `VP8 `/
//! `VP8L`/`VP8X`), without decoding it: what a browser would allocate to show it. Uploads
//! past [`MAX_SIDE`] or [`MAX_PIXELS`] are refused, so no stored image is a decompression
//! bomb for the clients that display it.

use super::image::ImageKind;

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 10_000;
/// Largest accepted width × height (40 megapixels: 160 MB decoded as RGBA).
pub const MAX_PIXELS: u64 = 40_000_000;

/// `(width, height)`, or `None` when the header is missing, truncated or malformed.
pub fn dimensions(kind: ImageKind, bytes: &[u8]) -> Option<(u32, u32)> {
    let (width, height) = match kind {
        ImageKind::Png => png(bytes)?,
        ImageKind::Jpeg => jpeg(bytes)?,
        ImageKind::Webp => webp(bytes)?,
    };
    (width > 0 && height > 0).then_some((width, height))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le(bytes: &[u8], at: usize, len: usize) -> Option<u32> {
    let mut n = 0u32;
    for (i, b) in bytes.get(at..at + len)?.iter().enumerate() {
        n |= u32::from(*b) << (8 * i);
    }
    Some(n)
}

/// The first chunk is `IHDR`: width and height, big-endian, at 16 and 20.
fn png(bytes: &[u8]) -> Option<(u32, u32)> {
    (bytes.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(bytes, 16)?, be32(bytes, 20)?))
}

/// Walks the markers up to the first start-of-frame (any `SOFn` but DHT, JPG and DAC).
fn jpeg(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            0xFF => at += 1,
            0xD8 | 0x01 | 0xD0..=0xD7 => at += 2,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some((be16(bytes, at + 7)?, be16(bytes, at + 5)?));
            }
            // Start of scan or end of image before any frame header.
            0xDA | 0xD9 => return None,
            _ => at += 2 + usize::try_from(be16(bytes, at + 2)?).ok()?,
        }
    }
}

fn webp(bytes: &[u8]) -> Option<(u32, u32)> {
    match bytes.get(12..16)? {
        b"VP8 " => {
            (bytes.get(23..26)? == [0x9D, 0x01, 0x2A]).then_some(())?;
            Some((le(bytes, 26, 2)? & 0x3FFF, le(bytes, 28, 2)? & 0x3FFF))
        }
        b"VP8L" => {
            (*bytes.get(20)? == 0x2F).then_some(())?;
            let bits = le(bytes, 21, 4)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le(bytes, 24, 3)? + 1, le(bytes, 27, 3)? + 1)),
        _ => None,
    }
}

/// Whether `(width, height)` is within the limits.
pub fn acceptable((width, height): (u32, u32)) -> bool {
    width <= MAX_SIDE && height <= MAX_SIDE && u64::from(width) * u64::from(height) <= MAX_PIXELS
}

#[cfg(test)]
pub mod samples {
    //! Smallest well-formed headers of each format, 1 × 1 unless sized.

    pub fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend(b"\x08\x06\0\0\0");
        bytes
    }

    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0".to_vec();
        bytes.extend(b"\xFF\xC0\0\x11\x08");
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend(b"\x03\x01\x11\0\x02\x11\x01\x03\x11\x01\xFF\xD9");
        bytes
    }

    pub fn webp_lossless(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"RIFF\x1a\0\0\0WEBPVP8L\x05\0\0\0\x2f".to_vec();
        let bits = (width - 1) | ((height - 1) << 14);
        bytes.extend(bits.to_le_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_formats_header() {
        assert_eq!(
            dimensions(ImageKind::Png, &samples::png(640, 480)),
            Some((640, 480))
        );
        assert_eq!(
            dimensions(ImageKind::Jpeg, &samples::jpeg(1024, 768)),
            Some((1024, 768))
        );
        assert_eq!(
            dimensions(ImageKind::Webp, &samples::webp_lossless(300, 200)),
            Some((300, 200))
        );
        let vp8x = b"RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x3f\x1f\0\x0f\x27\0";
        assert_eq!(dimensions(ImageKind::Webp, vp8x), Some((8000, 10000)));
    }

    #[test]
    fn truncated_or_empty_headers_have_no_size() {
        assert_eq!(
            dimensions(ImageKind::Png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            None
        );
        assert_eq!(dimensions(ImageKind::Png, &samples::png(0, 5)), None);
        assert_eq!(
            dimensions(ImageKind::Jpeg, b"\xFF\xD8\xFF\xE0\0\x10JFIF\0"),
            None
        );
        assert_eq!(dimensions(ImageKind::Jpeg, b"\xFF\xD8\xFF\xDA\0\x02"), None);
        assert_eq!(
            dimensions(ImageKind::Webp, b"RIFF\x24\0\0\0WEBPVP8 \0\0\0\0"),
            None
        );
    }

    #[test]
    fn bombs_are_not_acceptable() {
        assert!(acceptable((4000, 3000)));
        assert!(acceptable((MAX_SIDE, 4000)));
        assert!(!acceptable((100_000, 100_000)));
        assert!(!acceptable((MAX_SIDE + 1, 1)));
        assert!(!acceptable((8000, 8000)));
    }
}
