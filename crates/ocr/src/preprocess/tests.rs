use super::*;

/// A small deterministic generator: tests must not depend on a seed that changes.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

/// A page of "text": rows of dark word-like bars of random widths on light paper.
fn text_like_page(width: u32, height: u32) -> GrayImage {
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut page = GrayImage::from_pixel(width, height, Luma([235]));
    let (line_height, glyph_height) = (36, 18);
    let mut y = 40;
    while y + glyph_height < height - 40 {
        let mut x = 40 + rng.below(60);
        while x < width - 80 {
            let word = 20 + rng.below(90);
            for yy in y..y + glyph_height {
                for xx in x..(x + word).min(width - 40) {
                    // Glyph strokes, not solid blocks: every third column is a gap.
                    if (xx + yy / 7) % 3 != 0 {
                        page.put_pixel(xx, yy, Luma([25]));
                    }
                }
            }
            x += word + 15 + rng.below(20);
        }
        y += line_height;
    }
    page
}

#[test]
fn otsu_splits_a_bimodal_image_between_its_modes() {
    let mut rng = Xorshift(7);
    let image = GrayImage::from_fn(200, 100, |x, _| {
        let noise = rng.below(21) as u8;
        Luma([if x < 70 { 30 + noise } else { 190 + noise }])
    });
    let threshold = otsu_threshold(&image);
    assert!((50..190).contains(&threshold), "threshold {threshold}");

    let mut binary = image.clone();
    binarise(&mut binary, threshold);
    for (x, _, pixel) in binary.enumerate_pixels() {
        assert_eq!(pixel.0[0], if x < 70 { 0 } else { 255 });
    }
}

#[test]
fn a_uniform_image_gets_a_threshold_without_panicking() {
    let image = GrayImage::from_pixel(10, 10, Luma([128]));
    let _ = otsu_threshold(&image);
    assert_eq!(analyse(&image, true).skew, 0.0);
}

#[test]
fn small_text_is_scaled_up_and_large_text_down_towards_32_px_lines() {
    let plenty = 40_000_000;
    assert_eq!(scale_factor(Some(30), 600, 2000, plenty), 1.0);
    assert_eq!(scale_factor(Some(20), 600, 2000, plenty), 1.0);
    assert_eq!(scale_factor(Some(48), 600, 2000, plenty), 1.0);
    assert_eq!(scale_factor(Some(16), 600, 2000, plenty), 2.0);
    assert_eq!(scale_factor(Some(10), 600, 2000, plenty), 3.2);
    assert_eq!(scale_factor(Some(5), 300, 300, plenty), 4.0, "at most ×4");
    assert_eq!(scale_factor(Some(64), 2000, 3000, plenty), 0.5);
    assert_eq!(scale_factor(None, 300, 300, plenty), 1.0, "no lines, no guess");
}

#[test]
fn upscaling_stays_within_the_pixel_limit() {
    assert_eq!(scale_factor(Some(8), 500, 500, 500 * 500 * 4), 2.0);
    assert_eq!(scale_factor(Some(8), 500, 500, 500 * 500), 1.0);
    let tall = scale_factor(Some(8), 900, 20_000, u64::MAX);
    assert!(20_000.0 * tall <= MAX_SIDE as f32, "tesseract's longest side");
}

#[test]
fn line_height_is_the_median_run_of_inked_rows() {
    assert_eq!(analyse(&text_like_page(600, 400), true).line_height, Some(18));
    let skewed = rotate(&text_like_page(900, 700), 3.0, 235);
    let measured = analyse(&skewed, true).line_height.unwrap();
    assert!((17..=20).contains(&measured), "a skewed page's lines measured once straightened: {measured}");
    assert_eq!(
        analyse(&GrayImage::from_pixel(100, 100, Luma([255])), true),
        PageLayout { skew: 0.0, line_height: None }
    );
}

#[test]
fn a_large_page_is_measured_on_a_shrunk_copy() {
    let page = text_like_page(2400, 1800);
    let big = image::imageops::resize(&page, 4800, 3600, FilterType::Nearest);
    let measured = analyse(&big, true).line_height.unwrap();
    assert!((30..=42).contains(&measured), "36 px lines measured as {measured}");
}

#[test]
fn deskew_recovers_a_known_rotation_within_half_a_degree() {
    let page = text_like_page(900, 1100);
    for angle in [-4.5f32, -3.0, -1.0, 0.0, 0.7, 2.0, 3.5, 5.0] {
        let rotated = rotate(&page, angle, 235);
        let found = analyse(&rotated, true).skew;
        assert!((found - angle).abs() <= 0.5, "rotated by {angle}°, estimated {found}°");
    }
}

