//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Overrides;

/// Session-cookie authentication for single-page apps.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (also LATCHKEY_CONFIG).
    #[arg(long, global = true, env = "LATCHKEY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL, e.g. sqlite://latchkey.sqlite3 (overrides LATCHKEY_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log level or filter when RUST_LOG is unset (default: info for serve, warn otherwise).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags shared by `serve` and `check`.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Deployment preset: embedded, same-origin, rest or cross-origin.
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<String>,
    /// Listen address [default: 127.0.0.1:8000].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Origin trusted by the CSRF Origin check; in cross-origin also allowed by CORS (repeatable).
    #[arg(long = "allowed-origin", value_name = "URL")]
    pub allowed_origins: Vec<String>,
    /// Accepted Host header value (repeatable).
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// The origin users see, e.g. `https://app.example.com`.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Reverse proxy whose X-Forwarded-* headers are believed (IP or CIDR, repeatable).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<String>,
    /// Embedded preset: serve this SPA build folder instead of the embedded SPA.
    #[arg(long, value_name = "DIR")]
    pub spa_dir: Option<String>,
    /// Keep sessions and throttle counters in Redis (redis://host:port/db).
    #[arg(long = "session-store", value_name = "URL")]
    pub session_store: Option<String>,
}

impl ServeArgs {
    /// These flags as a configuration layer.
    pub fn overrides(&self, database: Option<String>) -> Overrides {
        Overrides {
            preset: self.preset.clone(),
            bind: self.bind.clone(),
            database_url: database,
            public_url: self.public_url.clone(),
            allowed_origins: self.allowed_origins.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            spa_dir: self.spa_dir.clone(),
            session_store_url: self.session_store.clone(),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema (idempotent).
    Migrate,
    /// Create a superuser (interactive, or --no-input with LATCHKEY_PASSWORD).
    Createsuperuser {
        /// Username.
        #[arg(long)]
        username: Option<String>,
        /// Email address (optional).
        #[arg(long)]
        email: Option<String>,
        /// Do not prompt; the password comes from LATCHKEY_PASSWORD.
        #[arg(long)]
        no_input: bool,
        /// Accept a password the validators refuse (too short, common, …).
        #[arg(long)]
        allow_weak_password: bool,
    },
    /// Change a user's password and end all of their sessions.
    Changepassword {
        /// The user.
        username: String,
        /// Do not prompt; the password comes from LATCHKEY_PASSWORD.
        #[arg(long)]
        no_input: bool,
        /// Accept a password the validators refuse (too short, common, …).
        #[arg(long)]
        allow_weak_password: bool,
    },
    /// Delete expired sessions and print how many.
    Clearsessions,
    /// Deactivate a user: they cannot log in, and all their sessions end now.
    Deactivate {
        /// The user.
        username: String,
    },
    /// Reactivate a deactivated user.
    Activate {
        /// The user.
        username: String,
    },
    /// List recent audit events (logins, failures, throttling, CSRF rejections, …).
    Events {
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only events of this (submitted) username.
        #[arg(long)]
        username: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// The outbox: mail (and reset requests) waiting, sent or failed; retry failed ones.
    Outbox {
        /// Only the jobs given up after their last attempt.
        #[arg(long)]
        failed: bool,
        /// Queue this failed job again.
        #[arg(long, conflicts_with_all = ["all", "failed"])]
        retry: Option<i64>,
        /// Queue every failed job again.
        #[arg(long, conflicts_with = "failed")]
        all: bool,
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Users: list and search them, change their flags (the admin's rules:
    /// one active superuser always remains).
    Users {
        /// What to do.
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Bring a Django project's users over: usernames, addresses, names,
    /// flags, dates and password hashes as they are (the first sign-in
    /// re-hashes). Django's sessions do not come over.
    ImportDjango {
        /// Django's database: sqlite:///path/db.sqlite3 or postgres://…
        #[arg(long = "from", value_name = "URL")]
        from: String,
        /// Say what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Overwrite users whose username exists already (default: skip them).
        #[arg(long)]
        update: bool,
    },
    /// Second factors: remove a user's (a lost device).
    Mfa {
        /// What to do.
        #[command(subcommand)]
        action: MfaAction,
    },
    /// A user's sessions: list them, end one or all.
    Sessions {
        /// What to do.
        #[command(subcommand)]
        action: SessionsAction,
    },
    /// Failed-login throttling: operator actions.
    Throttle {
        /// What to do.
        #[command(subcommand)]
        action: ThrottleAction,
    },
    /// Validate the configuration and print what the preset implies.
    Check {
        /// Same flags as serve.
        #[command(flatten)]
        args: ServeArgs,
        /// Also report settings that are unsafe in production (non-zero exit on errors).
        #[arg(long)]
        deploy: bool,
        /// Also reach each sign-in provider: its discovery and keys, whether
        /// its token endpoint accepts this site's client id and secret, and
        /// whether it accepts the redirect URI (non-zero exit when one
        /// cannot be used).
        #[arg(long)]
        providers: bool,
    },
    /// Print the API's OpenAPI 3.1 document (as GET /api/openapi.json serves it).
    Openapi {
        /// Same flags as serve (the preset and cookie names shape the document).
        #[command(flatten)]
        args: ServeArgs,
    },
}

/// `latchkey users …`.
#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// List users, newest first (at most --limit; the total is printed).
    List {
        /// Only users whose username or address contains this (any case).
        #[arg(long)]
        search: Option<String>,
        /// Only staff users.
        #[arg(long)]
        staff: bool,
        /// Only inactive users.
        #[arg(long)]
        inactive: bool,
        /// How many, at most 100.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's flags; deactivating ends their sessions everywhere.
    Set {
        /// The user.
        username: String,
        /// Make staff (admin access).
        #[arg(long, overrides_with = "no_staff")]
        staff: bool,
        /// Remove staff.
        #[arg(long)]
        no_staff: bool,
        /// Make superuser.
        #[arg(long, overrides_with = "no_superuser")]
        superuser: bool,
        /// Remove superuser.
        #[arg(long)]
        no_superuser: bool,
        /// Activate.
        #[arg(long, overrides_with = "inactive")]
        active: bool,
        /// Deactivate (ends every session of the user).
        #[arg(long)]
        inactive: bool,
    },
}

/// `latchkey mfa …`.
#[derive(Debug, Subcommand)]
pub enum MfaAction {
    /// Remove every second factor of a user and end their sessions: they
    /// sign in with their password and can set up a new app.
    Reset {
        /// The user.
        username: String,
    },
}

/// `latchkey sessions …`.
#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// List a user's live sessions, newest first (the ids are the ones the
    /// user sees on their account page).
    List {
        /// The user.
        username: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// End one session of a user (by id, from `sessions list`), or all of them.
    Revoke {
        /// The user.
        username: String,
        /// The session's id.
        #[arg(conflicts_with = "all")]
        id: Option<String>,
        /// End every session of the user.
        #[arg(long)]
        all: bool,
    },
}

/// `latchkey throttle …`.
#[derive(Debug, Subcommand)]
pub enum ThrottleAction {
    /// Forget failed-login counters: of one account, one client address, or all.
    Reset {
        /// The account whose counters to clear (from every address).
        #[arg(long, conflicts_with_all = ["ip", "all"])]
        username: Option<String>,
        /// The client address whose counters to clear (IPv6: its /64).
        #[arg(long, conflicts_with = "all")]
        ip: Option<std::net::IpAddr>,
        /// Clear every counter.
        #[arg(long)]
        all: bool,
    },
}
