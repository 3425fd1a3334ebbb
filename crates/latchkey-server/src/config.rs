//! Layered configuration: built-in defaults, then a TOML file (`--config` or
//! `LATCHKEY_CONFIG`), then `LATCHKEY_*` environment variables (`__` for
//! nesting: `LATCHKEY_SESSION__COOKIE__SAMESITE=Lax`), then command-line
//! flags. Later layers win. The merged tree is one tree for the operator;
//! the server's own keys ([`SERVER_SETTINGS`]: where to listen, the SPA,
//! transport limits) are taken out of it and the rest is validated into
//! [`latchkey::Settings`], both before anything starts.

use std::{net::SocketAddr, path::Path, time::Duration};

use latchkey::settings::{DefaultValue, Kind, RawSettings, SETTINGS, SettingDoc, Settings, SettingsError};
use serde::Deserialize;
use toml::{Table, Value};

/// Default listen address.
pub const BIND: &str = "127.0.0.1:8000";
/// Default time a client has to send its request head, seconds.
pub const HEADER_READ_TIMEOUT: u64 = 10;
/// Default cap on open connections.
pub const MAX_CONNECTIONS: usize = 1024;
/// Default cap on one client's open connections.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 256;
/// Default time a connection may stay open without a request in flight, seconds.
pub const KEEP_ALIVE_TIMEOUT: u64 = 15;

/// The server's own settings, documented like the library's.
pub const SERVER_SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        key: "bind",
        kind: Kind::String,
        default: DefaultValue::Str(BIND, ""),
        doc: "Address and port `serve` listens on.",
    },
    SettingDoc {
        key: "limits.header_read_timeout",
        kind: Kind::Integer,
        default: DefaultValue::Int(HEADER_READ_TIMEOUT, ""),
        doc: "Seconds a new connection has, from its accept, to deliver a complete request head (HTTP/1.1, or the HTTP/2 preface, SETTINGS and first HEADERS), and an HTTP/1.1 client to send each later request head from its first byte; then the connection is closed (stops silent sockets and slowloris).",
    },
    SettingDoc {
        key: "limits.max_connections",
        kind: Kind::Integer,
        default: DefaultValue::Int(MAX_CONNECTIONS as u64, ""),
        doc: "Open connections at most. When all are taken, the connection idle for longest is closed to make room; a new connection is refused only when every one has a request in flight.",
    },
    SettingDoc {
        key: "limits.max_connections_per_client",
        kind: Kind::Integer,
        default: DefaultValue::Int(MAX_CONNECTIONS_PER_CLIENT as u64, ""),
        doc: "Open connections at most per client address (IPv6: per /64); further ones are closed at once. Addresses in trusted_proxies are exempt (behind a proxy every connection comes from it).",
    },
    SettingDoc {
        key: "limits.keep_alive_timeout",
        kind: Kind::Integer,
        default: DefaultValue::Int(KEEP_ALIVE_TIMEOUT, ""),
        doc: "Seconds a connection (HTTP/1.1 keep-alive or HTTP/2) may stay open with no request in flight; HTTP/2 peers are also pinged every half of this and dropped when they do not answer within limits.header_read_timeout.",
    },
    SettingDoc {
        key: "metrics.bind",
        kind: Kind::String,
        default: DefaultValue::Text("unset (no metrics listener)"),
        doc: "Address and port of a second listener that serves Prometheus metrics at /metrics (every name prefixed latchkey_); never the public port. Keep it private (a loopback or an internal address): it needs no credentials.",
    },
    SettingDoc {
        key: "spa.dir",
        kind: Kind::String,
        default: DefaultValue::Text("unset (the SPA embedded in the binary)"),
        doc: "Embedded preset: serve this SPA build folder from disk instead (index.html fallback for client-side routes, hashed assets immutable). Flag: --spa-dir.",
    },
    SettingDoc {
        key: "spa.csp",
        kind: Kind::String,
        default: DefaultValue::Text("auto"),
        doc: "Content-Security-Policy of SPA pages. auto: strict for the embedded SPA; for spa.dir also allows https: styles, images and fonts (CDN Bootstrap) and hashes inline scripts (Create React App). Empty: no header.",
    },
];