#[test]
fn rotating_back_by_the_measured_skew_straightens_the_page() {
    let page = text_like_page(1200, 900);
    let skewed = rotate(&page, 2.5, 235);
    let straight = rotate(&skewed, -analyse(&skewed, true).skew, 235);
    assert!(analyse(&straight, true).skew.abs() <= 0.3);
}

#[test]
fn rotating_by_zero_keeps_every_pixel() {
    let page = text_like_page(300, 200);
    assert_eq!(rotate(&page, 0.0, 255), page);
}

#[test]
fn rotation_grows_the_canvas_and_fills_the_corners() {
    let page = GrayImage::from_pixel(400, 200, Luma([0]));
    let rotated = rotate(&page, 5.0, 255);
    assert!(rotated.width() > 400 && rotated.height() > 200);
    assert_eq!(rotated.get_pixel(0, 0).0[0], 255);
    assert_eq!(rotated.get_pixel(rotated.width() / 2, rotated.height() / 2).0[0], 0);
}

#[test]
fn transparent_pixels_are_put_on_white() {
    let mut rgba = image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 0]));
    rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 255]));
    let mut png = Vec::new();
    DynamicImage::ImageRgba8(rgba).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
    let gray = decode(&png, ContentKind::Png, 1_000).unwrap();
    assert_eq!(gray.get_pixel(0, 0).0[0], 0);
    assert_eq!(gray.get_pixel(3, 3).0[0], 255);
}

fn png_of(image: DynamicImage) -> Vec<u8> {
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
    png
}

#[test]
fn an_image_is_refused_by_the_bytes_its_pixels_decode_to_not_only_their_count() {
    // 100×100 pixels, within a 10,000-pixel limit: 40,000 bytes allowed.
    let wide = png_of(DynamicImage::ImageRgba16(image::ImageBuffer::new(100, 100)));
    let error = decode(&wide, ContentKind::Png, 10_000).unwrap_err();
    assert!(matches!(&error, OcrError::Unreadable(reason) if reason.contains("decodes to 80000 bytes")), "{error:?}");
    let narrow = png_of(DynamicImage::ImageRgba8(image::ImageBuffer::new(100, 100)));
    assert_eq!(decode(&narrow, ContentKind::Png, 10_000).unwrap().dimensions(), (100, 100));
    let gray16 = png_of(DynamicImage::ImageLuma16(image::ImageBuffer::new(100, 100)));
    assert_eq!(decode(&gray16, ContentKind::Png, 10_000).unwrap().dimensions(), (100, 100));
}

#[test]
fn wide_transparent_pixels_are_put_on_white_too() {
    let mut rgba = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(4, 4, image::Rgba([0, 0, 0, 0]));
    rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, u16::MAX]));
    rgba.put_pixel(1, 0, image::Rgba([u16::MAX, u16::MAX, u16::MAX, u16::MAX]));
    let gray = decode(&png_of(DynamicImage::ImageRgba16(rgba)), ContentKind::Png, 1_000).unwrap();
    assert_eq!((gray.get_pixel(0, 0).0[0], gray.get_pixel(1, 0).0[0], gray.get_pixel(3, 3).0[0]), (0, 255, 255));
    let mut la = image::ImageBuffer::<image::LumaA<u8>, _>::from_pixel(2, 1, image::LumaA([0, 0]));
    la.put_pixel(0, 0, image::LumaA([0, 255]));
    let gray = decode(&png_of(DynamicImage::ImageLumaA8(la)), ContentKind::Png, 1_000).unwrap();
    assert_eq!(gray.as_raw(), &[0, 255]);
}

#[test]
fn a_header_declaring_too_many_pixels_is_refused_before_decoding() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(30_000u32.to_be_bytes());
    png.extend(30_000u32.to_be_bytes());
    png.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
    let error = decode(&png, ContentKind::Png, 40_000_000).unwrap_err();
    assert!(matches!(error, OcrError::Unreadable(ref reason) if reason.contains("30000×30000")), "{error:?}");
}

#[test]
fn prepare_with_no_steps_changes_nothing() {
    let page = text_like_page(300, 200);
    let none = Preprocessing { scale: false, deskew: false, binarise: false };
    assert_eq!(prepare(page.clone(), none, u64::MAX), page);
}

#[test]
fn prepare_scales_up_small_text_and_binarises() {
    let page = text_like_page(500, 300);
    let prepared = prepare(page, Preprocessing::default(), u64::MAX);
    assert_eq!(prepared.dimensions(), (889, 533), "18 px lines scaled to 32");
    assert!(prepared.iter().all(|&v| v == 0 || v == 255));
}

#[test]
fn prepare_straightens_a_skewed_page() {
    let skewed = rotate(&text_like_page(900, 700), -2.0, 235);
    let prepared = prepare(skewed, Preprocessing { scale: false, ..Preprocessing::default() }, u64::MAX);
    assert!(analyse(&prepared, true).skew.abs() <= 0.3);
}
