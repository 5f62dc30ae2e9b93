//! The G-code analyser against PrusaSlicer 2.5's own figures on fixtures it sliced
//! (tests/fixtures/gcode/make.sh), with every comment removed so only the motion counts.

use crate::common;

use common::gcode::{analyse, fixture};
use fluxprint_gateway::gcode::Analysis;

/// G-code lines without their comments.
fn strip_comments<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines
        .map(|l| l.split(';').next().unwrap_or("").trim_end())
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Ours on the fixture without comments; ours with comments (the slicer's figures); and ours
/// on the custom start G-code alone (everything before the first layer change).
fn analyse_fixture(name: &str) -> (Analysis, Analysis, Analysis) {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    let ours = analyse(strip_comments(text.lines()));
    assert_eq!(ours.slicer.estimated_time_s, None, "comments were stripped");
    let start = strip_comments(text.lines().take_while(|l| !l.starts_with(";LAYER_CHANGE")));
    (ours, analyse(&text), analyse(start))
}

fn assert_matches_prusaslicer(name: &str) {
    let (ours, original, start) = analyse_fixture(name);
    let slicer_time = original.slicer.estimated_time_s.expect("slicer time") as f64;
    // PrusaSlicer's "filament used" leaves out what the custom start G-code extrudes (the
    // purge line); we count all of it, so the start block's share is added for comparison.
    let slicer_mm =
        original.slicer.filament_mm.expect("slicer filament") + start.filament_total_mm();
    let time_error = (ours.estimated_time_s - slicer_time).abs() / slicer_time;
    let mm_error = (ours.filament_total_mm() - slicer_mm).abs() / slicer_mm;
    eprintln!(
        "{name}: ours {:.1} s vs PrusaSlicer {slicer_time} s ({:.2} %), filament {:.2} vs {slicer_mm} mm ({:.3} %)",
        ours.estimated_time_s,
        time_error * 100.0,
        ours.filament_total_mm(),
        mm_error * 100.0
    );
    assert!(
        time_error < 0.03,
        "{name}: time off by {:.2} %",
        time_error * 100.0
    );
    assert!(
        mm_error < 0.01,
        "{name}: filament off by {:.3} %",
        mm_error * 100.0
    );
}

#[test]
fn cube_time_and_filament_match_prusaslicer() {
    assert_matches_prusaslicer("cube.gcode");
}

#[test]
fn cube_with_absolute_extrusion_matches_prusaslicer() {
    assert_matches_prusaslicer("cube_absolute.gcode");
}

#[test]
fn cylinder_time_and_filament_match_prusaslicer() {
    assert_matches_prusaslicer("cylinder.gcode");
}

#[test]
fn tall_thin_part_time_and_filament_match_prusaslicer() {
    assert_matches_prusaslicer("tall.gcode");
}

#[test]
fn cube_layers_follow_the_sliced_layer_heights() {
    let (ours, _, _) = analyse_fixture("cube.gcode");
    // 0.2 mm first layer, then 0.3 mm layers up to 20 mm.
    assert_eq!(ours.first_layer_height_mm, Some(0.2));
    assert_eq!(ours.layers, 67);
    assert_eq!(ours.layer_heights, vec![(0.3, 66)]);
    let bounds = ours.bounds.expect("extruded");
    assert!(
        (bounds.max[2] - 20.0).abs() < 1e-9,
        "top at {}",
        bounds.max[2]
    );
    assert_eq!(ours.heat_waits, 2);
}
