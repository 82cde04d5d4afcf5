//! Images in prompts: pasted or dropped in the prompt box (or `sam agent prompt --image`), sent
//! to a coding agent that says it takes them (`promptCapabilities.image`) as ACP image blocks.
//! The transcript keeps what they were (type and size), not their bytes.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::SamError;

/// The image types agents take.
pub const TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
/// The largest image, in bytes.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// The most images one prompt carries.
pub const MAX_IMAGES: usize = 8;

/// An image for a prompt.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptImage {
    /// Its type: one of [`TYPES`].
    pub mime_type: String,
    /// Its bytes, base64 (standard alphabet).
    pub data: String,
}

impl PromptImage {
    /// An image file's bytes, its type from its first bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mime_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(b"\xff\xd8\xff") {
            "image/jpeg"
        } else if bytes.starts_with(b"GIF8") {
            "image/gif"
        } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            "image/webp"
        } else {
            return None;
        };
        Some(Self {
            mime_type: mime_type.to_owned(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// Its size in bytes (from the base64's length and padding).
    pub fn bytes(&self) -> usize {
        let padding = self.data.bytes().rev().take_while(|b| *b == b'=').count();
        (self.data.len() / 4 * 3).saturating_sub(padding)
    }
}

/// Checks a prompt's images: types agents take, base64 that decodes, sizes and count within
/// the limits.
pub fn check(images: &[PromptImage]) -> Result<(), SamError> {
    if images.len() > MAX_IMAGES {
        return Err(SamError::invalid_input(
            format!(
                "A prompt carries at most {MAX_IMAGES} images, not {}.",
                images.len()
            ),
            "Send the others in another prompt.",
        ));
    }
    for (n, image) in images.iter().enumerate() {
        let which = n + 1;
        if !TYPES.contains(&image.mime_type.as_str()) {
            return Err(SamError::invalid_input(
                format!(
                    "Image {which} is {:?}, not an image agents take.",
                    image.mime_type
                ),
                format!("Use one of: {}.", TYPES.join(", ")),
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&image.data)
            .map_err(|err| {
                SamError::invalid_input(
                    format!("Image {which} is not base64: {err}."),
                    "Paste or attach the image again.",
                )
            })?;
        if decoded.len() > MAX_BYTES {
            return Err(SamError::invalid_input(
                format!(
                    "Image {which} has {} bytes; a prompt's images have at most {MAX_BYTES} each.",
                    decoded.len()
                ),
                "Make it smaller (a screenshot of part of the screen, say).",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_first_bytes_and_checked() {
        let png = PromptImage::from_bytes(b"\x89PNG\r\n\x1a\nrest").expect("a png");
        assert_eq!(png.mime_type, "image/png");
        assert_eq!(png.bytes(), 12);
        assert!(PromptImage::from_bytes(b"%PDF-1.7").is_none());
        assert!(check(std::slice::from_ref(&png)).is_ok());
        let bad = [
            PromptImage {
                mime_type: "image/tiff".into(),
                data: png.data.clone(),
            },
            PromptImage {
                mime_type: "image/png".into(),
                data: "not base64!".into(),
            },
        ];
        for image in bad {
            assert!(check(&[image]).is_err());
        }
        assert!(check(&vec![png; MAX_IMAGES + 1]).is_err());
    }
}
