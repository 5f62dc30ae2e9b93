//! Which URLs a job file may come from, checked on the first request and on every redirect.
//!
//! HTTPS everywhere, plain HTTP only for hosts the operator listed, and when an allow-list is
//! set only its hosts. Redirects are followed by the fetcher itself (reqwest's own following
//! is off), so each hop passes through `UrlPolicy::check` and `redirect_target` here.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use url::Url;

use super::error::{FetchError, shown};
use crate::config::DownloadsConfig;

/// The most redirects one fetch follows.
pub const MAX_REDIRECTS: usize = 5;

/// The scheme and host rules from `[cloud.downloads]`.
#[derive(Debug, Clone)]
pub(super) struct UrlPolicy {
    /// Empty: any host. Hosts are normalized like `url::Host`'s `Display` (lowercase).
    allow_hosts: Vec<String>,
    allow_http_hosts: Vec<String>,
}

impl UrlPolicy {
    pub(super) fn new(config: &DownloadsConfig) -> Self {
        Self {
            allow_hosts: config.allow_hosts.clone(),
            allow_http_hosts: config.allow_http_hosts.clone(),
        }
    }

    /// Whether `url` may be requested.
    pub(super) fn check(&self, url: &Url) -> Result<(), FetchError> {
        let Some(host) = url.host().map(|host| host.to_string()) else {
            return Err(FetchError::NoHost { url: shown(url) });
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http_hosts.contains(&host) => {}
            scheme => {
                return Err(FetchError::Scheme {
                    url: shown(url),
                    scheme: scheme.to_owned(),
                });
            }
        }
        if !self.allow_hosts.is_empty() && !self.allow_hosts.contains(&host) {
            return Err(FetchError::HostNotAllowed { host });
        }
        Ok(())
    }
}

/// Where a redirect answer from `current` points, resolved against `current`.
/// Only the statuses that mean "fetch it there" count; the caller checks `is_redirect` first.
pub(super) fn redirect_target(
    current: &Url,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Url, FetchError> {
    headers
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| current.join(location).ok())
        .ok_or_else(|| FetchError::BadRedirect {
            url: shown(current),
            status,
        })
}

/// The answers that send the client elsewhere with a GET.
pub(super) fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy(allow: &[&str], http: &[&str]) -> UrlPolicy {
        UrlPolicy::new(&DownloadsConfig {
            allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
            allow_http_hosts: http.iter().map(|h| (*h).to_owned()).collect(),
            ..DownloadsConfig::default()
        })
    }

    fn check(policy: &UrlPolicy, url: &str) -> Result<(), FetchError> {
        policy.check(&Url::parse(url).unwrap())
    }

    #[test]
    fn https_is_allowed_anywhere_when_no_allow_list_is_set() {
        let open = policy(&[], &[]);
        assert!(check(&open, "https://store.example/a.gcode").is_ok());
        assert!(check(&open, "HTTPS://Store.Example/a.gcode").is_ok());
    }

    #[test]
    fn plain_http_only_for_listed_hosts_and_other_schemes_never() {
        let p = policy(&[], &["nas.lan", "192.168.1.5", "[::1]"]);
        assert!(check(&p, "http://nas.lan/a.gcode").is_ok());
        assert!(check(&p, "http://NAS.lan:8080/a.gcode").is_ok());
        assert!(check(&p, "http://192.168.1.5/a.gcode").is_ok());
        assert!(check(&p, "http://[::1]/a.gcode").is_ok());
        assert!(matches!(
            check(&p, "http://store.example/a.gcode"),
            Err(FetchError::Scheme { .. })
        ));
        assert!(matches!(
            check(&p, "ftp://nas.lan/a.gcode"),
            Err(FetchError::Scheme { .. })
        ));
        assert!(matches!(
            check(&p, "file:///etc/passwd"),
            Err(FetchError::NoHost { .. })
        ));
    }

    #[test]
    fn an_allow_list_admits_only_its_hosts_whatever_the_scheme() {
        let p = policy(&["store.example"], &["nas.lan"]);
        assert!(check(&p, "https://store.example/a.gcode").is_ok());
        let refused = check(&p, "https://evil.example/a.gcode").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "host evil.example is not in cloud.downloads.allow_hosts"
        );
        assert!(matches!(
            check(&p, "http://nas.lan/a.gcode"),
            Err(FetchError::HostNotAllowed { .. })
        ));
    }

    #[test]
    fn redirects_resolve_relative_locations_and_need_one() {
        let current = Url::parse("https://store.example/dir/a.gcode?sig=1").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("../b.gcode"));
        let target = redirect_target(&current, StatusCode::FOUND, &headers).unwrap();
        assert_eq!(target.as_str(), "https://store.example/b.gcode");
        let missing = redirect_target(&current, StatusCode::FOUND, &HeaderMap::new());
        assert!(matches!(missing, Err(FetchError::BadRedirect { .. })));
        assert!(is_redirect(StatusCode::PERMANENT_REDIRECT));
        assert!(!is_redirect(StatusCode::NOT_MODIFIED));
    }
}
