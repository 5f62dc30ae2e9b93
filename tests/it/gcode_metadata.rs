//! Slicer metadata (PrusaSlicer, Cura, OrcaSlicer comments and `M73`), thumbnails, the
//! progress table and the remaining-time function, and bad lines that must not stop an
//! analysis.

use crate::common;

use common::gcode::{analyse, fixture, pla};
use fluxprint_gateway::gcode::{
    self, Analysis, MachineLimits, ProgressTable, ThumbnailFormat, parse_duration,
};

fn analyse_fixture(name: &str) -> Analysis {
    gcode::analyse_file(&fixture(name), &MachineLimits::default(), &pla()).expect("analysis")
}

#[test]
fn embedded_thumbnails_are_decoded_and_the_largest_png_is_kept() {
    let analysis = analyse_fixture("thumb.gcode");
    let thumbnail = analysis.thumbnail.expect("thumbnail");
    assert_eq!((thumbnail.width, thumbnail.height), (220, 124));
    assert!(thumbnail.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    // The PNG's own header carries the same size.
    assert_eq!(&thumbnail.bytes[16..24], &[0, 0, 0, 220, 0, 0, 0, 124]);
    assert_eq!(
        analysis.thumbnails_seen,
        vec![
            (ThumbnailFormat::Png, 16, 16),
            (ThumbnailFormat::Png, 220, 124),
            (ThumbnailFormat::Qoi, 8, 8)
        ]
    );
}

#[test]
fn a_thumbnail_cut_off_by_the_end_of_the_file_is_dropped() {
    let analysis = analyse("; thumbnail begin 16x16 100\n; iVBORw0KGgo=\nG1 X1\n");
    assert_eq!(analysis.thumbnail, None);
    assert!(analysis.thumbnails_seen.is_empty());
}

#[test]
fn prusaslicer_comments_give_the_slicer_time_filament_and_name() {
    let analysis = analyse_fixture("cube.gcode");
    let slicer = &analysis.slicer;
    assert_eq!(slicer.slicer.as_deref(), Some("PrusaSlicer 2.5.0"));
    assert_eq!(slicer.estimated_time_s, Some(12 * 60 + 37));
    assert_eq!(slicer.filament_mm, Some(1272.88));
    assert_eq!(slicer.filament_g, Some(3.80));
}

#[test]
fn the_first_m73_remaining_time_stands_in_when_no_comment_gives_one() {
    let analysis = analyse("M73 P0 R42\nG1 X10 F600\nM73 P50 R1\n");
    assert_eq!(analysis.slicer.estimated_time_s, None);
    assert_eq!(analysis.slicer.time_s(), Some(42 * 60));
}

#[test]
fn cura_comments_are_read() {
    let analysis = analyse(
        ";FLAVOR:Marlin\n;TIME:1234\n;Filament used: 1.5m, 0.25m\n;LAYER_COUNT:100\n\
         ;Generated with Cura_SteamEngine 5.4.0\nG28\n",
    );
    let slicer = &analysis.slicer;
    assert_eq!(slicer.estimated_time_s, Some(1234));
    assert_eq!(slicer.filament_mm, Some(1750.0));
    assert_eq!(slicer.layer_count, Some(100));
    assert_eq!(slicer.slicer.as_deref(), Some("Cura_SteamEngine 5.4.0"));
}

#[test]
fn orcaslicer_time_on_a_combined_line_is_read() {
    let analysis = analyse("; model printing time: 1h 2m 3s; total estimated time: 1h 5m 0s\n");
    assert_eq!(analysis.slicer.estimated_time_s, Some(3900));
}

#[test]
fn durations_read_days_hours_minutes_and_seconds() {
    assert_eq!(parse_duration("1d 2h 3m 4s"), Some(93_784));
    assert_eq!(parse_duration("12m 37s"), Some(757));
    assert_eq!(parse_duration("soon"), None);
    assert_eq!(parse_duration(""), None);
}

#[test]
fn malformed_lines_are_counted_and_the_rest_is_analysed() {
    let analysis = analyse("G1 X10 F600\nG1 X1.2.3\nQ5\nG1 Xabc\nG1 X20\n");
    assert_eq!(analysis.bad_lines, 3);
    assert_eq!(analysis.first_bad_line.expect("bad").number, 2);
    assert_eq!(analysis.lines, 5);
    assert!(analysis.estimated_time_s > 0.0);
}

#[test]
fn the_progress_table_rises_to_the_total_at_the_end_of_the_file() {
    let analysis = analyse_fixture("cylinder.gcode");
    let table = &analysis.progress;
    let samples = table.samples();
    assert!(
        samples.len() > 90 && samples.len() < 110,
        "{} samples",
        samples.len()
    );
    assert!(
        samples
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    let total = std::fs::metadata(fixture("cylinder.gcode"))
        .expect("size")
        .len();
    assert_eq!(table.estimated_at(total), analysis.estimated_time_s);
    assert_eq!(table.remaining_s(total, 1000.0), 0.0);
}

#[test]
fn remaining_time_interpolates_the_table_when_the_printer_keeps_pace() {
    let table = ProgressTable::new(vec![(0, 0.0), (50, 100.0)], 100, 200.0);
    assert_eq!(table.estimated_at(25), 50.0);
    assert_eq!(table.remaining_s(50, 100.0), 100.0);
    assert_eq!(table.remaining_s(0, 0.0), 200.0);
}

#[test]
fn remaining_time_stretches_by_the_observed_speed_ratio() {
    let table = ProgressTable::new(vec![(0, 0.0), (50, 300.0)], 100, 600.0);
    // 300 s estimated took 450 s: the other 300 s will take 450 s too.
    assert_eq!(table.remaining_s(50, 450.0), 450.0);
    // A paused print's ratio is capped at 4.
    assert_eq!(table.remaining_s(50, 1e9), 1200.0);
}

#[test]
fn early_in_a_print_the_observed_ratio_is_only_partly_trusted() {
    let table = ProgressTable::new(vec![(0, 0.0), (10, 60.0)], 100, 600.0);
    // 60 s estimated took 120 s (ratio 2), trusted half after 60 of 120 s.
    assert_eq!(table.remaining_s(10, 120.0), 540.0 * 1.5);
}

#[test]
fn an_analysis_spawned_on_its_own_thread_gives_the_same_result() {
    let handle = gcode::spawn_analysis(fixture("tall.gcode"), MachineLimits::default(), pla())
        .expect("thread");
    let spawned = handle.join().expect("no panic").expect("analysis");
    let direct = analyse_fixture("tall.gcode");
    assert_eq!(spawned.estimated_time_s, direct.estimated_time_s);
    assert_eq!(spawned.layers, direct.layers);
    assert_eq!(spawned.progress, direct.progress);
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let error = gcode::analyse_file(&fixture("missing.gcode"), &MachineLimits::default(), &pla())
        .expect_err("missing");
    assert!(error.to_string().contains("missing.gcode"), "{error}");
}