/// Every setting: the library's and the server's.
pub fn all_settings() -> impl Iterator<Item = &'static SettingDoc> {
    SETTINGS.iter().chain(SERVER_SETTINGS)
}

/// How the embedded preset serves the SPA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaSettings {
    /// Serve this build folder from disk instead of the SPA embedded in the binary.
    pub dir: Option<std::path::PathBuf>,
    /// `Content-Security-Policy` for SPA pages; `None` picks the default for
    /// the source (strict for the embedded SPA, CDN-friendly for `dir`),
    /// `Some("")` sends none.
    pub csp: Option<String>,
}

/// What only a server needs: where to listen, the SPA, and the transport
/// limits hyper enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// SPA serving (embedded preset).
    pub spa: SpaSettings,
    /// A client must finish sending its request headers within this.
    pub header_read_timeout: Duration,
    /// Open connections at most; the idlest is closed to make room.
    pub max_connections: usize,
    /// Open connections at most per client address.
    pub max_connections_per_client: usize,
    /// Longest a connection stays open with no request in flight.
    pub keep_alive_timeout: Duration,
    /// Where `/metrics` is served, if anywhere (never the public port).
    pub metrics_bind: Option<SocketAddr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        RawServer::default().validate().expect("the defaults are valid")
    }
}

/// The whole configuration: the library's settings and the server's.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the `latchkey` library reads.
    pub latchkey: Settings,
    /// What only the server reads.
    pub server: ServerSettings,
}

/// `[spa]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSpa {
    dir: Option<String>,
    csp: Option<String>,
}

/// The server's part of `[limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawServerLimits {
    header_read_timeout: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_client: Option<usize>,
    keep_alive_timeout: Option<u64>,
}

/// `[metrics]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawMetrics {
    bind: Option<String>,
}

/// The server's keys as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawServer {
    bind: Option<String>,
    spa: RawSpa,
    limits: RawServerLimits,
    metrics: RawMetrics,
}

impl RawServer {
    fn validate(self) -> Result<ServerSettings, SettingsError> {
        let bind_str = self.bind.as_deref().unwrap_or(BIND);
        let bind: SocketAddr = bind_str.parse().map_err(|_| {
            SettingsError::invalid("bind", format!("{bind_str:?} is not an address such as 127.0.0.1:8000"))
        })?;
        let metrics_bind = match self.metrics.bind.as_deref().filter(|b| !b.is_empty()) {
            None => None,
            Some(m) => {
                let addr: SocketAddr = m.parse().map_err(|_| {
                    SettingsError::invalid("metrics.bind", format!("{m:?} is not an address such as 127.0.0.1:9100"))
                })?;
                if addr.port() != 0 && addr.port() == bind.port() {
                    return Err(SettingsError::invalid(
                        "metrics.bind",
                        format!("{m} is the public port ({bind}): metrics need a listener of their own"),
                    ));
                }
                Some(addr)
            }
        };
        Ok(ServerSettings {
            bind,
            metrics_bind,
            spa: SpaSettings {
                dir: self.spa.dir.filter(|d| !d.is_empty()).map(std::path::PathBuf::from),
                csp: self.spa.csp.filter(|c| c != "auto"),
            },
            header_read_timeout: Duration::from_secs(
                self.limits.header_read_timeout.unwrap_or(HEADER_READ_TIMEOUT).max(1),
            ),
            max_connections: self.limits.max_connections.unwrap_or(MAX_CONNECTIONS).max(1),
            max_connections_per_client: self
                .limits
                .max_connections_per_client
                .unwrap_or(MAX_CONNECTIONS_PER_CLIENT)
                .max(1),
            keep_alive_timeout: Duration::from_secs(
                self.limits.keep_alive_timeout.unwrap_or(KEEP_ALIVE_TIMEOUT).max(1),
            ),
        })
    }
}

/// Moves the server's keys (see [`SERVER_SETTINGS`]) out of `table` into a
/// table of their own: `bind`, the whole `[spa]` section, and the transport
/// keys of `[limits]`.
fn split_server(table: &mut Table) -> Table {
    let mut server = Table::new();
    for key in ["bind", "spa", "metrics"] {
        if let Some(v) = table.remove(key) {
            server.insert(key.into(), v);
        }
    }
    if let Some(Value::Table(limits)) = table.get_mut("limits") {
        let mut mine = Table::new();
        for key in ["header_read_timeout", "max_connections", "max_connections_per_client", "keep_alive_timeout"] {
            if let Some(v) = limits.remove(key) {
                mine.insert(key.into(), v);
            }
        }
        if !mine.is_empty() {
            server.insert("limits".into(), Value::Table(mine));
        }
    }
    server
}

