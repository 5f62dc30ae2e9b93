//! Which hosts are asked at all: plain HTTP only for listed hosts, the allow list, and
//! redirects (followed up to the limit, never off the list or down to plain HTTP).

use super::*;

#[tokio::test]
async fn plain_http_is_refused_unless_the_host_is_listed() {
    let pki = pki();
    let server = Server::http().await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("good.gcode"), &gcode());

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();
    assert!(
        matches!(&error, FetchError::Scheme { scheme, .. } if scheme == "http"),
        "{error}"
    );
    assert!(server.requests().is_empty());

    let listed = DownloadsConfig {
        allow_http_hosts: vec!["127.0.0.1".to_owned()],
        ..config(&pki)
    };
    let fetched = fetch(&listed, &spec, dest.path()).await.unwrap();
    assert_eq!(std::fs::read(&fetched.path).unwrap(), gcode());
}

#[tokio::test]
async fn a_host_missing_from_the_allow_list_is_never_asked() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let only_localhost = DownloadsConfig {
        allow_hosts: vec!["localhost".to_owned()],
        ..config(&pki)
    };
    let spec = spec(server.url("good.gcode"), &gcode());

    let error = fetch(&only_localhost, &spec, dest.path())
        .await
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        "host 127.0.0.1 is not in cloud.downloads.allow_hosts"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_to_a_host_off_the_allow_list_is_refused() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let mut elsewhere = server.url("good.gcode");
    elsewhere.set_host(Some("localhost")).unwrap();
    let spec = spec(server.redirect_to(&elsewhere), &gcode());
    let only_ip = DownloadsConfig {
        allow_hosts: vec!["127.0.0.1".to_owned()],
        ..config(&pki)
    };

    let error = fetch(&only_ip, &spec, dest.path()).await.unwrap_err();
    assert!(
        matches!(&error, FetchError::HostNotAllowed { host } if host == "localhost"),
        "{error}"
    );
    assert_eq!(server.requests(), ["/redirect"]);

    // The same redirect is followed once its target is allowed.
    let both = DownloadsConfig {
        allow_hosts: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        ..config(&pki)
    };
    fetch(&both, &spec, dest.path()).await.unwrap();
    assert_eq!(server.requests(), ["/redirect", "/redirect", "/good.gcode"]);
}

#[tokio::test]
async fn a_redirect_from_https_down_to_plain_http_is_refused() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let plain = Server::http().await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.redirect_to(&plain.url("good.gcode")), &gcode());

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(matches!(error, FetchError::Scheme { .. }), "{error}");
    assert!(plain.requests().is_empty());
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn five_redirects_are_followed_and_a_sixth_is_refused() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();

    let within = spec(server.url(&format!("hop/{MAX_REDIRECTS}")), &gcode());
    fetch(&config(&pki), &within, dest.path()).await.unwrap();
    assert_eq!(server.requests().len(), MAX_REDIRECTS + 1);

    let beyond = spec(server.url(&format!("hop/{}", MAX_REDIRECTS + 1)), &gcode());
    let error = fetch(&config(&pki), &beyond, dest.path())
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::TooManyRedirects { .. }),
        "{error}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2 * (MAX_REDIRECTS + 1));
    assert_eq!(
        requests.last().unwrap(),
        "/hop/1",
        "/hop/0 is never asked for"
    );
}
