//! STL meshes, binary and ASCII, read as a stream: triangle count, extents, volume (the sum
//! of the signed tetrahedra each triangle makes with the origin) and whether the mesh is
//! watertight (every edge shared by exactly two triangles).
//!
//! Memory: the watertightness check keeps one map entry per distinct edge, at most
//! `MAX_EDGES` (1 million, about 40 MB); a larger mesh is reported as
//! [`Watertight::Unknown`] and its map is dropped. Everything else is constant memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::reader::LineReader;
use super::tally::Bounds;

/// Distinct edges tracked for the watertightness check.
pub const MAX_EDGES: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StlFormat {
    Binary,
    Ascii,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watertight {
    Yes,
    /// Edges used by one triangle or by more than two.
    No {
        bad_edges: u64,
    },
    /// The mesh has more than [`MAX_EDGES`] edges.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StlReport {
    pub format: StlFormat,
    pub triangles: u64,
    /// Enclosed volume in mm³ (positive whatever the facets' orientation).
    pub volume_mm3: f64,
    pub surface_mm2: f64,
    pub bounds: Bounds,
    pub watertight: Watertight,
}

impl StlReport {
    pub fn size_mm(&self) -> [f64; 3] {
        self.bounds.size()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StlError {
    #[error("cannot read the STL file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the STL data")]
    Read(#[source] std::io::Error),
    #[error("the STL file is {bytes} bytes: too short for a binary STL and not ASCII STL")]
    TooShort { bytes: u64 },
    #[error(
        "the binary STL declares {declared} triangles ({expected} bytes) but has {bytes} bytes"
    )]
    Truncated {
        declared: u32,
        expected: u64,
        bytes: u64,
    },
    #[error("ASCII STL line {line}: {problem}")]
    Ascii { line: u64, problem: &'static str },
    #[error("the STL file has a vertex that is not a finite number")]
    NotFinite,
    #[error("the STL file has no triangles")]
    Empty,
}

/// Analyses the STL file at `path`.
pub fn analyse(path: &Path) -> Result<StlReport, StlError> {
    let io = |source| StlError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    analyse_reader(BufReader::new(file), bytes)
}

/// Analyses STL data from `source`, which is `bytes` long (the length tells binary STL,
/// whose size follows from its triangle count, from ASCII STL).
pub fn analyse_reader(mut source: impl Read, bytes: u64) -> Result<StlReport, StlError> {
    let mut head = [0u8; 84];
    let got = read_up_to(&mut source, &mut head).map_err(StlError::Read)?;
    let head = &head[..got];
    let declared = head
        .get(80..84)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    let expected = declared.map(|n| 84 + 50 * u64::from(n));
    let ascii = head.trim_ascii_start().starts_with(b"solid");
    let mut mesh = Mesh::default();
    let format = match (expected, declared) {
        (Some(expected), Some(declared)) if expected == bytes => {
            read_binary(&mut source, declared, &mut mesh)?;
            StlFormat::Binary
        }
        _ if ascii => {
            read_ascii(head.chain(source), &mut mesh)?;
            StlFormat::Ascii
        }
        (Some(expected), Some(declared)) => {
            return Err(StlError::Truncated {
                declared,
                expected,
                bytes,
            });
        }
        _ => return Err(StlError::TooShort { bytes }),
    };
    mesh.finish(format)
}

fn read_up_to(source: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_binary(source: &mut impl Read, count: u32, mesh: &mut Mesh) -> Result<(), StlError> {
    let mut record = [0u8; 50];
    for _ in 0..count {
        source.read_exact(&mut record).map_err(StlError::Read)?;
        let value = |i: usize| {
            let at = 12 + i * 4;
            f32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
        };
        let vertex = |v: usize| [value(v * 3), value(v * 3 + 1), value(v * 3 + 2)];
        mesh.add([vertex(0), vertex(1), vertex(2)])?;
    }
    Ok(())
}

/// `solid`, then `facet normal … / outer loop / vertex ×3 / endloop / endfacet` per triangle.
fn read_ascii(source: impl Read, mesh: &mut Mesh) -> Result<(), StlError> {
    let mut lines = LineReader::new(source);
    let mut number = 0u64;
    let mut vertices: Vec<[f32; 3]> = Vec::with_capacity(3);
    let mut in_facet = false;
    while let Some(line) = lines.next_line().map_err(StlError::Read)? {
        number += 1;
        let problem = |problem| StlError::Ascii {
            line: number,
            problem,
        };
        let text = std::str::from_utf8(line.bytes).map_err(|_| problem("not text"))?;
        let mut words = text.split_ascii_whitespace();
        match (words.next(), in_facet) {
            (None | Some("solid" | "endsolid"), false) => {}
            (Some("facet"), false) => in_facet = true,
            (Some("outer" | "endloop"), true) => {}
            (Some("vertex"), true) => {
                if vertices.len() == 3 {
                    return Err(problem("a facet has more than three vertices"));
                }
                vertices.push(
                    parse_vertex(words).ok_or_else(|| problem("a vertex needs three numbers"))?,
                );
            }
            (Some("endfacet"), true) => {
                let [a, b, c] = vertices[..] else {
                    return Err(problem("a facet needs three vertices"));
                };
                mesh.add([a, b, c])?;
                vertices.clear();
                in_facet = false;
            }
            _ => return Err(problem("unexpected keyword")),
        }
    }
    if in_facet {
        return Err(StlError::Ascii {
            line: number,
            problem: "the file ends inside a facet",
        });
    }
    Ok(())
}

fn parse_vertex<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<[f32; 3]> {
    let mut vertex = [0.0; 3];
    for v in &mut vertex {
        *v = words.next()?.parse().ok()?;
    }
    words.next().is_none().then_some(vertex)
}

/// Running totals over the triangles.
#[derive(Default)]
struct Mesh {
    triangles: u64,
    signed_volume6: f64,
    surface2: f64,
    bounds: Option<Bounds>,
    edges: Option<HashMap<[u32; 6], u8>>,
    edges_overflowed: bool,
}

impl Mesh {
    fn add(&mut self, triangle: [[f32; 3]; 3]) -> Result<(), StlError> {
        if triangle.iter().flatten().any(|v| !v.is_finite()) {
            return Err(StlError::NotFinite);
        }
        let [a, b, c] = triangle.map(|v| v.map(f64::from));
        self.triangles += 1;
        self.signed_volume6 += a[0] * (b[1] * c[2] - b[2] * c[1])
            - a[1] * (b[0] * c[2] - b[2] * c[0])
            + a[2] * (b[0] * c[1] - b[1] * c[0]);
        let (u, v) = (
            [0, 1, 2].map(|i| b[i] - a[i]),
            [0, 1, 2].map(|i| c[i] - a[i]),
        );
        let cross = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        self.surface2 += (cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]).sqrt();
        let bounds = self.bounds.get_or_insert(Bounds::around(a));
        bounds.include(b);
        bounds.include(c);
        self.count_edges(&triangle);
        Ok(())
    }

    fn count_edges(&mut self, triangle: &[[f32; 3]; 3]) {
        if self.edges_overflowed {
            return;
        }
        let edges = self.edges.get_or_insert_with(HashMap::new);
        let key = |v: &[f32; 3]| v.map(|x| (x + 0.0).to_bits());
        for (p, q) in [(0, 1), (1, 2), (2, 0)] {
            let (p, q) = (key(&triangle[p]), key(&triangle[q]));
            let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
            let edge = [lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]];
            if edges.len() >= MAX_EDGES && !edges.contains_key(&edge) {
                self.edges = None;
                self.edges_overflowed = true;
                return;
            }
            let count = edges.entry(edge).or_insert(0);
            *count = count.saturating_add(1);
        }
    }

    fn finish(self, format: StlFormat) -> Result<StlReport, StlError> {
        let bounds = self.bounds.ok_or(StlError::Empty)?;
        let watertight = match self.edges {
            None => Watertight::Unknown,
            Some(edges) => match edges.values().filter(|&&n| n != 2).count() as u64 {
                0 => Watertight::Yes,
                bad_edges => Watertight::No { bad_edges },
            },
        };
        Ok(StlReport {
            format,
            triangles: self.triangles,
            volume_mm3: (self.signed_volume6 / 6.0).abs(),
            surface_mm2: self.surface2 / 2.0,
            bounds,
            watertight,
        })
    }
}
