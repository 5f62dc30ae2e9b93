//! The status page: static assets compiled into the binary (no build step for users, no CDN).
//! `index.html` loads one ES module (`app.js`) that imports the others; every style is in
//! `app.css`, so the page runs under a strict Content-Security-Policy (no inline script, no
//! inline style, no event-handler attributes). The HTML is revalidated on every load and the
//! other assets are cached for a minute only, so an upgraded gateway serves its new page at
//! once and a page never runs for long with scripts of two versions.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

const HTML_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=60";

/// One file of the page, as served.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static str,
}

const fn asset(path: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        path,
        content_type,
        cache_control: ASSET_CACHE,
        body,
    }
}

static ASSETS: [Asset; 12] = [
    Asset {
        path: "/",
        content_type: HTML,
        cache_control: HTML_CACHE,
        body: include_str!("assets/index.html"),
    },
    asset("/assets/app.css", CSS, include_str!("assets/app.css")),
    asset("/assets/icon.svg", SVG, include_str!("assets/icon.svg")),
    asset("/assets/app.js", JS, include_str!("assets/app.js")),
    asset("/assets/api.js", JS, include_str!("assets/api.js")),
    asset("/assets/chart.js", JS, include_str!("assets/chart.js")),
    asset("/assets/format.js", JS, include_str!("assets/format.js")),
    asset("/assets/jobs.js", JS, include_str!("assets/jobs.js")),
    asset("/assets/live.js", JS, include_str!("assets/live.js")),
    asset(
        "/assets/printers.js",
        JS,
        include_str!("assets/printers.js"),
    ),
    asset("/assets/state.js", JS, include_str!("assets/state.js")),
    asset("/assets/ui.js", JS, include_str!("assets/ui.js")),
];

impl Asset {
    fn response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                (header::CACHE_CONTROL, self.cache_control),
            ],
            self.body,
        )
            .into_response()
    }
}

/// `GET /` and `GET /assets/…`. The page needs no state, so any router state fits.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { asset.response() }))
    })
}

#[cfg(test)]
mod tests;
