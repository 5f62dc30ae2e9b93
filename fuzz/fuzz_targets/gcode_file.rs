//! A whole G-code analysis over any bytes: bad lines are counted, never fatal.
#![no_main]

use fluxprint_gateway::gcode::{self, MachineLimits, Materials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let materials = Materials::default();
    let pla = materials.get("PLA").expect("built-in PLA");
    let analysis = gcode::analyse(data, data.len() as u64, &MachineLimits::default(), pla)
        .expect("reading from memory cannot fail");
    assert!(analysis.bad_lines <= analysis.lines);
});
