//! What an uploaded file really is, told by its bytes rather than its name or declared type,
//! and the pixel size an image header announces (checked before anything decodes it).

use serde::{Deserialize, Serialize};

/// The file kinds an invoice may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    Jpeg,
    Png,
    Webp,
    Tiff,
    Pdf,
}

impl ContentKind {
    pub const ALL: [Self; 5] = [Self::Jpeg, Self::Png, Self::Webp, Self::Tiff, Self::Pdf];

    /// The kind the bytes' signature shows, or `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Some(Self::Png),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Self::Webp),
            [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Some(Self::Tiff),
            // The header may follow a little junk (a BOM, whitespace); readers accept 1 KiB of it.
            _ if bytes[..bytes.len().min(1024)].windows(5).any(|w| w == b"%PDF-") => Some(Self::Pdf),
            _ => None,
        }
    }

    /// The media type stored and served for this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Tiff => "image/tiff",
            Self::Pdf => "application/pdf",
        }
    }

    /// The kind a declared media type names (`image/jpg` and parameters tolerated).
    pub fn from_media_type(raw: &str) -> Option<Self> {
        let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            "image/tiff" | "image/tif" => Some(Self::Tiff),
            "application/pdf" | "application/x-pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    pub fn is_image(self) -> bool {
        self != Self::Pdf
    }
}

/// Width and height an image's header declares, read without decoding pixels; `None` when the
/// header is truncated or malformed (a PDF has none).
pub fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    match ContentKind::sniff(bytes)? {
        ContentKind::Png => png_dimensions(bytes),
        ContentKind::Jpeg => jpeg_dimensions(bytes),
        ContentKind::Webp => webp_dimensions(bytes),
        ContentKind::Tiff => tiff_dimensions(bytes),
        ContentKind::Pdf => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The IHDR chunk comes first: width and height at bytes 16 and 20.
fn png_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    (b.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(b, 16)?, be32(b, 20)?))
}

/// Walks the marker segments to the first start-of-frame (SOF0–SOF15 but DHT, JPG, DAC).
fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        while *b.get(at)? == 0xFF && *b.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => at += 2,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some((be16(b, at + 7)?, be16(b, at + 5)?));
            }
            0xD9 | 0xDA => return None,
            _ => at = at.checked_add(2 + usize::try_from(be16(b, at + 2)?).ok()?)?,
        }
    }
}

/// The first chunk after `WEBP` says which of the three encodings it is.
fn webp_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            // Key frame start code, then 14-bit width and height.
            (b.get(23..26)? == [0x9D, 0x01, 0x2A]).then_some(())?;
            Some((le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF))
        }
        b"VP8L" => {
            (*b.get(20)? == 0x2F).then_some(())?;
            let bits = le32(b, 21)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

/// The first image file directory's ImageWidth (256) and ImageLength (257) tags.
fn tiff_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let little = b.first()? == &b'I';
    let u16_at = |at| if little { le16(b, at) } else { be16(b, at) };
    let u32_at = |at| if little { le32(b, at) } else { be32(b, at) };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::try_from(u16_at(ifd)?).ok()?;
    let (mut width, mut height) = (None, None);
    for i in 0..entries.min(1024) {
        let entry = ifd.checked_add(2 + i * 12)?;
        let value = match u16_at(entry + 2)? {
            3 => u16_at(entry + 8)?,
            4 => u32_at(entry + 8)?,
            _ => continue,
        };
        match u16_at(entry)? {
            256 => width = Some(value),
            257 => height = Some(value),
            _ => {}
        }
    }
    Some((width?, height?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn the_bytes_decide_the_kind_not_the_name() {
        assert_eq!(ContentKind::sniff(&png_header(1, 1)), Some(ContentKind::Png));
        assert_eq!(ContentKind::sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some(ContentKind::Jpeg));
        assert_eq!(ContentKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ContentKind::Webp));
        assert_eq!(ContentKind::sniff(b"II*\0\x08\0\0\0"), Some(ContentKind::Tiff));
        assert_eq!(ContentKind::sniff(b"MM\0*\0\0\0\x08"), Some(ContentKind::Tiff));
        assert_eq!(ContentKind::sniff(b"%PDF-1.7\n"), Some(ContentKind::Pdf));
        assert_eq!(ContentKind::sniff(b"\xef\xbb\xbf%PDF-1.4"), Some(ContentKind::Pdf));
        assert_eq!(ContentKind::sniff(b"GIF89a"), None);
        assert_eq!(ContentKind::sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(ContentKind::sniff(b""), None);
        assert_eq!(ContentKind::sniff(b"hello, I am a PDF, honestly"), None);
    }

    #[test]
    fn declared_media_types_are_read_leniently() {
        assert_eq!(ContentKind::from_media_type("image/JPG"), Some(ContentKind::Jpeg));
        assert_eq!(ContentKind::from_media_type("application/pdf; charset=binary"), Some(ContentKind::Pdf));
        assert_eq!(ContentKind::from_media_type("text/plain"), None);
        for kind in ContentKind::ALL {
            assert_eq!(ContentKind::from_media_type(kind.media_type()), Some(kind));
        }
    }

    #[test]
    fn a_png_header_announces_its_size() {
        assert_eq!(image_dimensions(&png_header(30_000, 30_000)), Some((30_000, 30_000)));
        assert_eq!(image_dimensions(&png_header(30_000, 30_000)[..20]), None);
    }

    #[test]
    fn a_jpeg_size_is_found_past_other_segments() {
        // SOI, an APP0 segment of 16 bytes, then SOF0 with height 480 and width 640.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        b.extend([0; 14]);
        b.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03]);
        assert_eq!(image_dimensions(&b), Some((640, 480)));
        assert_eq!(image_dimensions(&b[..24]), None);
    }

    #[test]
    fn a_tiff_size_comes_from_its_first_directory() {
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        b.extend(2u16.to_le_bytes());
        for (tag, value) in [(256u16, 1200u32), (257, 1800)] {
            b.extend(tag.to_le_bytes());
            b.extend(4u16.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            b.extend(value.to_le_bytes());
        }
        assert_eq!(image_dimensions(&b), Some((1200, 1800)));
    }

    #[test]
    fn a_webp_lossless_size_is_packed_in_fourteen_bits() {
        let mut b = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = (99) | (49 << 14);
        b.extend(bits.to_le_bytes());
        assert_eq!(image_dimensions(&b), Some((100, 50)));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let _ = image_dimensions(&junk);
            for prefix in [&b"\xff\xd8\xff"[..], b"II*\0", b"MM\0*", b"RIFF\0\0\0\0WEBPVP8X"] {
                let mut b = prefix.to_vec();
                b.extend(&junk);
                let _ = image_dimensions(&b);
            }
        }
    }
}
