//! Config errors: one value per problem, each naming the key path it is about.
//!
//! Loading collects every problem it can find into [`ConfigErrors`], whose `Display` is one
//! line per problem (`web.listen: invalid socket address "abc"`), ready for an operator.

use std::fmt;
use std::io;
use std::net::AddrParseError;
use std::path::PathBuf;

use super::simulator::SimConfigError;

/// One problem with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file itself could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}: invalid TOML: {}", path.display(), one_line(&source.to_string()))]
    Syntax {
        path: PathBuf,
        #[source]
        source: config::ConfigError,
    },
    /// A `FLUXPRINT_…` environment variable holds bytes that are not UTF-8.
    #[error("environment variable {name}: value is not valid UTF-8")]
    EnvNotUnicode { name: String },
    /// A key the gateway does not know (often a typo).
    #[error("{key}: unknown key{}", from_env(origin.as_deref()))]
    UnknownKey { key: String, origin: Option<String> },
    /// A value of the wrong shape (a string where a number belongs, and so on).
    #[error("{key}: {}", Described(source))]
    Type {
        key: String,
        #[source]
        source: config::ConfigError,
    },
    /// A value of the right shape that is still not acceptable.
    #[error("{key}: {problem}")]
    Invalid {
        key: String,
        #[source]
        problem: Problem,
    },
}

impl ConfigError {
    /// A deserialization error from the `config` crate, found while reading the value at
    /// `prefix`; the crate's own (relative) key is appended so the path is complete.
    pub(crate) fn from_value(prefix: &str, source: config::ConfigError) -> Self {
        let key = join_key(prefix, relative_key(&source).unwrap_or(""));
        Self::Type { key, source }
    }

    pub(crate) fn invalid(key: impl Into<String>, problem: Problem) -> Self {
        Self::Invalid {
            key: key.into(),
            problem,
        }
    }
}

/// What is wrong with a value that has the right type.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("missing (required)")]
    Missing,
    #[error("missing (required by the \"{driver}\" driver)")]
    MissingForDriver { driver: &'static str },
    #[error("not used by the \"{driver}\" driver")]
    NotForDriver { driver: &'static str },
    #[error("must not be empty")]
    Empty,
    #[error("expected a table, found {found}")]
    NotATable { found: &'static str },
    #[error("expected a string (the printer's serial number), found {found}")]
    NotAString { found: &'static str },
    #[error("{value:?} may only contain letters, digits, '.', '_' and '-'")]
    NotTopicSafe { value: String },
    #[error("must not contain whitespace or control characters")]
    SecretCharacters,
    #[error("{} is not an absolute path", path.display())]
    NotAbsolute { path: PathBuf },
    #[error("invalid socket address {value:?} (expected e.g. \"0.0.0.0:8080\")")]
    SocketAddr {
        value: String,
        #[source]
        source: AddrParseError,
    },
    #[error("{source}; RUST_LOG takes `target=level` directives")]
    LogLevel {
        #[source]
        source: crate::platform::logging::LoggingError,
    },
    #[error("invalid URL {value:?}: {source}")]
    Url {
        value: String,
        #[source]
        source: url::ParseError,
    },
    #[error("URL scheme must be {expected}, not {scheme:?}")]
    UrlScheme {
        scheme: String,
        expected: &'static str,
    },
    #[error("URL {value:?} has no host")]
    UrlHost { value: String },
    #[error("URL must not contain a user name or password; secrets have their own keys")]
    UrlCredentials,
    #[error("invalid host name {value:?}: {source}")]
    Host {
        value: String,
        #[source]
        source: url::ParseError,
    },
    #[error("cannot read {}: {source}", path.display())]
    UnreadableFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("not an Ed25519 public key: {reason} (expected base64 of 32 bytes)")]
    PublicKey { reason: String },
    #[error("{} is not executable (chmod +x, or install the slicer: apt-get install prusa-slicer)", path.display())]
    NotExecutable { path: PathBuf },
    #[error(
        "{name:?} is not on PATH (give the full path, or install the slicer: apt-get install prusa-slicer)"
    )]
    NotOnPath { name: String },
    #[error("{} is not a readable directory: {source}", path.display())]
    NotADirectory {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("at least one [[printers]] entry is required")]
    NoPrinters,
    #[error("duplicate printer id {id:?}")]
    DuplicatePrinterId { id: String },
    #[error(
        "unknown driver {value:?}, expected one of \"serial\", \"octoprint\", \"moonraker\", \"bambu\", \"simulated\""
    )]
    UnknownDriver { value: String },
    #[error(
        "unsupported baud rate {baud}, expected one of {}",
        list(super::BAUD_RATES)
    )]
    BaudRate { baud: u32 },
    #[error("expected three numbers [x, y, z] in mm, found {count}")]
    BuildVolumeLength { count: usize },
    #[error("must be a positive number of mm, not {value}")]
    NotPositiveLength { value: f64 },
    #[error("must be greater than 0")]
    Zero,
    #[error("must be a positive number of °C, not {value}")]
    NotPositiveTemperature { value: f64 },
    #[error("{value:?} is not a G-code command word (G, M or T and a number, e.g. \"M500\")")]
    NotCommandWord { value: String },
    #[error("unknown flow control {value:?}, expected \"windowed\" or \"ping-pong\"")]
    FlowControl { value: String },
    #[error("missing (required) when {other} is set; leave both out to use the enrolled identity")]
    HalfIdentity { other: &'static str },
    #[error(
        "not set, and the enrolled certificate {} does not exist: run `fluxprint-gateway enroll` \
         or set cloud.claim_cert_file and cloud.claim_key_file",
        path.display()
    )]
    NotEnrolled { path: PathBuf },
    #[error("must be in {min}..={max}, not {value}")]
    OutOfRange { value: u64, min: u64, max: u64 },
    #[error("must be a single line without control characters")]
    ScriptLine,
    #[error("sends {command}, which the printer's safety.blocked_commands refuses")]
    BlockedInScript { command: String },
    /// The simulator's own check, reworded for the key path it is reported under.
    #[error("{}", simulator_problem(source))]
    Simulator {
        #[source]
        source: SimConfigError,
    },
}

