use super::*;

/// A PrusaSlicer-like file: start G-code, then `layers` layers of `moves` extruding moves.
fn layered(layers: u32, moves: u32) -> String {
    let mut text = String::from("M140 S60\nM104 S215\nG28\nG90\nM82\nG92 E0\nM106 S128\n");
    let mut e = 0.0;
    for layer in 1..=layers {
        let z = f64::from(layer) * 0.2;
        text.push_str(&format!(";LAYER_CHANGE\n;Z:{z:.1}\nG1 Z{z:.1} F720\n"));
        for m in 0..moves {
            e += 0.1;
            text.push_str(&format!("G1 X{} Y{} E{e:.1} F1800\n", m % 50, layer));
        }
    }
    text
}

fn fed(text: &str, lines: usize) -> Tracker {
    let mut tracker = Tracker::new();
    for line in text.lines().take(lines) {
        tracker.feed(line, line.len() as u64 + 1);
    }
    tracker
}

#[test]
fn the_state_follows_modes_positions_heaters_and_fan() {
    let t = fed(
        "M140 S60\nM104 S215\nT1\nG91\nG1 X5 E1 F900\nG1 X5 E1\nM83\nG90\nM107\nM106",
        10,
    );
    let s = t.state();
    assert_eq!((s.bed_c, s.hotend_c, s.tool), (60.0, 215.0, 1));
    assert_eq!((s.x, s.e, s.feed_mm_min), (10.0, 2.0, 900.0));
    assert!(s.absolute_xyz && s.absolute_e, "G90 sets E absolute again");
    assert_eq!(s.fan, 255, "M106 without S is full");
    let t = fed("G1 X3 E7\nG92 E0\nM83\nG92 X1", 4);
    assert_eq!(
        (t.state().x, t.state().e, t.state().absolute_e),
        (1.0, 0.0, false)
    );
}

#[test]
fn layers_start_at_their_marker_with_the_state_before_it_and_the_z_after() {
    let text = layered(3, 10);
    let t = fed(&text, text.lines().count());
    let layer = t.layer().unwrap();
    assert_eq!(layer.number, 3);
    let first = text.lines().nth(layer.line as usize).unwrap();
    assert_eq!(first, ";LAYER_CHANGE");
    let offset: usize = text
        .lines()
        .take(layer.line as usize)
        .map(|l| l.len() + 1)
        .sum();
    assert_eq!(layer.offset, offset as u64);
    assert!((layer.z - 0.6).abs() < 1e-9, "{}", layer.z);
    assert!(
        (layer.state.z - 0.4).abs() < 1e-9,
        "the state is the one before the layer"
    );
    assert_eq!(layer.state.fan, 128);
}

#[test]
fn a_resume_goes_back_over_the_planner_depth_never_past_the_confirmed_line() {
    let text = layered(4, 100);
    let total = text.lines().count();
    for confirmed in 8..total {
        let t = fed(&text, confirmed);
        let point = t.point().unwrap();
        assert_eq!(point.confirmed_line, confirmed as u64 - 1);
        assert!(point.layer.line <= point.confirmed_line);
        assert!(point.layer.number <= point.confirmed_layer);
        let current = t.layer().unwrap();
        let commands_since = text
            .lines()
            .skip(current.line as usize)
            .take(confirmed - current.line as usize)
            .filter(|l| !l.starts_with(';'))
            .count() as u64;
        if commands_since >= PLANNER_DEPTH {
            assert_eq!(point.layer, *current, "line {confirmed}");
        } else if current.number > 1 {
            assert_eq!(point.layer.number, current.number - 1, "line {confirmed}");
        }
    }
}

#[test]
fn without_markers_a_rise_above_the_printed_z_starts_a_layer() {
    let text = "G28\nG1 Z5\nG1 Z0.2\nG1 X10 E1\nG1 Z0.4\nG1 X20 E2\nG1 Z0.6\nG1 X5 E3\n";
    let t = fed(text, 8);
    let layer = t.layer().unwrap();
    assert_eq!((layer.number, layer.line), (2, 6));
    assert!((layer.z - 0.6).abs() < 1e-9);
}

#[test]
fn a_layer_found_in_the_file_equals_the_one_followed_while_printing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.gcode");
    let text = layered(5, 20);
    std::fs::write(&path, &text).unwrap();
    let t = fed(&text, text.lines().count());
    let followed = *t.layer().unwrap();
    assert_eq!(find_layer(&path, 5).unwrap(), Some(followed));
    assert_eq!(find_layer(&path, 2).unwrap().unwrap().number, 2);
    assert_eq!(find_layer(&path, 6).unwrap(), None);
}
