//! Minimal PDFs written by hand: a page of Helvetica text, a page holding one JPEG, an encrypted one,
//! and hostile ones (a small CropBox on a huge MediaBox, a page that takes poppler seconds).

/// Objects numbered from 1 in order; object 1 must be the catalog.
fn assemble(objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(object);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!("trailer\n<< /Size {} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
            .as_bytes(),
    );
    out
}

fn stream(dictionary: &str, data: &[u8]) -> Vec<u8> {
    let mut object = format!("<< {dictionary} /Length {} >>\nstream\n", data.len()).into_bytes();
    object.extend(data);
    object.extend(b"\nendstream");
    object
}

/// A PDF string literal in WinAnsiEncoding (Latin-1 plus the euro sign at 0x80).
fn literal(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => out.extend([b'\\', c as u8]),
            '€' => out.extend(b"\\200"),
            c if (c as u32) < 256 => out.push(c as u8),
            _ => out.push(b'?'),
        }
    }
    out.push(b')');
    out
}

/// One page of 10 pt Helvetica text; `left|right` puts `right` in a second column.
pub fn with_text(text: &str) -> Vec<u8> {
    assemble(&text_objects(text), "")
}

fn text_objects(text: &str) -> Vec<Vec<u8>> {
    let lines: Vec<&str> = text.lines().collect();
    let height = 60 + lines.len() * 14;
    let mut content = b"BT /F1 10 Tf 14 TL ".to_vec();
    content.extend(format!("1 0 0 1 40 {} Tm ", height - 40).as_bytes());
    for line in lines {
        let line = line.trim_start_matches('^');
        match line.split_once('|') {
            Some((left, right)) => {
                content.extend(literal(left));
                content.extend(b" Tj 220 0 Td ");
                content.extend(literal(right));
                content.extend(b" Tj -220 0 Td T* ");
            }
            None => {
                content.extend(literal(line));
                content.extend(b" Tj T* ");
            }
        }
    }
    content.extend(b"ET");
    let page = format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 320 {height}] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
    );
    vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        page.into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
        stream("", &content),
    ]
}

/// One page showing a gray JPEG of `width`×`height` pixels at `dpi`, and no text layer.
pub fn with_jpeg(jpeg: &[u8], width: u32, height: u32, dpi: u32) -> Vec<u8> {
    let (w, h) = (width * 72 / dpi, height * 72 / dpi);
    let page = format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>"
    );
    let image = format!(
        "/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"
    );
    assemble(
        &[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            page.into_bytes(),
            stream(&image, jpeg),
            stream("", format!("q {w} 0 0 {h} 0 0 cm /Im0 Do Q").as_bytes()),
        ],
        "",
    )
}

/// A text PDF encrypted with the standard security handler under a user password nobody knows:
/// its check value /U matches no password, so readers refuse it.
pub fn encrypted() -> Vec<u8> {
    let hex32 = "7a".repeat(32);
    let id = "0123456789abcdef0123456789abcdef";
    let trailer =
        format!("/Encrypt << /Filter /Standard /V 1 /R 2 /O <{hex32}> /U <{hex32}> /P -4 >> /ID [<{id}> <{id}>] ");
    assemble(&text_objects("TOTAL|12,34 EUR\nFecha 01/02/2024"), &trailer)
}

/// One page whose CropBox is an inch and whose MediaBox is 10,000 points square, with no text:
/// pdfinfo reports the inch, and pdftoppm without `-cropbox` draws 41,667² pixels (1.7 GB) at the
/// 300 dpi chosen for it.
pub fn cropped_to_an_inch() -> Vec<u8> {
    assemble(
        &[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10000 10000] /CropBox [0 0 72 72] /Contents 4 0 R >>"
                .to_vec(),
            stream("", b"0 0 1 rg 10 10 50 50 re f"),
        ],
        "",
    )
}

/// A letter page with no text that draws a tiny square 10^`levels` times through nested Form
/// XObjects: 6 levels keep pdftotext and pdftoppm busy for seconds.
pub fn slow(levels: usize) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /F 5 0 R >> >> /Contents 4 0 R >>"
            .to_vec(),
        stream("", b"/F Do"),
    ];
    let form = "/Type /XObject /Subtype /Form /BBox [0 0 612 792]";
    for level in 0..levels {
        objects.push(if level + 1 < levels {
            let next = 5 + level + 1;
            stream(&format!("{form} /Resources << /XObject << /F {next} 0 R >> >>"), ["/F Do"; 10].join(" ").as_bytes())
        } else {
            stream(form, b"0 g 1 1 2 2 re f")
        });
    }
    assemble(&objects, "")
}
