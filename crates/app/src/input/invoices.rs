//! Invoice commands: the upload's header and its checked file, and a person's correction.

use cashflow_domain::invoice::{ContentKind, FileName, Sha256Hex, image_dimensions};
use cashflow_domain::{AccountId, Amount, CommandId, Counterparty, InvoiceId, ValidationError};
use chrono::NaiveDate;

/// Upload an invoice's file: the header's part (the file comes as an [`InvoiceFile`]).
#[derive(Debug, Clone)]
pub struct UploadInvoice {
    pub command_id: CommandId,
    pub filename: FileName,
    /// What the client says the file is; the bytes must agree.
    pub declared: Option<ContentKind>,
    pub account_id: Option<AccountId>,
}

/// An uploaded file whose bytes were checked: its kind sniffed, its image size within limits.
#[derive(Debug, Clone)]
pub struct InvoiceFile {
    pub kind: ContentKind,
    pub bytes: bytes::Bytes,
    pub sha256: Sha256Hex,
}

/// Why an uploaded file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefused {
    /// Not a file we take, or not what the header said: INVALID_ARGUMENT.
    Invalid(ValidationError),
    /// An image with more pixels than allowed (a decompression bomb): RESOURCE_EXHAUSTED. `max`
    /// is lower than the limit for pixels wider than 4 bytes (a 16-bit RGBA PNG gets half).
    TooManyPixels { width: u32, height: u32, max: u64 },
}

impl InvoiceFile {
    /// Checks `bytes` against what the header declared and the pixel limit, counting pixels
    /// that decode to more than 4 bytes for more.
    pub fn check(declared: Option<ContentKind>, bytes: bytes::Bytes, max_pixels: u64) -> Result<Self, FileRefused> {
        let invalid = |message: String| FileRefused::Invalid(ValidationError::new("chunk", message));
        if bytes.is_empty() {
            return Err(invalid("the file is empty".into()));
        }
        let kind =
            ContentKind::sniff(&bytes).ok_or_else(|| invalid("is not a JPEG, PNG, WebP, TIFF or PDF file".into()))?;
        if let Some(declared) = declared
            && declared != kind
        {
            return Err(FileRefused::Invalid(ValidationError::new(
                "content_type",
                format!("says {} but the file is {}", declared.media_type(), kind.media_type()),
            )));
        }
        if kind.is_image() {
            let (width, height) = image_dimensions(&bytes)
                .ok_or_else(|| invalid(format!("the {} header is unreadable", kind.media_type())))?;
            if width == 0 || height == 0 {
                return Err(invalid("the image has no pixels".into()));
            }
            // Pixels wider than 8-bit RGBA count for more, as the OCR's decoder counts them.
            let max = max_pixels.saturating_mul(DECODED_BYTES_PER_PIXEL) / decoded_bytes_per_pixel(kind, &bytes);
            if u64::from(width) * u64::from(height) > max.min(max_pixels) {
                return Err(FileRefused::TooManyPixels { width, height, max: max.min(max_pixels) });
            }
        }
        use sha2::Digest;
        let sha256 = Sha256Hex::from_digest(sha2::Sha256::digest(&bytes).into());
        Ok(Self { kind, bytes, sha256 })
    }
}

/// Decoded bytes allowed per pixel of the pixel limit: 8-bit RGBA. As
/// `cashflow_ocr::preprocess::DECODED_BYTES_PER_PIXEL`, which refuses the rest before decoding.
const DECODED_BYTES_PER_PIXEL: u64 = 4;

/// What one pixel decodes to, from a PNG's IHDR (bit depth × channels, a palette as RGBA).
/// Other kinds are not read here: JPEG and WebP decode to at most 4 bytes a pixel, and a wide
/// TIFF is refused by the OCR's own check before decoding.
fn decoded_bytes_per_pixel(kind: ContentKind, bytes: &[u8]) -> u64 {
    if kind != ContentKind::Png {
        return 1;
    }
    let (Some(&depth), Some(&colour)) = (bytes.get(24), bytes.get(25)) else { return 1 };
    let channels = match colour {
        0 => 1,     // gray
        4 => 2,     // gray and alpha
        2 => 3,     // RGB
        3 | 6 => 4, // a palette (expanded, maybe with transparency), RGBA
        _ => return 1,
    };
    channels * if depth == 16 { 2 } else { 1 }
}

/// A person's reading of an invoice's merchant, date or total.
#[derive(Debug, Clone)]
pub struct CorrectInvoice {
    pub command_id: CommandId,
    pub invoice_id: InvoiceId,
    pub merchant: Option<Counterparty>,
    pub issued_on: Option<NaiveDate>,
    pub total: Option<Amount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> bytes::Bytes {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.into()
    }

    #[test]
    fn an_empty_file_names_the_chunk() {
        let refused = InvoiceFile::check(None, bytes::Bytes::new(), 1_000_000).unwrap_err();
        assert!(matches!(refused, FileRefused::Invalid(e) if e.field == "chunk"));
    }

    #[test]
    fn a_png_declared_as_pdf_is_refused_naming_the_content_type() {
        let refused = InvoiceFile::check(Some(ContentKind::Pdf), png(10, 10), 1_000_000).unwrap_err();
        assert!(
            matches!(refused, FileRefused::Invalid(e) if e.field == "content_type" && e.message.contains("image/png"))
        );
    }

    #[test]
    fn a_decompression_bomb_header_is_refused_before_decoding() {
        let refused = InvoiceFile::check(None, png(30_000, 30_000), 40_000_000).unwrap_err();
        assert_eq!(refused, FileRefused::TooManyPixels { width: 30_000, height: 30_000, max: 40_000_000 });
    }

    #[test]
    fn a_wide_pixel_format_counts_for_more_pixels() {
        let png = |width: u32, height: u32, depth: u8, colour: u8| {
            let mut b = png(width, height).to_vec();
            b[24..26].copy_from_slice(&[depth, colour]);
            bytes::Bytes::from(b)
        };
        // 6000×6600 16-bit RGBA: 39.6 megapixels, 317 MB decoded; 8 bytes a pixel halve the limit.
        let refused = InvoiceFile::check(None, png(6000, 6600, 16, 6), 40_000_000).unwrap_err();
        assert_eq!(refused, FileRefused::TooManyPixels { width: 6000, height: 6600, max: 20_000_000 });
        let refused = InvoiceFile::check(None, png(6000, 6000, 16, 2), 40_000_000).unwrap_err();
        assert_eq!(refused, FileRefused::TooManyPixels { width: 6000, height: 6000, max: 26_666_666 });
        for (depth, colour) in [(8, 6), (8, 2), (16, 0), (16, 4), (8, 3)] {
            assert!(InvoiceFile::check(None, png(6000, 6600, depth, colour), 40_000_000).is_ok(), "{depth} {colour}");
        }
    }

    #[test]
    fn text_pretending_to_be_an_image_is_refused() {
        let refused = InvoiceFile::check(None, bytes::Bytes::from_static(b"hello"), 1_000_000).unwrap_err();
        assert!(matches!(refused, FileRefused::Invalid(e) if e.field == "chunk"));
    }

    #[test]
    fn a_good_file_gets_its_kind_and_digest() {
        let file = InvoiceFile::check(Some(ContentKind::Png), png(100, 50), 1_000_000).unwrap();
        assert_eq!(file.kind, ContentKind::Png);
        assert_eq!(file.sha256.as_str().len(), 64);
    }
}
