//! The STL reader over any bytes, both as the file's real size (ASCII or mismatched binary)
//! and as the size a binary header promises.
#![no_main]

use fluxprint_gateway::gcode::stl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stl::analyse_reader(data, data.len() as u64);
    if let Some(count) = data.get(80..84) {
        let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
        let _ = stl::analyse_reader(data, 84 + 50 * u64::from(count.min(1 << 20)));
    }
});
