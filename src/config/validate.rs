//! Validation: raw structs in, a typed [`Config`] out, or every problem found.
//!
//! Each check runs even after an earlier one failed, so an operator sees the whole list in
//! one go. Defaults are applied here. The only I/O is checking that referenced certificate
//! and CA files can be opened.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::printers::printers;
use super::raw::{RawCloud, RawConfig, RawDownloads, RawGateway, RawWeb};
use super::{
    CloudConfig, CloudLink, Config, ConfigError, ConfigErrors, DEFAULT_LISTEN, DEFAULT_LOG_LEVEL,
    DEFAULT_MAX_DOWNLOAD_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_RATE_LIMIT_PER_MINUTE,
    DEFAULT_STATE_DIR, DownloadsConfig, GatewayConfig, Problem, Secret, WebConfig,
};

/// Collects problems while validation goes on.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigError>);

impl Problems {
    pub(crate) fn add(&mut self, key: impl Into<String>, problem: Problem) {
        self.0.push(ConfigError::invalid(key, problem));
    }

    /// The value, or `None` after recording the problem under `key`.
    pub(crate) fn check<T>(&mut self, key: &str, result: Result<T, Problem>) -> Option<T> {
        result.map_err(|problem| self.add(key, problem)).ok()
    }
}

pub(crate) fn validate(raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let gateway = gateway(raw.gateway, &mut problems);
    let web = web(raw.web, &mut problems);
    let state_dir = gateway.as_ref().map(|g| g.state_dir.as_path());
    let cloud = cloud(raw.cloud, state_dir, &mut problems);
    let printers = printers(raw.printers, &mut problems);
    let slicer = super::slicer::slicer(raw.slicer, &mut problems);
    let update = super::update::update(raw.update, &mut problems);
    match (gateway, web, cloud, printers, slicer, update) {
        (Some(gateway), Some(web), Some(cloud), Some(printers), Some(slicer), Some(update))
            if problems.0.is_empty() =>
        {
            Ok(Config {
                gateway,
                web,
                cloud,
                printers,
                slicer,
                update,
            })
        }
        _ => Err(ConfigErrors(problems.0)),
    }
}

fn gateway(raw: RawGateway, problems: &mut Problems) -> Option<GatewayConfig> {
    let id = problems.check("gateway.id", required(raw.id).and_then(topic_safe));
    let state_dir = raw
        .state_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    let state_dir = problems.check("gateway.state_dir", absolute(state_dir));
    let log_level = raw
        .log_level
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned());
    let log_level = problems.check("gateway.log_level", level_name(log_level));
    Some(GatewayConfig {
        id: id?,
        state_dir: state_dir?,
        log_level: log_level?,
    })
}

fn web(raw: RawWeb, problems: &mut Problems) -> Option<WebConfig> {
    let listen = match raw.listen {
        Some(listen) => problems.check("web.listen", socket_addr(listen)),
        None => Some(DEFAULT_LISTEN),
    };
    let api_key = match raw.api_key {
        Some(key) => problems.check("web.api_key", secret(key)).map(Some),
        None => Some(None),
    };
    let max_upload_bytes = raw.max_upload_bytes.unwrap_or(DEFAULT_MAX_UPLOAD_BYTES);
    let max_upload_bytes = problems.check(
        "web.max_upload_bytes",
        if max_upload_bytes == 0 {
            Err(Problem::Zero)
        } else {
            Ok(max_upload_bytes)
        },
    );
    Some(WebConfig {
        listen: listen?,
        api_key: api_key?,
        public_status: raw.public_status.unwrap_or(true),
        max_upload_bytes: max_upload_bytes?,
        rate_limit_per_minute: raw
            .rate_limit_per_minute
            .unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE),
    })
}

fn cloud(raw: RawCloud, state_dir: Option<&Path>, problems: &mut Problems) -> Option<CloudConfig> {
    let enabled = raw.enabled.unwrap_or(false);
    // When the link is off its keys may stay in the file, unchecked, ready for later.
    let link = if enabled {
        cloud_link(&raw, state_dir, problems).map(Some)
    } else {
        Some(None)
    };
    let downloads = downloads(raw.downloads, problems);
    let (link, claim) = match link? {
        Some((link, claim)) => (Some(link), claim),
        None => (None, None),
    };
    Some(CloudConfig {
        enabled,
        link,
        downloads: downloads?,
        claim,
    })
}

fn cloud_link(
    raw: &RawCloud,
    state_dir: Option<&Path>,
    problems: &mut Problems,
) -> Option<(CloudLink, Option<super::ClaimFiles>)> {
    let url =
        required(raw.url.as_deref()).and_then(|url| url_with_scheme(url, &["mqtts"], "\"mqtts\""));
    let url = problems.check("cloud.url", url);
    let fallback_urls: Vec<_> = (raw.fallback_urls.iter().flatten().enumerate())
        .map(|(i, url)| {
            let url = url_with_scheme(url, &["mqtts"], "\"mqtts\"");
            problems.check(&format!("cloud.fallback_urls[{i}]"), url)
        })
        .collect();
    let ca_file = problems.check(
        "cloud.ca_file",
        required(raw.ca_file.clone()).and_then(readable),
    );
    let identity = super::fleet::identity(raw, state_dir, problems);
    let options = super::cloud::link_options(raw, problems);
    let identity = identity?;
    let link = CloudLink {
        url: url?,
        fallback_urls: fallback_urls.into_iter().collect::<Option<_>>()?,
        ca_file: ca_file?,
        cert_file: identity.cert_file,
        key_file: identity.key_file,
        options: options?,
    };
    Some((link, identity.claim))
}

