//! The helper's systemd units pass `systemd-analyze verify` (with the binary path pointed at
//! this build, since verify checks that `ExecStart=` is executable).

#[test]
fn the_update_units_and_the_service_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let mut units = Vec::new();
    for name in [
        "fluxprint-gateway.service",
        "fluxprint-gateway-update.path",
        "fluxprint-gateway-update.service",
    ] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let text = text.replace(
            "/usr/bin/fluxprint-gateway ",
            &format!("{} ", env!("CARGO_BIN_EXE_fluxprint-gateway")),
        );
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze is missing: apt-get install systemd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
}
