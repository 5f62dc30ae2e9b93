//! STL meshes (binary and ASCII): volume, extents, triangle count, watertightness, errors
//! for truncated and garbage files; and the quick estimate with its build-volume check.

use crate::common;

use std::io::Write;
use std::path::Path;

use common::gcode::{fixture, pla};

use fluxprint_gateway::config::BuildVolume;
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gcode::estimate::{self, Estimate, EstimateError, EstimateSource, Quality};
use fluxprint_gateway::gcode::stl::{self, StlError, StlFormat, Watertight};
use fluxprint_gateway::gcode::{Materials, MaterialsError};

type Triangle = [[f32; 3]; 3];

/// A closed box from the origin, facets facing out.
fn cube(sx: f32, sy: f32, sz: f32) -> Vec<Triangle> {
    let v = |i: usize| {
        [
            if i & 1 == 1 { sx } else { 0.0 },
            if i & 2 == 2 { sy } else { 0.0 },
            if i & 4 == 4 { sz } else { 0.0 },
        ]
    };
    let faces = [
        [0, 2, 3, 1],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 6, 7, 3],
        [0, 4, 6, 2],
        [1, 3, 7, 5],
    ];
    faces
        .iter()
        .flat_map(|[a, b, c, d]| [[v(*a), v(*b), v(*c)], [v(*a), v(*c), v(*d)]])
        .collect()
}

