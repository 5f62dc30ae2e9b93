//! `check-config` on the fleet keys: a gateway with no identity and no claim is told how to
//! get one; half a claim is named; a claim alone is enough to start; `renew_at_percent` is
//! range-checked.

use std::process::Command;

use super::{Fleet, text, write_config};

fn check(fleet: &Fleet) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"))
        .arg("check-config")
        .arg(&fleet.config_file)
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn check_config_says_how_a_gateway_without_identity_gets_one() {
    let fleet = Fleet::start();
    let (code, said) = check(&fleet);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("cloud.cert_file: not set, and the enrolled certificate")
            && said.contains("run `fluxprint-gateway enroll`"),
        "{said}"
    );

    let half = format!("claim_cert_file = \"{}\"\n", fleet.claim.0.display());
    write_config(
        &fleet.config_file,
        &fleet.state_dir,
        &fleet.pki,
        fleet.broker.port,
        &half,
    );
    let (code, said) = check(&fleet);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("cloud.claim_key_file: missing (required) when cloud.claim_cert_file is set"),
        "{said}"
    );

    let claim = format!("{half}claim_key_file = \"{}\"\n", fleet.claim.1.display());
    write_config(
        &fleet.config_file,
        &fleet.state_dir,
        &fleet.pki,
        fleet.broker.port,
        &claim,
    );
    let (code, said) = check(&fleet);
    assert_eq!(code, Some(0), "{said}");
}

#[test]
fn check_config_range_checks_the_renewal_share() {
    let fleet = Fleet::start();
    let claim = format!(
        "claim_cert_file = \"{}\"\nclaim_key_file = \"{}\"\n",
        fleet.claim.0.display(),
        fleet.claim.1.display()
    );
    for (share, ok) in [("0", false), ("100", false), ("1", true), ("99", true)] {
        let extra = format!("{claim}renew_at_percent = {share}\n");
        write_config(
            &fleet.config_file,
            &fleet.state_dir,
            &fleet.pki,
            fleet.broker.port,
            &extra,
        );
        let (code, said) = check(&fleet);
        assert_eq!(code, Some(if ok { 0 } else { 2 }), "{share}: {said}");
        if !ok {
            assert!(said.contains("cloud.renew_at_percent"), "{said}");
        }
    }
}
