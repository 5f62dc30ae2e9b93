//! Preview images slicers embed in G-code comments: a `; thumbnail begin WxH LEN` line (also
//! `thumbnail_QOI` and `thumbnail_JPG`), base64 lines, then `; thumbnail end`. Every block is
//! decoded and listed; the best one a browser can show is kept as bytes: a PNG or JPG, the
//! largest whose sides are at most `BEST_MAX_SIDE` pixels, else the smallest larger one (a
//! card needs a small image, not the slicer's 800 px preview). A block is capped at
//! `MAX_ENCODED` bytes of base64 so a broken file cannot make us hold more.

use base64::Engine;

/// Largest base64 text of one thumbnail we collect (PrusaSlicer's are a few tens of KiB).
const MAX_ENCODED: usize = 2 * 1024 * 1024;
/// Largest side of the thumbnail we prefer to keep, in pixels.
pub const BEST_MAX_SIDE: u32 = 400;
/// Thumbnails listed in [`Thumbnails::seen`].
const MAX_LISTED: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailFormat {
    Png,
    Jpg,
    Qoi,
}

impl ThumbnailFormat {
    /// The media type of the image bytes.
    pub fn mime(self) -> &'static str {
        match self {
            ThumbnailFormat::Png => "image/png",
            ThumbnailFormat::Jpg => "image/jpeg",
            ThumbnailFormat::Qoi => "image/qoi",
        }
    }
}

/// A decoded thumbnail.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub format: ThumbnailFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Thumbnail({:?} {}x{}, {} bytes)",
            self.format,
            self.width,
            self.height,
            self.bytes.len()
        )
    }
}

#[derive(Debug)]
struct Open {
    format: ThumbnailFormat,
    width: u32,
    height: u32,
    text: Vec<u8>,
    overflow: bool,
}

/// Collects thumbnail blocks from comment lines.
#[derive(Debug, Default)]
pub struct Thumbnails {
    open: Option<Open>,
    /// The best PNG or JPG so far (see the module's rule).
    pub best: Option<Thumbnail>,
    /// `(format, width, height)` of each block that decoded.
    pub seen: Vec<(ThumbnailFormat, u32, u32)>,
    /// Blocks that were cut off, too big or not valid base64/images.
    pub broken: u32,
}

impl Thumbnails {
    /// Whether a thumbnail block is open (its lines then all go to [`Thumbnails::read_comment`]).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Reads one comment (the text after `;`).
    pub fn read_comment(&mut self, comment: &[u8]) {
        let text = comment.trim_ascii();
        if let Some(rest) = text.strip_prefix(b"thumbnail") {
            let (format, rest) = match rest {
                [b'_', b'Q', b'O', b'I', rest @ ..] => (ThumbnailFormat::Qoi, rest),
                [b'_', b'J', b'P', b'G', rest @ ..] => (ThumbnailFormat::Jpg, rest),
                _ => (ThumbnailFormat::Png, rest),
            };
            let rest = rest.trim_ascii();
            if let Some(header) = rest.strip_prefix(b"begin") {
                self.begin(format, header);
                return;
            }
            if rest == b"end" {
                self.end();
                return;
            }
        }
        if let Some(open) = &mut self.open {
            if open.text.len() + text.len() > MAX_ENCODED {
                open.overflow = true;
            } else if !open.overflow {
                open.text.extend_from_slice(text);
            }
        }
    }

    fn begin(&mut self, format: ThumbnailFormat, header: &[u8]) {
        if self.open.is_some() {
            self.broken += 1;
        }
        let header = std::str::from_utf8(header).unwrap_or("");
        let size = header
            .split_whitespace()
            .next()
            .and_then(|s| s.split_once('x'));
        let Some((Ok(width), Ok(height))) = size.map(|(w, h)| (w.parse(), h.parse())) else {
            self.open = None;
            self.broken += 1;
            return;
        };
        self.open = Some(Open {
            format,
            width,
            height,
            text: Vec::new(),
            overflow: false,
        });
    }

    fn end(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        let decoded = base64::engine::general_purpose::STANDARD.decode(&open.text);
        let bytes = match decoded {
            Ok(bytes) if !open.overflow && magic_matches(open.format, &bytes) => bytes,
            _ => {
                self.broken += 1;
                return;
            }
        };
        if self.seen.len() < MAX_LISTED {
            self.seen.push((open.format, open.width, open.height));
        }
        let shown_by_browsers = open.format != ThumbnailFormat::Qoi;
        if shown_by_browsers && self.best.as_ref().is_none_or(|b| better(&open, b)) {
            self.best = Some(Thumbnail {
                format: open.format,
                width: open.width,
                height: open.height,
                bytes,
            });
        }
    }

    /// A block still open at the end of the file was cut off.
    pub fn finish(&mut self) {
        if self.open.take().is_some() {
            self.broken += 1;
        }
    }
}

/// Whether `new` beats `kept`: one within `BEST_MAX_SIDE` beats one above it; among those
/// within, the larger wins; among those above, the smaller.
fn better(new: &Open, kept: &Thumbnail) -> bool {
    let fits = |w: u32, h: u32| w.max(h) <= BEST_MAX_SIDE;
    let area = |w: u32, h: u32| u64::from(w) * u64::from(h);
    let (new_area, kept_area) = (area(new.width, new.height), area(kept.width, kept.height));
    match (fits(new.width, new.height), fits(kept.width, kept.height)) {
        (true, false) => true,
        (false, true) => false,
        (true, true) => new_area > kept_area,
        (false, false) => new_area < kept_area,
    }
}

fn magic_matches(format: ThumbnailFormat, bytes: &[u8]) -> bool {
    match format {
        ThumbnailFormat::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        ThumbnailFormat::Jpg => bytes.starts_with(&[0xFF, 0xD8]),
        ThumbnailFormat::Qoi => bytes.starts_with(b"qoif"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(width: u32, height: u32) -> Open {
        Open {
            format: ThumbnailFormat::Png,
            width,
            height,
            text: Vec::new(),
            overflow: false,
        }
    }

    fn kept(width: u32, height: u32) -> Thumbnail {
        Thumbnail {
            format: ThumbnailFormat::Png,
            width,
            height,
            bytes: Vec::new(),
        }
    }

    #[test]
    fn the_largest_thumbnail_within_400_px_is_preferred_over_bigger_and_smaller_ones() {
        assert!(better(&open(220, 124), &kept(16, 16)));
        assert!(better(&open(400, 300), &kept(800, 600)));
        assert!(!better(&open(800, 600), &kept(16, 16)));
        assert!(better(&open(640, 480), &kept(800, 600)));
        assert!(!better(&open(16, 16), &kept(220, 124)));
    }
}