fn downloads(raw: RawDownloads, problems: &mut Problems) -> Option<DownloadsConfig> {
    let max_bytes = raw.max_bytes.unwrap_or(DEFAULT_MAX_DOWNLOAD_BYTES);
    let max_bytes = problems.check(
        "cloud.downloads.max_bytes",
        if max_bytes == 0 {
            Err(Problem::Zero)
        } else {
            Ok(max_bytes)
        },
    );
    let allow_hosts = hosts("cloud.downloads.allow_hosts", raw.allow_hosts, problems);
    let allow_http_hosts = hosts(
        "cloud.downloads.allow_http_hosts",
        raw.allow_http_hosts,
        problems,
    );
    // An empty string is how the example file says "no extra CA".
    let extra_ca_file = match raw
        .extra_ca_file
        .filter(|path| !path.as_os_str().is_empty())
    {
        Some(path) => problems
            .check("cloud.downloads.extra_ca_file", readable(path))
            .map(Some),
        None => Some(None),
    };
    let budget = raw
        .retry_budget_s
        .unwrap_or(super::types::DEFAULT_DOWNLOAD_RETRY_BUDGET_S);
    let budget = problems.check(
        "cloud.downloads.retry_budget_s",
        if budget <= 86_400 {
            Ok(std::time::Duration::from_secs(budget))
        } else {
            Err(Problem::OutOfRange {
                value: budget,
                min: 0,
                max: 86_400,
            })
        },
    );
    Some(DownloadsConfig {
        retry_budget: budget?,
        max_bytes: max_bytes?,
        allow_hosts: allow_hosts?,
        extra_ca_file: extra_ca_file?,
        allow_http_hosts: allow_http_hosts?,
    })
}

/// Host names, normalized (lowercase, punycode); each bad one is reported with its index.
fn hosts(key: &str, raw: Option<Vec<String>>, problems: &mut Problems) -> Option<Vec<String>> {
    let checked: Vec<Option<String>> = raw
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let host = url::Host::parse(&value)
                .map(|host| host.to_string())
                .map_err(|source| Problem::Host { value, source });
            problems.check(&format!("{key}[{index}]"), host)
        })
        .collect();
    checked.into_iter().collect()
}

pub(crate) fn required<T>(value: Option<T>) -> Result<T, Problem> {
    value.ok_or(Problem::Missing)
}

/// Ids become MQTT client ids and topic segments, so they must not carry `/`, `+`, `#` or
/// spaces; this keeps them to a conservative set.
pub(crate) fn topic_safe(value: String) -> Result<String, Problem> {
    if value.is_empty() {
        return Err(Problem::Empty);
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.chars().all(safe) {
        Ok(value)
    } else {
        Err(Problem::NotTopicSafe { value })
    }
}

/// A secret travels in HTTP headers, so it must be non-empty and free of whitespace.
pub(crate) fn secret(value: String) -> Result<Secret, Problem> {
    if value.is_empty() {
        Err(Problem::Empty)
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(Problem::SecretCharacters)
    } else {
        Ok(Secret::new(value))
    }
}

/// Parses a URL whose scheme is one of `schemes` and that names a host but no credentials.
pub(crate) fn url_with_scheme(
    value: &str,
    schemes: &[&str],
    expected: &'static str,
) -> Result<url::Url, Problem> {
    let url = url::Url::parse(value).map_err(|source| Problem::Url {
        value: value.to_owned(),
        source,
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(Problem::UrlScheme {
            scheme: url.scheme().to_owned(),
            expected,
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Problem::UrlHost {
            value: value.to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Problem::UrlCredentials);
    }
    Ok(url)
}

/// The file can be opened for reading and is a regular file.
pub(crate) fn readable(path: PathBuf) -> Result<PathBuf, Problem> {
    if path.as_os_str().is_empty() {
        return Err(Problem::Empty);
    }
    let opened = File::open(&path).and_then(|file| file.metadata());
    match opened {
        Ok(metadata) if metadata.is_file() => Ok(path),
        Ok(_) => Err(Problem::NotAFile { path }),
        Err(source) => Err(Problem::UnreadableFile { path, source }),
    }
}

fn absolute(path: PathBuf) -> Result<PathBuf, Problem> {
    if Path::is_absolute(&path) {
        Ok(path)
    } else {
        Err(Problem::NotAbsolute { path })
    }
}

fn socket_addr(value: String) -> Result<SocketAddr, Problem> {
    value
        .parse()
        .map_err(|source| Problem::SocketAddr { value, source })
}

/// The level `run` starts with: a level name (directives belong in `RUST_LOG`), so a
/// config `check-config` accepts never stops the daemon at start.
fn level_name(value: String) -> Result<String, Problem> {
    match crate::platform::logging::parse_level(&value) {
        Ok(_) => Ok(value),
        Err(source) => Err(Problem::LogLevel { source }),
    }
}
