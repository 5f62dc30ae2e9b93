//! The `[slicer]` section: the command must run, its limits are range-checked, and without
//! the section the gateway does not slice.

use super::*;

#[test]
fn a_slicer_command_must_be_an_executable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("prusa-slicer");
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ncommand = \"{}\"\n",
        missing.display()
    ));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "slicer.command: cannot read {}",
            missing.display()
        )),
        "{lines:?}"
    );
    std::fs::write(&missing, "#!/bin/sh\n").expect("write script");
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ncommand = \"{}\"\n",
        missing.display()
    ));
    assert_eq!(
        lines,
        [format!(
            "slicer.command: {} is not executable (chmod +x, or install the slicer: apt-get install prusa-slicer)",
            missing.display()
        )]
    );
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ncommand = \"no-such-slicer-here\"\n"
    ));
    assert_eq!(
        lines,
        [
            "slicer.command: \"no-such-slicer-here\" is not on PATH (give the full path, or install the slicer: apt-get install prusa-slicer)"
        ]
    );
}

#[test]
fn slicer_keys_are_read_from_the_file_and_the_environment_and_range_checked() {
    let text = format!("{MINIMAL}[slicer]\ncommand = \"/bin/sh\"\ntimeout_s = 30\n");
    let env = [("FLUXPRINT_SLICER__MAX_PARALLEL", "2")];
    let config = load_text(&text, &env).expect("valid slicer section");
    assert_eq!(config.slicer.command.as_deref(), Some(Path::new("/bin/sh")));
    assert_eq!(config.slicer.timeout, std::time::Duration::from_secs(30));
    assert_eq!(config.slicer.max_parallel, 2);
    assert_eq!(config.slicer.profiles_dir, None);
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ntimeout_s = 0\nmax_parallel = 17\nprofiles_dir = \"/no/such/dir\"\nspeed = 1\n"
    ));
    assert_eq!(lines, ["slicer.speed: unknown key"]);
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ntimeout_s = 0\nmax_parallel = 17\nprofiles_dir = \"/no/such/dir\"\n"
    ));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_has(
        &lines,
        "slicer.profiles_dir: /no/such/dir is not a readable directory",
    );
    assert_has(&lines, "slicer.timeout_s: must be in 1..=86400, not 0");
    assert_has(&lines, "slicer.max_parallel: must be in 1..=16, not 17");
}

#[test]
fn without_a_slicer_section_the_gateway_does_not_slice() {
    let config = load_text(MINIMAL, &[]).expect("minimal config is valid");
    assert_eq!(config.slicer, config::SlicerConfig::default());
    assert_eq!(config.slicer.command, None);
    assert_eq!(
        config.slicer.timeout.as_secs(),
        config::DEFAULT_SLICER_TIMEOUT_S
    );
    assert_eq!(
        config.slicer.max_parallel,
        config::DEFAULT_SLICER_MAX_PARALLEL
    );
}