/// A simulator setting's problem without the simulator's own key prefix (`sim.…`), since
/// the error already names `printers[N].simulator.<key>`.
fn simulator_problem(error: &SimConfigError) -> String {
    match error {
        SimConfigError::TooSmall { min, value, .. } => {
            format!("must be at least {min}, not {value}")
        }
        SimConfigError::NotPositive { value, .. } => {
            format!("must be a finite number above 0, not {value}")
        }
        SimConfigError::CorruptRate(rate) => {
            format!("must be in 0.0..1.0 so that resent lines get through, not {rate}")
        }
        SimConfigError::MaxBelowAmbient { max, ambient, .. } => {
            format!("must be above ambient_c ({ambient} °C), not {max} °C")
        }
        SimConfigError::ZeroWireSpeed => "must be greater than 0".to_owned(),
    }
}

/// Every problem found in one configuration; `Display` prints one line per problem.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Joins a parent key path and a child one: `web` + `listen`, `printers` + `[1]`.
pub(crate) fn join_key(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_owned(),
        (_, true) => parent.to_owned(),
        _ if child.starts_with('[') => format!("{parent}{child}"),
        _ => format!("{parent}.{child}"),
    }
}

/// The key path the `config` crate attached to an error, relative to the value it read.
fn relative_key(error: &config::ConfigError) -> Option<&str> {
    match error {
        config::ConfigError::Type { key, .. } | config::ConfigError::At { key, .. } => {
            key.as_deref()
        }
        config::ConfigError::NotFound(key) => Some(key),
        _ => None,
    }
}

/// A `config` crate error without its key and origin, which [`ConfigError`] prints itself.
struct Described<'a>(&'a config::ConfigError);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            config::ConfigError::Type {
                unexpected,
                expected,
                origin,
                ..
            } => write!(
                f,
                "invalid type: {unexpected}, expected {expected}{}",
                from_env(origin.as_deref())
            ),
            config::ConfigError::At { error, .. } => Described(error).fmt(f),
            config::ConfigError::NotFound(_) => f.write_str("missing (required)"),
            other => f.write_str(&one_line(&other.to_string())),
        }
    }
}

/// Names the environment variable a value came from; file values carry no origin.
fn from_env(origin: Option<&str>) -> String {
    origin
        .map(|origin| format!(" (from {origin})"))
        .unwrap_or_default()
}

/// Folds a multi-line parser message (the TOML parser draws a source excerpt) into one line:
/// its first line (the position) and its last (the reason).
fn one_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next_back() {
        Some(last) => format!("{first}: {last}"),
        None => first.to_owned(),
    }
}

fn list(values: impl IntoIterator<Item = u32>) -> String {
    let values: Vec<String> = values.into_iter().map(|value| value.to_string()).collect();
    values.join(", ")
}

#[cfg(test)]
mod tests {
    use super::{join_key, one_line};

    #[test]
    fn child_keys_join_with_dots_and_indexes_attach_directly() {
        assert_eq!(join_key("web", "listen"), "web.listen");
        assert_eq!(join_key("printers", "[1].baud"), "printers[1].baud");
        assert_eq!(join_key("", "gateway"), "gateway");
        assert_eq!(join_key("web", ""), "web");
    }

    #[test]
    fn a_drawn_parser_message_folds_into_position_and_reason() {
        let drawn =
            "TOML parse error at line 2, column 5\n  |\n2 | a = \n  |     ^\nexpected a value\n";
        assert_eq!(
            one_line(drawn),
            "TOML parse error at line 2, column 5: expected a value"
        );
        assert_eq!(one_line("plain"), "plain");
    }
}
