//! Layered configuration: built-in defaults, then a TOML file (`--config` or
//! `LATCHKEY_CONFIG`), then `LATCHKEY_*` environment variables (`__` for
//! nesting: `LATCHKEY_SESSION__COOKIE__SAMESITE=Lax`), then command-line
//! flags. Later layers win. The merged tree is validated into
//! [`latchkey::Settings`] before anything starts.

use std::path::Path;

use latchkey::settings::{Kind, RawSettings, SETTINGS, Settings};
use toml::{Table, Value};

/// Environment variables with the prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["PASSWORD", "CONFIG"];

/// Values from command-line flags; `None`/empty means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--preset`.
    pub preset: Option<String>,
    /// `--bind`.
    pub bind: Option<String>,
    /// `--database`.
    pub database_url: Option<String>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--allowed-origin` (repeatable).
    pub allowed_origins: Vec<String>,
    /// `--allowed-host` (repeatable).
    pub allowed_hosts: Vec<String>,
    /// `--trusted-proxy` (repeatable).
    pub trusted_proxies: Vec<String>,
    /// `--spa-dir`.
    pub spa_dir: Option<String>,
    /// `--session-store`.
    pub session_store_url: Option<String>,
}

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        /// Path.
        path: String,
        /// OS error.
        cause: String,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("config file {path}: {cause}")]
    File {
        /// Path.
        path: String,
        /// Parser message.
        cause: String,
    },
    /// An environment variable has the prefix but names no setting.
    #[error("unknown environment variable {0}: it names no setting (see docs/configuration.md)")]
    UnknownEnv(String),
    /// An environment variable's value does not fit the setting.
    #[error("environment variable {var}: {cause}")]
    BadEnv {
        /// Variable name.
        var: String,
        /// What is wrong.
        cause: String,
    },
    /// The merged tree has a wrong type somewhere.
    #[error("configuration: {0}")]
    Shape(String),
    /// A value failed validation.
    #[error(transparent)]
    Invalid(#[from] latchkey::settings::SettingsError),
}

fn insert(table: &mut Table, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("non-empty path");
    let mut t = table;
    for p in parts {
        let entry = t.entry(p.to_owned()).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        t = entry.as_table_mut().expect("just made a table");
    }
    t.insert(last.to_owned(), value);
}

fn coerce(var: &str, kind: Kind, raw: &str) -> Result<Value, ConfigError> {
    let bad = |cause: String| ConfigError::BadEnv { var: var.to_owned(), cause };
    Ok(match kind {
        Kind::String => Value::String(raw.to_owned()),
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Value::Boolean(true),
            "0" | "false" | "no" | "off" => Value::Boolean(false),
            _ => return Err(bad(format!("{raw:?} is not true or false"))),
        },
        Kind::Integer => {
            Value::Integer(raw.trim().parse::<i64>().map_err(|_| bad(format!("{raw:?} is not a whole number")))?)
        }
        Kind::Float => Value::Float(raw.trim().parse::<f64>().map_err(|_| bad(format!("{raw:?} is not a number")))?),
        Kind::List => Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        ),
    })
}

/// Merges the environment layer into `table`.
///
/// # Errors
/// Unknown `LATCHKEY_*` variables and values of the wrong kind.
pub fn apply_env(table: &mut Table, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("LATCHKEY_")).collect();
    vars.sort();
    for (var, value) in vars {
        let name = &var["LATCHKEY_".len()..];
        if NOT_SETTINGS.contains(&name) {
            continue;
        }
        let key = name.to_ascii_lowercase().replace("__", ".");
        let doc = SETTINGS.iter().find(|s| s.key == key).ok_or_else(|| ConfigError::UnknownEnv(var.clone()))?;
        insert(table, doc.key, coerce(&var, doc.kind, &value)?);
    }
    Ok(())
}

fn apply_overrides(table: &mut Table, o: &Overrides) {
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    for (key, value) in [
        ("preset", &o.preset),
        ("bind", &o.bind),
        ("database_url", &o.database_url),
        ("public_url", &o.public_url),
        ("spa.dir", &o.spa_dir),
        ("session_store_url", &o.session_store_url),
    ] {
        if let Some(v) = value {
            insert(table, key, Value::String(v.clone()));
        }
    }
    for (key, list) in [
        ("allowed_origins", &o.allowed_origins),
        ("allowed_hosts", &o.allowed_hosts),
        ("trusted_proxies", &o.trusted_proxies),
    ] {
        if !list.is_empty() {
            insert(table, key, strings(list));
        }
    }
}

/// Reads the TOML file layer.
///
/// # Errors
/// Unreadable or invalid file.
pub fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: shown.clone(), cause: e.to_string() })?;
    text.parse::<Table>().map_err(|e| ConfigError::File { path: shown, cause: e.to_string() })
}

/// Loads settings from all layers.
///
/// # Errors
/// Any [`ConfigError`].
pub fn load(
    config_file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Settings, ConfigError> {
    let mut table = Table::new();
    if let Some(path) = config_file {
        table = read_file(path)?;
        // Check the file on its own first, so its errors name the file.
        Value::Table(table.clone())
            .try_into::<RawSettings>()
            .map_err(|e| ConfigError::File { path: path.display().to_string(), cause: e.to_string() })?;
    }
    apply_env(&mut table, env)?;
    apply_overrides(&mut table, overrides);
    let raw: RawSettings =
        Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Shape(e.to_string()))?;
    Ok(raw.validate()?)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use latchkey::settings::{Preset, SameSite};

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        let s = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(s.preset, Preset::Embedded);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
    }

    #[test]
    fn later_layers_win_file_then_env_then_flags() {
        let f = file("preset = \"rest\"\nbind = \"127.0.0.1:9000\"\n[session.cookie]\nsamesite = \"Lax\"\nage = 60\n");
        let s = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap();
        assert_eq!((s.preset, s.bind.port(), s.session.cookie.same_site), (Preset::Rest, 9000, SameSite::Lax));
        let e = env(&[("LATCHKEY_BIND", "127.0.0.1:9001"), ("LATCHKEY_SESSION__COOKIE__SAMESITE", "Strict")]);
        let s = load(Some(f.path()), e.clone(), &Overrides::default()).unwrap();
        assert_eq!((s.bind.port(), s.session.cookie.same_site), (9001, SameSite::Strict));
        assert_eq!(s.session.age.as_secs(), 60, "untouched file values survive");
        let o =
            Overrides { bind: Some("127.0.0.1:9002".into()), preset: Some("same-origin".into()), ..Default::default() };
        let s = load(Some(f.path()), e, &o).unwrap();
        assert_eq!((s.bind.port(), s.preset), (9002, Preset::SameOrigin));
    }

    #[test]
    fn env_values_are_typed_by_the_settings_table() {
        let e = env(&[
            ("LATCHKEY_PRESET", "cross-origin"),
            ("LATCHKEY_ALLOWED_ORIGINS", "http://localhost:5173, http://localhost:3000"),
            ("LATCHKEY_CSRF__COOKIE__HTTPONLY", "false"),
            ("LATCHKEY_PASSWORD_HASHER__MEMORY_KIB", "64"),
            ("LATCHKEY_SECRET_KEY", "12345678901234567890"),
            ("LATCHKEY_PASSWORD", "not a setting"),
        ]);
        let s = load(None, e, &Overrides::default()).unwrap();
        assert_eq!(s.allowed_origins.len(), 2);
        assert!(!s.csrf.cookie.http_only);
        assert_eq!(s.password_hasher.memory_kib, 64);
        assert!(s.secret_key.is_some(), "a numeric-looking secret stays a string");
    }

    #[test]
    fn unknown_or_mistyped_env_vars_are_reported_by_name() {
        let err = load(None, env(&[("LATCHKEY_SESION__COOKIE__AGE", "1")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("LATCHKEY_SESION__COOKIE__AGE"), "{err}");
        let err = load(None, env(&[("LATCHKEY_SESSION__COOKIE__AGE", "soon")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_reported_with_the_file_name() {
        let f = file("[session.cookie]\nsamesight = \"Lax\"\n");
        let err = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("samesight") && msg.contains(&f.path().display().to_string()), "{msg}");
    }

    #[test]
    fn flag_lists_replace_env_lists() {
        let o = Overrides { allowed_origins: vec!["http://a.test".into()], ..Default::default() };
        let s = load(None, env(&[("LATCHKEY_ALLOWED_ORIGINS", "http://b.test,http://c.test")]), &o).unwrap();
        assert_eq!(s.allowed_origins.len(), 1);
    }

    #[test]
    fn every_documented_setting_can_be_set_from_the_environment() {
        for doc in SETTINGS {
            let var = format!("LATCHKEY_{}", doc.key.replace('.', "__").to_ascii_uppercase());
            let mut t = Table::new();
            let value = match doc.kind {
                Kind::Bool => "true",
                Kind::Integer => "1",
                Kind::Float => "0.5",
                _ => "x",
            };
            apply_env(&mut t, env(&[(&var, value)])).unwrap_or_else(|e| panic!("{var}: {e}"));
        }
    }
}

#[cfg(test)]
mod docs_tests {
    use latchkey::settings::SETTINGS;

    #[test]
    fn every_setting_and_its_default_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md")).unwrap();
        for s in SETTINGS {
            let row = doc.lines().find(|l| l.starts_with(&format!("| `{}` |", s.key)));
            let row = row.unwrap_or_else(|| panic!("docs/configuration.md lacks {}", s.key));
            assert!(row.contains(s.default), "docs/configuration.md: default of {} should read {:?}", s.key, s.default);
        }
    }
}
