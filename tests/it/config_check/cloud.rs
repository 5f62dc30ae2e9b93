//! The `[cloud]` section: the broker link an enabled cloud needs, and the download limits.

use super::*;

#[test]
fn an_enabled_cloud_needs_an_mqtts_url_and_readable_certificate_files() {
    let text = format!(
        "{MINIMAL}\n[cloud]\nenabled = true\nurl = \"mqtt://broker.example.com:1883\"\n\
         ca_file = \"/nonexistent/ca.pem\"\ncert_file = \"/\"\n"
    );
    let lines = problems(&text);
    assert_has(
        &lines,
        "cloud.url: URL scheme must be \"mqtts\", not \"mqtt\"",
    );
    assert_has(
        &lines,
        "cloud.ca_file: cannot read /nonexistent/ca.pem: No such file or directory",
    );
    assert_has(&lines, "cloud.cert_file: / is not a regular file");
    assert_has(&lines, "cloud.key_file: missing (required)");
    assert_eq!(lines.len(), 4, "{lines:#?}");
}

#[test]
fn an_unparsable_cloud_url_is_named() {
    let text = format!("{MINIMAL}\n[cloud]\nenabled = true\nurl = \"not a url\"\n");
    assert_has(&problems(&text), "cloud.url: invalid URL \"not a url\"");
}

#[test]
fn an_enabled_cloud_with_readable_files_yields_a_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [ca, cert, key] = ["ca.pem", "gw.pem", "gw.key"].map(|name| {
        let path = dir.path().join(name);
        std::fs::write(&path, "-----BEGIN TEST-----\n").expect("write file");
        path
    });
    let text = format!(
        "{MINIMAL}\n[cloud]\nenabled = true\nurl = \"mqtts://broker.example.com:8883\"\n\
         ca_file = {ca:?}\ncert_file = {cert:?}\nkey_file = {key:?}\n"
    );
    let config = load_text(&text, &[]).expect("valid cloud config");
    let link = config.cloud.link.expect("enabled cloud has a link");
    assert_eq!(link.url.host_str(), Some("broker.example.com"));
    assert_eq!(link.url.port(), Some(8883));
    assert_eq!(
        (link.ca_file, link.cert_file, link.key_file),
        (ca, cert, key)
    );
}

#[test]
fn download_limits_are_checked() {
    let text = format!(
        "{MINIMAL}\n[cloud.downloads]\nmax_bytes = 0\nextra_ca_file = \"/nonexistent/extra.pem\"\n\
         allow_hosts = [\"files.example.com\", \"bad host\"]\n"
    );
    let lines = problems(&text);
    assert_has(&lines, "cloud.downloads.max_bytes: must be greater than 0");
    assert_has(
        &lines,
        "cloud.downloads.extra_ca_file: cannot read /nonexistent/extra.pem",
    );
    assert_has(
        &lines,
        "cloud.downloads.allow_hosts[1]: invalid host name \"bad host\"",
    );
    assert_eq!(lines.len(), 3, "{lines:#?}");
}
