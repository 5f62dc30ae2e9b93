//! Strangers' files must give errors, never panics: random bytes through the G-code line
//! parser, the whole G-code analysis and the STL reader; well-formed lines round-trip. The
//! same entry points are the cargo-fuzz targets in fuzz/; crashes found there are added
//! here as regression cases.

use crate::common;

use fluxprint_gateway::gcode::{line, stl};
use proptest::prelude::*;

fn analyse_gcode(bytes: &[u8]) {
    let analysis = common::gcode::analyse(bytes);
    assert!(analysis.estimated_time_s.is_finite() || analysis.estimated_time_s.is_nan());
}

/// Text made of G-code-ish pieces, so the analysis gets past the parser often.
fn gcode_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("G1".to_owned()),
        Just("G2".to_owned()),
        Just("G3".to_owned()),
        Just("G4".to_owned()),
        Just("G10".to_owned()),
        Just("G11".to_owned()),
        Just("G28".to_owned()),
        Just("G91".to_owned()),
        Just("G92".to_owned()),
        Just("M83".to_owned()),
        Just("M204".to_owned()),
        Just("M205".to_owned()),
        Just("; thumbnail begin 4x4 8".to_owned()),
        Just("; thumbnail end".to_owned()),
        Just("\n".to_owned()),
        "[XYZEFIJRPS]-?[0-9]{0,6}(\\.[0-9]{0,4})?".prop_map(|s| format!(" {s}")),
        "[ -~]{0,8}",
    ];
    prop::collection::vec(word, 0..200).prop_map(|words| words.concat())
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_line_parser(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = line::parse(&bytes);
    }

    #[test]
    fn random_bytes_never_panic_the_gcode_analysis(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        analyse_gcode(&bytes);
    }

    #[test]
    fn gcode_like_text_never_panics_the_analysis(text in gcode_text()) {
        analyse_gcode(text.as_bytes());
    }

    #[test]
    fn random_bytes_never_panic_the_stl_reader(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = stl::analyse_reader(&bytes[..], bytes.len() as u64);
    }

    #[test]
    fn random_triangles_behind_a_valid_binary_header_never_panic(
        count in 0u32..8,
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = vec![0u8; 80];
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&body);
        // Also under the size the header promises, as a valid file would be.
        let _ = stl::analyse_reader(&bytes[..], 84 + 50 * u64::from(count));
        let _ = stl::analyse_reader(&bytes[..], bytes.len() as u64);
    }

    #[test]
    fn random_ascii_stl_keywords_never_panic(words in prop::collection::vec(
        prop_oneof![Just("facet normal 0 0 0"), Just("outer loop"), Just("vertex 1 2 3"),
                    Just("vertex nan 1 1"), Just("endloop"), Just("endfacet"), Just("endsolid")],
        0..40,
    )) {
        let text = format!("solid p\n{}\n", words.join("\n"));
        let _ = stl::analyse_reader(text.as_bytes(), text.len() as u64);
    }

    #[test]
    fn well_formed_moves_parse_back_to_their_values(
        x in -1000.0f64..1000.0, e in 0.0f64..10.0, f in 1u32..20000,
    ) {
        let text = format!("N12 G1 X{x:.3} E{e:.5} F{f} *71 ; move");
        let command = line::parse(text.as_bytes()).expect("valid").expect("command");
        prop_assert_eq!((command.letter, command.code), (b'G', 1));
        prop_assert!((command.get(b'X').expect("X") - x).abs() < 6e-4);
        prop_assert!((command.get(b'E').expect("E") - e).abs() < 6e-6);
        prop_assert_eq!(command.get(b'F'), Some(f64::from(f)));
    }
}

#[test]
fn numbers_with_many_digits_neither_overflow_nor_panic() {
    let long = format!("G1 X{}.{}", "9".repeat(30), "9".repeat(40));
    assert!(matches!(
        line::parse(long.as_bytes()),
        Err(line::LineError::BadNumber { letter: 'X', .. })
    ));
    let fraction = format!("G1 X0.{}1", "0".repeat(400));
    let command = line::parse(fraction.as_bytes())
        .expect("parses")
        .expect("command");
    assert_eq!(command.get(b'X'), Some(0.0));
    let parsed = line::parse(b"G1 X0.000123456789012345678901 Y-.5 Z+3.")
        .expect("ok")
        .expect("cmd");
    assert!((parsed.get(b'X').expect("X") - 0.000_123_456_789_012_345_67).abs() < 1e-18);
    assert_eq!(parsed.get(b'Y'), Some(-0.5));
    assert_eq!(parsed.get(b'Z'), Some(3.0));
}

#[test]
fn a_line_without_a_newline_longer_than_the_cap_is_one_bad_line() {
    let mut bytes = b"G1 X".to_vec();
    bytes.extend(std::iter::repeat_n(b'1', 200_000));
    let analysis = common::gcode::analyse(&bytes);
    assert_eq!((analysis.lines, analysis.bad_lines), (1, 1));
}

#[test]
fn comments_checksums_and_line_numbers_are_not_words() {
    let command = line::parse(b"N5 G1 (inline) X1 ;Y2")
        .expect("ok")
        .expect("cmd");
    assert_eq!(command.words(), &[(b'X', 1.0)]);
    assert_eq!(line::parse(b"   ; only a comment"), Ok(None));
    assert_eq!(
        line::parse(b"M117 Hello: 50% done"),
        Ok(Some(line::parse(b"M117").expect("ok").expect("cmd")))
    );
}

proptest! {
    /// Up to 15 digits (what G-code has) the mantissa is exact in a double, so one division
    /// by an exact power of ten is correctly rounded, as the standard library's parser is.
    #[test]
    fn short_decimals_parse_to_the_same_double_as_the_standard_library(
        text in "-?[0-9]{0,7}\\.?[0-9]{0,8}".prop_filter("has a digit", |t| t.bytes().any(|b| b.is_ascii_digit())),
    ) {
        let line = format!("G1 X{text}");
        let command = line::parse(line.as_bytes()).expect("valid").expect("command");
        let expected: f64 = text.parse().expect("a decimal");
        prop_assert_eq!(command.get(b'X').map(f64::to_bits), Some(expected.to_bits()));
    }
}

proptest! {
    #[test]
    fn a_reused_command_reads_a_line_as_a_fresh_one_does(first in gcode_text(), second in gcode_text()) {
        let mut reused = line::Command::new();
        let first = first.lines().next().unwrap_or("");
        let second = second.lines().next().unwrap_or("");
        let _ = reused.read(first.as_bytes());
        // Compared by bits: a bare letter's NaN is never equal to itself.
        let bits = |c: &line::Command| {
            let words: Vec<_> = c.words().iter().map(|(l, v)| (*l, v.to_bits())).collect();
            (c.letter, c.code, words)
        };
        let fresh = line::parse(second.as_bytes()).map(|c| c.as_ref().map(bits));
        let again = reused.read(second.as_bytes()).map(|read| read.then(|| bits(&reused)));
        prop_assert_eq!(fresh, again);
    }
}
