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

#[test]
fn fallback_urls_are_checked_like_the_url_and_kept_in_order() {
    let text = format!(
        "{MINIMAL}\n[cloud]\nenabled = true\nurl = \"mqtts://node1.example.com\"\n\
         fallback_urls = [\"mqtts://node2.example.com:8884\", \"mqtt://node3.example.com\"]\n"
    );
    assert_has(
        &problems(&text),
        "cloud.fallback_urls[1]: URL scheme must be \"mqtts\", not \"mqtt\"",
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let [ca, cert, key] = ["ca.pem", "gw.pem", "gw.key"].map(|name| {
        let path = dir.path().join(name);
        std::fs::write(&path, "-----BEGIN TEST-----\n").expect("write file");
        path
    });
    let text = format!(
        "{MINIMAL}\n[cloud]\nenabled = true\nurl = \"mqtts://node1.example.com\"\n\
         fallback_urls = [\"mqtts://node2.example.com:8884\", \"mqtts://node3.example.com\"]\n\
         ca_file = {ca:?}\ncert_file = {cert:?}\nkey_file = {key:?}\n"
    );
    let link = load_text(&text, &[])
        .expect("valid")
        .cloud
        .link
        .expect("a link");
    let hosts: Vec<_> = link
        .fallback_urls
        .iter()
        .map(|u| (u.host_str().unwrap().to_owned(), u.port()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("node2.example.com".to_owned(), Some(8884)),
            ("node3.example.com".to_owned(), None)
        ]
    );
}

#[test]
fn the_download_retry_budget_is_bounded() {
    let text = format!("{MINIMAL}\n[cloud.downloads]\nretry_budget_s = 100000\n");
    assert_has(
        &problems(&text),
        "cloud.downloads.retry_budget_s: must be in 0..=86400, not 100000",
    );
}
