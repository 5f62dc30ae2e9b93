//! LAN start-up: the API key generated into the state directory (and the `api-key` verb that
//! prints it), and a listen address that is taken.

use crate::common;
use crate::web_harness;

use web_harness::{KEY, error_of, start};

#[tokio::test]
async fn without_a_configured_key_the_generated_one_in_the_state_directory_opens_control() {
    let lan = start(|c| c.web.api_key = None).await;
    let key = std::fs::read_to_string(lan.dir.path().join("api-key")).unwrap();
    let key = key.trim();
    assert_eq!(key.len(), 64);
    let url = lan.url("/api/jobs/7/cancel");
    let response = lan
        .http
        .post(&url)
        .header("X-Api-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.1, "job_not_found");
    let old = lan
        .http
        .post(&url)
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(old).await.0, 401);
    lan.stop().await;
}

#[tokio::test]
async fn a_taken_listen_address_is_a_start_error_naming_it() {
    let lan = start(|_| {}).await;
    let taken = lan.running.web_addr();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), vec![]);
    config.web.listen = taken;
    let drivers = std::sync::Arc::new(common::HandDrivers::default());
    let token = tokio_util::sync::CancellationToken::new();
    let error = match fluxprint_gateway::app::start(config, drivers, token).await {
        Ok(_) => panic!("a second gateway bound {taken}"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(&taken.to_string()), "{error}");
    lan.stop().await;
}

#[test]
fn the_api_key_verb_prints_the_key_the_gateway_will_use() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let state = dir.path().join("state");
    let write = |extra: &str| {
        let text = format!(
            "[gateway]\nid = \"gw-1\"\nstate_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:0\"\n{extra}\
             [[printers]]\nid = \"sim\"\ndriver = \"simulated\"\nbuild_volume = [200, 200, 200]\n",
            state.display()
        );
        std::fs::write(&file, text).unwrap();
    };
    let key_of = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"))
            .args(["api-key", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    write("");
    let generated = key_of();
    assert_eq!(generated.len(), 64, "{generated}");
    assert_eq!(key_of(), generated, "generated once, then read");
    let on_disk = std::fs::read_to_string(state.join("api-key")).unwrap();
    assert_eq!(on_disk.trim(), generated);
    write("api_key = \"configured-key-42\"\n");
    assert_eq!(key_of(), "configured-key-42");
}
