//! G-code test set-up: the fixtures PrusaSlicer sliced (tests/fixtures/gcode/make.sh) and
//! the analyser run as the gateway runs it, with the default machine limits and PLA.

use std::path::PathBuf;

use fluxprint_gateway::gcode::{self, Analysis, MachineLimits, Material, Materials};

/// The path of a file in tests/fixtures/gcode.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gcode")
        .join(name)
}

/// PLA from the built-in materials table.
pub fn pla() -> Material {
    Materials::default().get("PLA").expect("PLA").clone()
}

/// The analysis of G-code held in memory.
pub fn analyse(text: impl AsRef<[u8]>) -> Analysis {
    let bytes = text.as_ref();
    gcode::analyse(bytes, bytes.len() as u64, &MachineLimits::default(), &pla())
        .expect("reading from memory cannot fail")
}
