//! Uploaded images (avatars, product photos): type sniffing by magic bytes,
//! size limits and content-addressed ids.
//!
//! The type is decided by the bytes alone ([`sniff_image`]); a declared
//! `Content-Type` is only cross-checked ([`check_image`]). Images are stored
//! under [`image_id`], the hex SHA-256 of their content, which also serves as
//! a strong ETag ([`etag`]).

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Largest accepted image, in bytes (5 MiB; larger uploads answer 413).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];

/// An accepted image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
    /// `image/webp`
    Webp,
}

impl ImageKind {
    /// The MIME type to serve the image with.
    pub const fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Webp => "image/webp",
        }
    }

    /// A file extension without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Webp => "webp",
        }
    }

    /// Parses a `Content-Type` header value (parameters and case ignored;
    /// `image/jpg` accepted as JPEG). `None` for anything else.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/png" => Some(ImageKind::Png),
            "image/jpeg" | "image/jpg" => Some(ImageKind::Jpeg),
            "image/webp" => Some(ImageKind::Webp),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ImageKind::Png => "PNG",
            ImageKind::Jpeg => "JPEG",
            ImageKind::Webp => "WebP",
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.content_type())
    }
}

/// Why an upload was refused. The `Display` text is user-facing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    /// The body is empty (400).
    #[error("the image is empty")]
    Empty,
    /// The body exceeds [`MAX_IMAGE_BYTES`] (413).
    #[error("the image is larger than 5 MiB")]
    TooLarge,
    /// The header that gives the image's size is missing or malformed (400).
    #[error("the image's header is incomplete or malformed")]
    Unreadable,
    /// Wider, taller or with more pixels than a client should be asked to decode (400).
    #[error(
        "the image is {width} × {height} pixels; at most {} on a side and {} megapixels are accepted",
        super::image_dimensions::MAX_SIDE,
        super::image_dimensions::MAX_PIXELS / 1_000_000
    )]
    TooManyPixels { width: u32, height: u32 },
    /// Not PNG, JPEG or WebP, or not what the `Content-Type` said (415).
    #[error("{}", unsupported_message(declared.as_deref(), *detected))]
    UnsupportedType {
        /// The declared `Content-Type`, if any.
        declared: Option<String>,
        /// What the bytes are, if recognised.
        detected: Option<ImageKind>,
    },
}

impl ImageError {
    /// The HTTP status this error should answer with.
    pub const fn status(&self) -> u16 {
        match self {
            ImageError::Empty | ImageError::Unreadable | ImageError::TooManyPixels { .. } => 400,
            ImageError::TooLarge => 413,
            ImageError::UnsupportedType { .. } => 415,
        }
    }
}

fn unsupported_message(declared: Option<&str>, detected: Option<ImageKind>) -> String {
    match (declared, detected) {
        (Some(declared), Some(kind)) => format!(
            "the Content-Type is {declared} but the content is a {kind} image; send a matching Content-Type"
        ),
        _ => "unsupported image type: only PNG, JPEG and WebP images are accepted".to_owned(),
    }
}

/// Identifies PNG, JPEG or WebP by magic bytes; `None` for anything else.
pub fn sniff_image(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.starts_with(PNG_MAGIC) {
        Some(ImageKind::Png)
    } else if bytes.starts_with(JPEG_MAGIC) {
        Some(ImageKind::Jpeg)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        Some(ImageKind::Webp)
    } else {
        None
    }
}

/// Validates an upload: not empty, at most [`MAX_IMAGE_BYTES`], a PNG, JPEG or
/// WebP by its bytes, the same kind as `declared_content_type` if one is given (any other
/// type, generic ones included, is a 415), and with a readable header within the
/// [`super::image_dimensions`] limits. Returns the sniffed kind.
pub fn check_image(
    bytes: &[u8],
    declared_content_type: Option<&str>,
) -> Result<ImageKind, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge);
    }
    let detected = sniff_image(bytes);
    let declared_kind = declared_content_type.map(ImageKind::from_content_type);
    let kind = match (detected, declared_kind) {
        (Some(kind), None) => kind,
        (Some(kind), Some(Some(declared))) if declared == kind => kind,
        _ => {
            return Err(ImageError::UnsupportedType {
                declared: declared_content_type.map(|d| d.trim().to_owned()),
                detected,
            });
        }
    };
    let size = super::image_dimensions::dimensions(kind, bytes).ok_or(ImageError::Unreadable)?;
    if !super::image_dimensions::acceptable(size) {
        let (width, height) = size;
        return Err(ImageError::TooManyPixels { width, height });
    }
    Ok(kind)
}

