//! The analyser on hand-written G-code with known answers: trapezoids, arcs (I/J and R),
//! relative and absolute extrusion, G92, firmware retraction, dwells, heat-up waits,
//! layers, extents and the build-volume check.

use crate::common;

use common::gcode::analyse;
use fluxprint_gateway::config::BuildVolume;

fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn a_single_move_follows_the_trapezoid_from_jerk_speed_to_cruise_and_back() {
    // 100 mm at 100 mm/s, X acceleration 1000 mm/s², jerk 8 mm/s: accelerate 8 → 100 over
    // 4.968 mm in 0.092 s, cruise 90.064 mm in 0.90064 s, decelerate in 0.092 s.
    let analysis = analyse("G1 X100 F6000\n");
    assert_close(analysis.estimated_time_s, 0.092 + 0.90064 + 0.092, 1e-9);
}

#[test]
fn file_limits_override_the_defaults() {
    // Slower acceleration from M201/M204 makes the same move take longer: 8 → 100 mm/s at
    // 500 mm/s² takes 0.184 s over 9.936 mm each way, cruising 80.128 mm.
    let analysis = analyse("M201 X500\nM204 P500 T500\nG1 X100 F6000\n");
    assert_close(analysis.estimated_time_s, 2.0 * 0.184 + 0.80128, 1e-9);
}

#[test]
fn a_full_circle_from_i_j_has_the_circumference_as_length() {
    // At 1 mm/s acceleration hardly matters: the time is the length of the chords.
    let analysis = analyse("M83\nG1 X10 Y20 F60\nG2 X10 Y20 I10 J0 E5\n");
    let circle = std::f64::consts::TAU * 10.0;
    assert_close(
        analysis.estimated_time_s - 22.360_679_8,
        circle,
        circle * 0.005,
    );
    assert_close(analysis.filament_total_mm(), 5.0, 1e-9);
    let bounds = analysis.bounds.expect("extruded");
    assert_close(bounds.min[0], 10.0, 1e-6);
    assert_close(bounds.max[0], 30.0, 1e-6);
    // 1 mm chords: the vertices nearest the top and bottom miss them by under 0.02 mm.
    assert_close(bounds.min[1], 10.0, 0.02);
    assert_close(bounds.max[1], 30.0, 0.02);
}

#[test]
fn an_r_arc_takes_the_short_way_and_a_negative_r_the_long_way() {
    let quarter = analyse("G1 F60\nG2 X10 Y10 R10 E1\n");
    let long = analyse("G1 F60\nG2 X10 Y10 R-10 E1\n");
    let circle = std::f64::consts::TAU * 10.0;
    assert_close(quarter.estimated_time_s, circle / 4.0, circle / 4.0 * 0.01);
    assert_close(long.estimated_time_s, circle * 0.75, circle * 0.75 * 0.01);
    // The long clockwise way from (0,0) to (10,10) around (0,10) passes x = -10.
    assert_close(long.bounds.expect("extruded").min[0], -10.0, 0.01);
}

#[test]
fn an_arc_without_a_centre_is_a_bad_line_not_a_failure() {
    let analysis = analyse("G1 X5 F600\nG2 X10 Y10\nG1 X20\n");
    assert_eq!(analysis.bad_lines, 1);
    assert_eq!(analysis.first_bad_line.expect("bad line").number, 2);
}

#[test]
fn relative_extrusion_counts_retractions_and_recoveries_as_net_zero() {
    let analysis = analyse("M83\nG1 X10 E1 F1200\nG1 E-0.8 F2100\nG1 X20\nG1 E0.8\nG1 X30 E1\n");
    assert_close(analysis.filament_total_mm(), 2.0, 1e-9);
}

#[test]
fn absolute_extrusion_follows_g92_resets() {
    let analysis = analyse("M82\nG92 E0\nG1 X10 E1 F1200\nG92 E0\nG1 X20 E1\nG1 E1.2\nG1 E0.4\n");
    // +1, reset, +1, +0.2, then a 0.8 mm retraction back to 0.4.
    assert_close(analysis.filament_total_mm(), 1.4, 1e-9);
}

#[test]
fn g91_makes_every_axis_relative_and_g90_absolute_again() {
    let analysis = analyse("G91\nG1 X10 E1 F1200\nG1 X10 E1\nG90\nG1 X30 E3\n");
    assert_close(analysis.filament_total_mm(), 3.0, 1e-9);
    assert_close(analysis.bounds.expect("extruded").max[0], 30.0, 1e-9);
}

#[test]
fn firmware_retraction_moves_the_extruder_by_the_m207_length() {
    // 2 mm at 20 mm/s each way, E jerk 4.5 mm/s and retract acceleration 1250 mm/s².
    let analysis = analyse("M207 S2 F1200\nM208 S0 F1200\nG10\nG10\nG11\n");
    assert_close(analysis.filament_total_mm(), 0.0, 1e-9);
    let one = 2.0 * (20.0 - 4.5) / 1250.0 + (2.0 - (400.0 - 20.25) / 1250.0) / 20.0;
    assert_close(analysis.estimated_time_s, 2.0 * one, 1e-3);
}

#[test]
fn dwells_are_timed_and_heat_up_waits_are_counted() {
    let analysis = analyse("M190 S60\nM109 S215\nG4 S2\nG4 P500\n");
    assert_close(analysis.dwell_time_s, 2.5, 1e-9);
    assert_close(analysis.estimated_time_s, 2.5, 1e-9);
    assert_eq!(analysis.heat_waits, 2);
}

#[test]
fn layers_start_where_extrusion_reaches_a_new_height() {
    let text = "M83\nG1 Z0.2 F600\nG1 X10 E1\nG1 Z0.6\nG1 X20\nG1 Z0.4\nG1 X0 E1\n\
                G1 Z0.6\nG1 X10 E1\nG1 Z0.8\nG1 X0 E1\n";
    let analysis = analyse(text);
    assert_eq!(analysis.layers, 4);
    assert_eq!(analysis.first_layer_height_mm, Some(0.2));
    assert_eq!(analysis.layer_heights, vec![(0.2, 3)]);
}

#[test]
fn travel_moves_do_not_count_toward_the_model_size() {
    let analysis = analyse("M83\nG1 X200 Y200 F6000\nG1 X10 Y10\nG1 X30 Y40 Z5 E2\n");
    let size = analysis.model_size_mm().expect("extruded");
    assert_eq!(size, [20.0, 30.0, 5.0]);
}

#[test]
fn a_print_larger_than_the_build_volume_is_refused_naming_both_sizes() {
    let analysis = analyse("M83\nG1 Z0.2\nG1 X300 Y20 E10 F6000\n");
    let volume = BuildVolume {
        x_mm: 250.0,
        y_mm: 210.0,
        z_mm: 210.0,
    };
    let error = analysis.fits(&volume).expect_err("too wide");
    assert_eq!(
        error.to_string(),
        "the model is 300.0 x 20.0 x 0.0 mm but the printer's build volume is 250.0 x 210.0 x 210.0 mm"
    );
    let small = analyse("M83\nG1 X10 Y10 E1\n");
    assert!(small.fits(&volume).is_ok());
}

#[test]
fn inch_units_scale_moves_and_feedrates() {
    let analysis = analyse("G20\nM83\nG1 X1 E0.1 F60\n");
    assert_close(analysis.bounds.expect("extruded").max[0], 25.4, 1e-9);
    assert_close(analysis.filament_total_mm(), 2.54, 1e-9);
}
