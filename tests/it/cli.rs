//! The command line, run as the real binary.

use std::process::Command;

fn gateway() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"))
}

#[test]
fn version_prints_the_package_version() {
    let out = gateway().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("fluxprint-gateway {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_accepts_the_shipped_example() {
    let out = gateway()
        .args(["check-config", "config/gateway.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

#[test]
fn check_config_exits_2_with_one_line_per_problem_naming_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"
[gateway]
id = "gw 1"
state_dir = "relative/dir"

[web]
listen = "not-an-address"

[[printers]]
id = "a"
driver = "simulated"
build_volume = [200, 200, 200]

[[printers]]
id = "a"
driver = "serial"
port = "/dev/ttyACM0"
baud = 115200
build_volume = [200, 200, -1]
"#,
    )
    .unwrap();
    let out = gateway().arg("check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    for key in [
        "gateway.id",
        "gateway.state_dir",
        "web.listen",
        "printers[1].id",
        "printers[1].build_volume",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("error: {key}"))),
            "{key} missing in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_config_exits_2_without_a_panic() {
    let out = gateway()
        .args(["run", "--config", "/nonexistent/gateway.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/gateway.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn run_with_an_unusable_state_directory_says_which_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "[gateway]\nid = \"gw-1\"\nstate_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
             [[printers]]\nid = \"sim\"\ndriver = \"simulated\"\nbuild_volume = [200, 200, 200]\n",
            blocker.join("state").display()
        ),
    )
    .unwrap();
    let out = gateway()
        .arg("run")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("state directory") && stderr.contains("file/state"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