fn binary(triangles: &[Triangle]) -> Vec<u8> {
    let mut out = vec![b' '; 80];
    out.extend_from_slice(&(triangles.len() as u32).to_le_bytes());
    for triangle in triangles {
        out.extend_from_slice(&[0; 12]);
        for value in triangle.iter().flatten() {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}

fn ascii(triangles: &[Triangle]) -> Vec<u8> {
    let mut out = String::from("solid test\n");
    for [a, b, c] in triangles {
        out.push_str(" facet normal 0 0 0\n  outer loop\n");
        for v in [a, b, c] {
            out.push_str(&format!("   vertex {} {} {}\n", v[0], v[1], v[2]));
        }
        out.push_str("  endloop\n endfacet\n");
    }
    out.push_str("endsolid test\n");
    out.into_bytes()
}

fn analyse(bytes: &[u8]) -> Result<stl::StlReport, StlError> {
    stl::analyse_reader(bytes, bytes.len() as u64)
}

#[test]
fn a_binary_20_mm_cube_has_exactly_8000_cubic_millimetres() {
    let report = analyse(&binary(&cube(20.0, 20.0, 20.0))).expect("cube");
    assert_eq!(report.format, StlFormat::Binary);
    assert_eq!(report.triangles, 12);
    assert_eq!(report.volume_mm3, 8000.0);
    assert_eq!(report.surface_mm2, 2400.0);
    assert_eq!(report.size_mm(), [20.0, 20.0, 20.0]);
    assert_eq!(report.watertight, Watertight::Yes);
}

#[test]
fn an_ascii_cube_reads_the_same_as_a_binary_one() {
    let report = analyse(&ascii(&cube(20.0, 20.0, 20.0))).expect("cube");
    assert_eq!(report.format, StlFormat::Ascii);
    assert_eq!(report.volume_mm3, 8000.0);
    assert_eq!(report.watertight, Watertight::Yes);
}

#[test]
fn inward_facing_facets_still_give_a_positive_volume() {
    let flipped: Vec<Triangle> = cube(10.0, 20.0, 30.0)
        .into_iter()
        .map(|[a, b, c]| [a, c, b])
        .collect();
    assert_eq!(analyse(&binary(&flipped)).expect("box").volume_mm3, 6000.0);
}

#[test]
fn a_mesh_with_a_missing_facet_is_not_watertight() {
    let mut open = cube(20.0, 20.0, 20.0);
    open.pop();
    let report = analyse(&binary(&open)).expect("mesh");
    assert_eq!(report.watertight, Watertight::No { bad_edges: 3 });
}

#[test]
fn a_truncated_binary_stl_is_an_error_naming_the_sizes() {
    let mut bytes = binary(&cube(20.0, 20.0, 20.0));
    bytes.truncate(bytes.len() - 10);
    let error = analyse(&bytes).expect_err("truncated");
    assert!(
        matches!(error, StlError::Truncated { declared: 12, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the binary STL declares 12 triangles (684 bytes) but has 674 bytes"
    );
}

#[test]
fn garbage_and_broken_ascii_are_errors() {
    assert!(matches!(
        analyse(b"hello"),
        Err(StlError::TooShort { bytes: 5 })
    ));
    let broken = b"solid x\n facet normal 0 0 0\n outer loop\n vertex 1 2\n";
    assert!(matches!(
        analyse(broken),
        Err(StlError::Ascii { line: 4, .. })
    ));
    let unfinished = b"solid x\n facet normal 0 0 0\n outer loop\n vertex 1 2 3\n";
    assert!(matches!(analyse(unfinished), Err(StlError::Ascii { .. })));
    assert!(matches!(
        analyse(b"solid x\nendsolid x\n"),
        Err(StlError::Empty)
    ));
}

#[test]
fn a_nan_vertex_is_an_error() {
    let mut bad = cube(20.0, 20.0, 20.0);
    bad[3][1][2] = f32::NAN;
    assert!(matches!(analyse(&binary(&bad)), Err(StlError::NotFinite)));
}

fn write_temp(bytes: &[u8], suffix: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(suffix)
        .tempfile()
        .expect("temp");
    file.write_all(bytes).expect("write");
    file
}

const PRINTER: BuildVolume = BuildVolume {
    x_mm: 250.0,
    y_mm: 210.0,
    z_mm: 210.0,
};

/// The quick estimate with the built-in materials table, on `PRINTER`.
fn estimate_file(
    path: &Path,
    kind: FileKind,
    material: &str,
    quality: Quality,
) -> Result<Estimate, EstimateError> {
    estimate::for_file(
        path,
        kind,
        material,
        quality,
        &Materials::default(),
        &PRINTER,
    )
}

#[test]
fn an_stl_estimate_uses_shell_and_infill_of_the_volume() {
    let file = write_temp(&binary(&cube(20.0, 20.0, 20.0)), ".stl");
    let estimate =
        estimate_file(file.path(), FileKind::Stl, "PLA", Quality::Standard).expect("estimate");
    // Shell 2400 mm² × 0.9 mm = 2160 mm³, plus 20 % of the other 5840 mm³.
    let extruded = 2160.0 + 0.2 * 5840.0;
    assert_eq!(estimate.source, EstimateSource::StlVolume);
    assert!((estimate.filament_g - extruded / 1000.0 * 1.24).abs() < 1e-9);
    assert_eq!(
        estimate.estimated_time_s,
        (extruded / 3.5_f64).round() as u64
    );
    assert!((estimate.estimated_cost - estimate.filament_g / 1000.0 * 25.0).abs() < 1e-12);
    assert_eq!(estimate.layers, Some(100));
    assert!(estimate.fits.is_ok());
}

#[test]
fn an_oversize_stl_does_not_fit_and_says_by_how_much() {
    let file = write_temp(&binary(&cube(300.0, 20.0, 20.0)), ".stl");
    let estimate =
        estimate_file(file.path(), FileKind::Stl, "petg", Quality::Draft).expect("estimate");
    let error = estimate.fits.expect_err("too wide");
    assert_eq!(
        error.to_string(),
        "the model is 300.0 x 20.0 x 20.0 mm but the printer's build volume is 250.0 x 210.0 x 210.0 mm"
    );
}

#[test]
fn a_gcode_estimate_reports_ours_and_the_slicers_time_and_the_thumbnail() {
    let estimate = estimate_file(
        &fixture("cube.gcode"),
        FileKind::GcodeText,
        "PLA",
        Quality::Standard,
    )
    .expect("estimate");
    assert_eq!(estimate.source, EstimateSource::Gcode);
    assert_eq!(estimate.slicer_estimate_s, Some(757));
    assert!(estimate.estimated_time_s.abs_diff(757) < 757 * 3 / 100);
    assert!(estimate.fits.is_ok());
    let with_thumbnail = estimate_file(
        &fixture("thumb.gcode"),
        FileKind::GcodeText,
        "PLA",
        Quality::Standard,
    )
    .expect("estimate");
    assert_eq!(with_thumbnail.thumbnail.map(|t| t.width), Some(220));
}

#[test]
fn unknown_materials_and_qualities_are_named_in_the_error() {
    let file = write_temp(&binary(&cube(20.0, 20.0, 20.0)), ".stl");
    let error = estimate_file(file.path(), FileKind::Stl, "unobtainium", Quality::Fine)
        .expect_err("unknown material");
    assert!(matches!(
        error,
        EstimateError::Material(MaterialsError::Unknown { .. })
    ));
    assert_eq!(
        error.to_string(),
        "unknown material \"unobtainium\"; known: ABS, ASA, Nylon, PETG, PLA, TPU"
    );
    assert!(matches!(
        Quality::parse("ultra"),
        Err(EstimateError::UnknownQuality { .. })
    ));
    assert_eq!(Quality::parse("Fine").expect("fine"), Quality::Fine);
}

#[test]
fn three_mf_files_have_no_estimate_without_slicing() {
    let file = write_temp(b"PK\x03\x04", ".3mf");
    let error =
        estimate_file(file.path(), FileKind::ThreeMf, "PLA", Quality::Standard).expect_err("3mf");
    assert!(matches!(
        error,
        EstimateError::Unsupported(FileKind::ThreeMf)
    ));
}

#[test]
fn a_materials_table_with_a_zero_density_is_refused() {
    let error =
        Materials::parse("[PLA]\ndensity_g_cm3 = 0\nprice_per_kg = 1\ndiameter_mm = 1.75\n")
            .expect_err("zero density");
    assert_eq!(
        error.to_string(),
        "material PLA: density_g_cm3 must be a positive number"
    );
}

#[test]
fn the_shipped_materials_file_is_the_built_in_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/materials.toml");
    assert_eq!(
        Materials::load(&path).expect("materials"),
        Materials::default()
    );
    let pla = pla();
    // 1 m of 1.75 mm PLA: 2405.28 mm³ at 1.24 g/cm³.
    assert!((pla.grams(1000.0) - 2.982_55).abs() < 1e-4);
}
