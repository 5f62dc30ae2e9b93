//! One G-code line: any bytes parse to a command, nothing, or an error.
#![no_main]

use fluxprint_gateway::gcode::line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(command)) = line::parse(data) {
        for (letter, _) in command.words() {
            assert!(letter.is_ascii_uppercase());
        }
    }
});
