//! The page's routes over a real socket, and the rules its files must keep: nothing inline
//! (strict CSP), nothing fetched from elsewhere (no CDN), every control labelled.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{ASSETS, routes};

struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve() -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let app = routes::<()>();
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    Served { addr, stop }
}

/// A plain HTTP/1.1 GET: (status line, lower-cased header lines, body).
async fn get(addr: SocketAddr, path: &str) -> (String, Vec<String>, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    (
        status,
        lines.map(str::to_ascii_lowercase).collect(),
        body.to_owned(),
    )
}

fn source(path: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("{path} is not served"))
        .body
}

fn html() -> &'static str {
    source("/")
}

/// The values of `name="…"` attributes in `text`.
fn attribute_values<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let marker = format!(" {name}=\"");
    text.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            &rest[..rest.find('"').expect("a closed attribute")]
        })
        .collect()
}

/// Every tag of this name, from `<name` to its `>`.
fn tags<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    text.match_indices(&open)
        .map(|(at, _)| &text[at..at + text[at..].find('>').expect("a closed tag") + 1])
        .filter(|tag| tag[open.len()..].starts_with([' ', '>']))
        .collect()
}

#[tokio::test]
async fn every_asset_is_served_with_its_content_type_and_a_short_cache_policy() {
    let served = serve().await;
    for (path, content_type, cache) in [
        ("/", "text/html; charset=utf-8", "no-cache"),
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "public, max-age=60",
        ),
        (
            "/assets/app.css",
            "text/css; charset=utf-8",
            "public, max-age=60",
        ),
        ("/assets/icon.svg", "image/svg+xml", "public, max-age=60"),
    ] {
        let (status, headers, body) = get(served.addr, path).await;
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
        assert!(
            headers.contains(&format!("content-type: {content_type}")),
            "{path}: {headers:?}"
        );
        assert!(
            headers.contains(&format!("cache-control: {cache}")),
            "{path}: {headers:?}"
        );
        assert_eq!(body, source(path), "{path}");
    }
    let (status, _, _) = get(served.addr, "/assets/missing.js").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn the_page_has_no_inline_script_style_or_event_handler_attributes() {
    let page = html();
    for script in tags(page, "script") {
        assert!(
            script.contains(" src=\"/assets/"),
            "inline script: {script}"
        );
    }
    assert!(tags(page, "style").is_empty(), "a <style> element");
    assert!(!page.contains(" style="), "a style attribute");
    let lower = page.to_ascii_lowercase();
    for (at, _) in lower.match_indices(" on") {
        let word: String = lower[at + 1..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        assert!(
            !lower[at + 1 + word.len()..].starts_with('='),
            "an event-handler attribute: {word}"
        );
    }
}

#[test]
fn the_scripts_change_nothing_a_strict_policy_forbids() {
    for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute(\"style\"",
            "setAttribute(\"on",
            "cssText",
        ] {
            assert!(
                !asset.body.contains(forbidden),
                "{} uses {forbidden}",
                asset.path
            );
        }
    }
}

#[test]
fn every_file_the_page_loads_is_served_by_the_gateway_itself() {
    let mut wanted: Vec<String> = attribute_values(html(), "src")
        .into_iter()
        .chain(attribute_values(html(), "href"))
        .map(str::to_owned)
        .collect();
    for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        for (at, _) in asset.body.match_indices(" from \"./") {
            let rest = &asset.body[at + " from \"./".len()..];
            wanted.push(format!("/assets/{}", &rest[..rest.find('"').unwrap()]));
        }
    }
    assert!(wanted.len() > 10, "imports found: {wanted:?}");
    for path in wanted {
        assert!(
            ASSETS.iter().any(|a| a.path == path),
            "{path} is not served"
        );
    }
}

#[test]
fn every_form_control_on_the_page_has_a_label() {
    let page = html();
    let labelled = attribute_values(page, "for");
    let controls = ["input", "select", "textarea", "progress"]
        .into_iter()
        .flat_map(|name| tags(page, name))
        .filter(|tag| !tag.contains("data-field="));
    for control in controls {
        let id = attribute_values(control, "id");
        assert!(
            id.first().is_some_and(|id| labelled.contains(id)),
            "no <label for> names {control}"
        );
    }
    for button in page.split("<button").skip(1) {
        let text = &button[button.find('>').unwrap() + 1..button.find("</button>").unwrap()];
        assert!(
            !text.trim().is_empty(),
            "a button without text: <button{button}"
        );
    }
}
