//! Environment overrides: `FLUXPRINT_` + the key path with `__` between levels.
//!
//! `FLUXPRINT_WEB__LISTEN=127.0.0.1:9000` sets `web.listen`; a numeric level indexes an
//! array, so `FLUXPRINT_PRINTERS__0__BAUD=250000` sets `printers[0].baud` (the `config`
//! crate's own `Environment` would replace the whole array with a table there). Values stay
//! strings and are converted to the field's type when read, so a secret such as `0123` keeps
//! its leading zero. Nested tables inside an entry work the same way:
//! `FLUXPRINT_PRINTERS__0__SAFETY__MAX_HOTEND_C=250` sets `printers[0].safety.max_hotend_c`.
//! List keys take comma-separated values (so a script line set from the environment cannot
//! itself contain a comma; such a script belongs in the file).

use config::{Map, Source, Value, ValueKind};

use super::{ConfigError, ConfigErrors};

/// Prefix of every override variable.
pub const ENV_PREFIX: &str = "FLUXPRINT_";
const LEVEL_SEPARATOR: &str = "__";
/// Keys whose values are lists; their overrides are split on commas.
const LIST_KEYS: [&str; 10] = [
    "allow_hosts",
    "allow_http_hosts",
    "build_volume",
    "blocked_commands",
    "pause_script",
    "resume_script",
    "cancel_script",
    "corrupt_lines",
    "lose_lines",
    "lose_oks",
];

/// The overrides found in a set of environment variables, as a `config` source.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvOverrides {
    /// (variable name, key path, value), in the order given.
    entries: Vec<(String, String, String)>,
}

impl EnvOverrides {
    /// Keeps the variables that start with [`ENV_PREFIX`]; others are ignored.
    pub(crate) fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let entries = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let key = key_path(name.strip_prefix(ENV_PREFIX)?);
                Some((name, key, value))
            })
            .collect();
        Self { entries }
    }
}

impl Source for EnvOverrides {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let values = self.entries.iter().map(|(name, key, value)| {
            let origin = format!("environment variable {name}");
            (key.clone(), override_value(&origin, key, value))
        });
        Ok(values.collect())
    }
}

/// The `FLUXPRINT_…` variables of this process; a non-UTF-8 value is an error, not a skip.
pub(crate) fn process_env() -> Result<Vec<(String, String)>, ConfigErrors> {
    let mut vars = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|name| name.starts_with(ENV_PREFIX)) else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((name.to_owned(), value)),
            Err(_) => errors.push(ConfigError::EnvNotUnicode {
                name: name.to_owned(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(vars)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// `PRINTERS__0__BAUD` → `printers[0].baud`.
fn key_path(name: &str) -> String {
    let mut path = String::new();
    for level in name.split(LEVEL_SEPARATOR) {
        let level = level.to_ascii_lowercase();
        if !path.is_empty() && !level.is_empty() && level.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{level}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&level);
        }
    }
    path
}

fn override_value(origin: &str, key: &str, value: &str) -> Value {
    let origin = origin.to_owned();
    let last_level = key.rsplit(['.', ']']).next().unwrap_or(key);
    if !LIST_KEYS.contains(&last_level) {
        return Value::new(Some(&origin), ValueKind::String(value.to_owned()));
    }
    let items: Vec<Value> = value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| Value::new(Some(&origin), ValueKind::String(item.to_owned())))
        .collect();
    Value::new(Some(&origin), ValueKind::Array(items))
}

#[cfg(test)]
mod tests {
    use super::{EnvOverrides, key_path};
    use config::Source;

    #[test]
    fn levels_become_a_dotted_lowercase_path_and_numbers_become_indexes() {
        assert_eq!(key_path("WEB__LISTEN"), "web.listen");
        assert_eq!(
            key_path("CLOUD__DOWNLOADS__MAX_BYTES"),
            "cloud.downloads.max_bytes"
        );
        assert_eq!(key_path("PRINTERS__1__BAUD"), "printers[1].baud");
        assert_eq!(
            key_path("PRINTERS__0__SAFETY__MAX_HOTEND_C"),
            "printers[0].safety.max_hotend_c"
        );
    }

    #[test]
    fn only_prefixed_variables_become_overrides() {
        let overrides = EnvOverrides::new([
            ("FLUXPRINT_GATEWAY__ID".to_owned(), "gw-9".to_owned()),
            ("PATH".to_owned(), "/usr/bin".to_owned()),
        ]);
        let values = overrides.collect().expect("overrides collect");
        let keys: Vec<&String> = values.keys().collect();
        assert_eq!(keys, ["gateway.id"]);
    }

    #[test]
    fn list_keys_split_on_commas() {
        let overrides = EnvOverrides::new([(
            "FLUXPRINT_CLOUD__DOWNLOADS__ALLOW_HOSTS".to_owned(),
            "a.example, b.example".to_owned(),
        )]);
        let mut values = overrides.collect().expect("overrides collect");
        let hosts = values
            .remove("cloud.downloads.allow_hosts")
            .expect("key present");
        let hosts: Vec<String> = hosts.try_deserialize().expect("a list of strings");
        assert_eq!(hosts, ["a.example", "b.example"]);
    }
}