impl Config {
    /// Settings for tests: the library's from `raw`, the server listening
    /// on a free port of 127.0.0.1.
    ///
    /// # Errors
    /// When `raw` does not validate.
    pub fn for_tests(raw: RawSettings) -> Result<Self, SettingsError> {
        let server = ServerSettings { bind: SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerSettings::default() };
        Ok(Self { latchkey: raw.validate_serving_on(Some(server.bind))?, server })
    }
}

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

/// Settings only the TOML file can give: a list of tables has no
/// environment form.
pub const FILE_ONLY: &[&str] = &["oidc.providers"];

/// Merges the environment layer into `table`.
///
/// # Errors
/// Unknown `LATCHKEY_*` variables, file-only settings and values of the
/// wrong kind.
pub fn apply_env(table: &mut Table, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("LATCHKEY_")).collect();
    vars.sort();
    for (var, value) in vars {
        let name = &var["LATCHKEY_".len()..];
        if NOT_SETTINGS.contains(&name) {
            continue;
        }
        let key = name.to_ascii_lowercase().replace("__", ".");
        let doc = all_settings().find(|s| s.key == key).ok_or_else(|| ConfigError::UnknownEnv(var.clone()))?;
        if FILE_ONLY.contains(&doc.key) {
            return Err(ConfigError::BadEnv {
                var,
                cause: "providers are [[oidc.providers]] tables in the config file (see docs/oidc.md)".into(),
            });
        }
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

/// Parses a merged tree into the library's and the server's raw settings.
fn parse(mut table: Table) -> Result<(RawSettings, RawServer), toml::de::Error> {
    let server = split_server(&mut table);
    Ok((Value::Table(table).try_into()?, Value::Table(server).try_into()?))
}

/// Loads settings from all layers.
///
/// # Errors
/// Any [`ConfigError`].
pub fn load(
    config_file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut table = Table::new();
    if let Some(path) = config_file {
        table = read_file(path)?;
        // Check the file on its own first, so its errors name the file.
        parse(table.clone())
            .map_err(|e| ConfigError::File { path: path.display().to_string(), cause: e.to_string() })?;
    }
    apply_env(&mut table, env)?;
    apply_overrides(&mut table, overrides);
    let (raw, server) = parse(table).map_err(|e| ConfigError::Shape(e.to_string()))?;
    let server = server.validate()?;
    Ok(Config { latchkey: raw.validate_serving_on(Some(server.bind))?, server })
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
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.latchkey.preset, Preset::Embedded);
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.latchkey.allowed_hosts, vec!["localhost", "127.0.0.1", "[::1]"]);
    }

    #[test]
    fn later_layers_win_file_then_env_then_flags() {
        let f = file("preset = \"rest\"\nbind = \"127.0.0.1:9000\"\n[session.cookie]\nsamesite = \"Lax\"\nage = 60\n");
        let c = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap();
        let s = &c.latchkey;
        assert_eq!((s.preset, c.server.bind.port(), s.session.cookie.same_site), (Preset::Rest, 9000, SameSite::Lax));
        let e = env(&[("LATCHKEY_BIND", "127.0.0.1:9001"), ("LATCHKEY_SESSION__COOKIE__SAMESITE", "Strict")]);
        let c = load(Some(f.path()), e.clone(), &Overrides::default()).unwrap();
        assert_eq!((c.server.bind.port(), c.latchkey.session.cookie.same_site), (9001, SameSite::Strict));
        assert_eq!(c.latchkey.session.age.as_secs(), 60, "untouched file values survive");
        let o =
            Overrides { bind: Some("127.0.0.1:9002".into()), preset: Some("same-origin".into()), ..Default::default() };
        let c = load(Some(f.path()), e, &o).unwrap();
        assert_eq!((c.server.bind.port(), c.latchkey.preset), (9002, Preset::SameOrigin));
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
        let s = load(None, e, &Overrides::default()).unwrap().latchkey;
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
        let s = load(None, env(&[("LATCHKEY_ALLOWED_ORIGINS", "http://b.test,http://c.test")]), &o).unwrap().latchkey;
        assert_eq!(s.allowed_origins.len(), 1);
    }

    #[test]
    fn the_servers_keys_are_read_by_the_server_and_the_rest_by_the_library() {
        let f = file(
            "bind = \"127.0.0.1:9100\"\n[limits]\nmax_body_bytes = 1000\nheader_read_timeout = 3\nmax_connections = 7\n\
             [spa]\ndir = \"/srv/spa\"\ncsp = \"\"\n",
        );
        let c = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.latchkey.max_body_bytes, 1000);
        assert_eq!(
            c.server,
            ServerSettings {
                bind: "127.0.0.1:9100".parse().unwrap(),
                spa: SpaSettings { dir: Some("/srv/spa".into()), csp: Some(String::new()) },
                header_read_timeout: Duration::from_secs(3),
                max_connections: 7,
                ..ServerSettings::default()
            }
        );
        let e = env(&[("LATCHKEY_LIMITS__MAX_CONNECTIONS", "9"), ("LATCHKEY_SPA__CSP", "auto")]);
        let c = load(None, e, &Overrides::default()).unwrap();
        assert_eq!((c.server.max_connections, c.server.spa.csp.clone()), (9, None));
        let err = load(Some(file("[spa]\ndirr = \"x\"\n").path()), env(&[]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("dirr"), "{err}");
    }

    #[test]
    fn metrics_are_off_by_default_and_never_on_the_public_port() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.server.metrics_bind, None);
        let c = load(None, env(&[("LATCHKEY_METRICS__BIND", "127.0.0.1:9100")]), &Overrides::default()).unwrap();
        assert_eq!(c.server.metrics_bind, Some("127.0.0.1:9100".parse().unwrap()));
        let c = load(Some(file("[metrics]\nbind = \"10.0.0.5:9100\"\n").path()), env(&[]), &Overrides::default());
        assert_eq!(c.unwrap().server.metrics_bind, Some("10.0.0.5:9100".parse().unwrap()));
        for (value, says) in [("127.0.0.1:8000", "public port"), ("nine", "not an address")] {
            let err = load(None, env(&[("LATCHKEY_METRICS__BIND", value)]), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("metrics.bind") && err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn a_bad_bind_address_names_the_setting() {
        let o = Overrides { bind: Some("localhost".into()), ..Default::default() };
        let err = load(None, env(&[]), &o).unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid(e) if e.key == "bind"), "{err}");
    }

    #[test]
    fn binding_every_interface_requires_allowed_hosts_and_the_bind_host_is_allowed() {
        let o = Overrides { bind: Some("0.0.0.0:8000".into()), ..Default::default() };
        let err = load(None, env(&[]), &o).unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid(e) if e.key == "allowed_hosts"), "{err}");
        let o = Overrides { bind: Some("10.1.2.3:8000".into()), ..Default::default() };
        let c = load(None, env(&[]), &o).unwrap();
        assert!(c.latchkey.allowed_hosts.contains(&"10.1.2.3".to_owned()));
    }

    #[test]
    fn every_documented_setting_can_be_set_from_the_environment_except_the_file_only_ones() {
        for key in FILE_ONLY {
            let var = format!("LATCHKEY_{}", key.replace('.', "__").to_ascii_uppercase());
            let e = apply_env(&mut Table::new(), env(&[(&var, "x")])).unwrap_err();
            assert!(e.to_string().contains("in the config file"), "{e}");
        }
        for doc in all_settings().filter(|d| !FILE_ONLY.contains(&d.key)) {
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
    use super::all_settings;

    /// The table in docs/configuration.md is the settings list rendered: the
    /// defaults there are the constants the code uses.
    #[test]
    fn the_docs_table_is_the_settings_list_rendered() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md")).unwrap();
        let table: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        for s in all_settings() {
            let row = s.table_row();
            assert!(table.contains(&row.as_str()), "docs/configuration.md should have the row\n{row}");
        }
        assert_eq!(
            table.len(),
            all_settings().count(),
            "docs/configuration.md documents a setting that does not exist"
        );
    }
}