/// The image's id: lowercase hex SHA-256 of its bytes (64 characters).
pub fn image_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A strong ETag header value for an image id: the id in double quotes.
pub fn etag(image_id: &str) -> String {
    format!("\"{image_id}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::auth::image_dimensions::samples;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xFF\xC0\0\x11\x08\0\x01\0\x01\x03\x01\x11\0\x02\x11\x01\x03\x11\x01\xFF\xD9";
    const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8L\x05\0\0\0\x2f\0\0\0\0";

    #[test]
    fn samples_are_the_constants() {
        assert_eq!(samples::png(1, 1), PNG);
        assert_eq!(samples::jpeg(1, 1), JPEG);
        assert_eq!(samples::webp_lossless(1, 1), WEBP);
    }

    #[test]
    fn bombs_and_headless_images_are_refused() {
        let bomb = samples::png(100_000, 100_000);
        let err = check_image(&bomb, Some("image/png")).unwrap_err();
        assert_eq!(
            err,
            ImageError::TooManyPixels {
                width: 100_000,
                height: 100_000
            }
        );
        assert_eq!(err.status(), 400);
        let headless = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(check_image(headless, None), Err(ImageError::Unreadable));
    }

    #[test]
    fn sniffs_by_magic_bytes() {
        assert_eq!(sniff_image(PNG), Some(ImageKind::Png));
        assert_eq!(sniff_image(JPEG), Some(ImageKind::Jpeg));
        assert_eq!(sniff_image(WEBP), Some(ImageKind::Webp));
        assert_eq!(sniff_image(b""), None);
        assert_eq!(sniff_image(b"GIF89a......"), None);
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEB"), None);
        assert_eq!(sniff_image(&PNG[..7]), None);
        assert_eq!(sniff_image(b"<svg xmlns=...>"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(ImageKind::Png.content_type(), "image/png");
        assert_eq!(ImageKind::Jpeg.content_type(), "image/jpeg");
        assert_eq!(ImageKind::Webp.content_type(), "image/webp");
        assert_eq!(
            ImageKind::from_content_type("IMAGE/PNG; q=1"),
            Some(ImageKind::Png)
        );
        assert_eq!(
            ImageKind::from_content_type("image/jpg"),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(ImageKind::from_content_type("image/gif"), None);
    }

    #[test]
    fn id_is_hex_sha256() {
        assert_eq!(
            image_id(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(image_id(PNG).len(), 64);
        assert_ne!(image_id(PNG), image_id(JPEG));
        assert_eq!(etag("ab12"), "\"ab12\"");
    }

    #[test]
    fn check_accepts_matching_or_undeclared() {
        assert_eq!(check_image(PNG, None), Ok(ImageKind::Png));
        assert_eq!(check_image(PNG, Some("image/png")), Ok(ImageKind::Png));
        assert_eq!(
            check_image(JPEG, Some("image/jpeg; charset=binary")),
            Ok(ImageKind::Jpeg)
        );
        assert_eq!(check_image(WEBP, Some("image/webp")), Ok(ImageKind::Webp));
    }

    #[test]
    fn check_rejects_empty_large_unknown_and_mismatch() {
        assert_eq!(check_image(b"", None), Err(ImageError::Empty));
        let mut big = PNG.to_vec();
        big.resize(MAX_IMAGE_BYTES, 0);
        assert_eq!(check_image(&big, None), Ok(ImageKind::Png));
        big.push(0);
        let err = check_image(&big, None).unwrap_err();
        assert_eq!(
            (err.status(), err.to_string().as_str()),
            (413, "the image is larger than 5 MiB")
        );

        let err = check_image(b"GIF89a", Some("image/gif")).unwrap_err();
        assert_eq!(err.status(), 415);
        assert!(err.to_string().contains("only PNG, JPEG and WebP"), "{err}");

        let err = check_image(JPEG, Some("image/png")).unwrap_err();
        assert_eq!(
            err,
            ImageError::UnsupportedType {
                declared: Some("image/png".into()),
                detected: Some(ImageKind::Jpeg)
            }
        );
        assert_eq!(
            err.to_string(),
            "the Content-Type is image/png but the content is a JPEG (image/jpeg) image; send a matching Content-Type"
        );
        let err = check_image(PNG, Some("application/octet-stream")).unwrap_err();
        assert!(err.to_string().contains("PNG (image/png)"), "{err}");
    }
}
