//! SQLite: the embedded default. Every store kind on one pool (the
//! statements are shared with PostgreSQL, `store/sql/`), the DDL, and the
//! cache bus (`bus.rs`).

mod bus;

use std::{str::FromStr, time::Duration};

pub use bus::SqliteBus;
use sqlx::{
    SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    DbError, open_error,
    sql::{ListQuery, Migration, lists::UserSearch, sql_database, sql_stores},
};

/// Embedded migrations, in order: every file of `migrations/sqlite/`, found by
/// `build.rs`.
const MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/migrations_sqlite.rs"));

/// User search: the FTS5 trigram table of migration 7.
const USER_SEARCH: UserSearch = UserSearch::Fts5;

/// SQLite runs one writer at a time: the guarded update is atomic as it is.
const LOCK_SUPERUSERS: Option<&str> = None;

/// How many sessions there are, beyond the exact count: SQLite counts a
/// whole table from its smallest index without reading rows.
const SESSIONS_ESTIMATE: &str = "SELECT count(*) FROM latchkey_sessions";

/// A user's live sessions as one JSON array: see [`ListQuery`].
const LIST_USER_SESSIONS: ListQuery = ListQuery::JsonArray(
    "SELECT coalesce(json_group_array(json_object(
    'key_hash', key_hash, 'user_id', user_id, 'auth_hash', auth_hash, 'data', data, 'created_at', created_at,
    'last_seen', last_seen, 'expires_at', expires_at, 'absolute_expires_at', absolute_expires_at,
    'idle_timeout', idle_timeout, 'ip', ip, 'user_agent', user_agent, 'authenticated_at', authenticated_at,
    'remember', remember)), '[]')
  FROM (SELECT * FROM latchkey_sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, key_hash)",
);

/// Claims due outbox rows (`$1` now, `$2` the lease's end, `$3` how many).
/// SQLite runs one writer at a time, so the statement is atomic as it is.
const CLAIM_OUTBOX: &str = "UPDATE latchkey_outbox SET claimed_until = $2, attempts = attempts + 1
  WHERE id IN (SELECT id FROM latchkey_outbox
               WHERE done_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND claimed_until <= $1
               ORDER BY id LIMIT $3)
  RETURNING *";

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)";
const MIGRATIONS_TABLE_EXISTS: &str =
    "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'latchkey_migrations'";
// BEGIN IMMEDIATE takes the write lock up front: two `migrate` runs at once
// serialise here and the second sees the first's work.
const BEGIN_MIGRATION: &str = "BEGIN IMMEDIATE";

async fn lock_migrations(_: &mut SqliteConnection) -> Result<(), DbError> {
    Ok(())
}

async fn unlock_migrations(_: &mut SqliteConnection) {}

/// Users, sessions, throttle counters and audit events in one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

sql_stores!(SqliteStore, sqlx::Sqlite);
sql_database!(SqliteStore, SqlitePool);

impl SqliteStore {
    /// Opens `url`. With `create`, a missing file is created.
    pub(crate) async fn connect(url: &str, create: bool) -> Result<Self, DbError> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| open_error(url, e, create))?
            .create_if_missing(create)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let opts = if memory {
            opts
        } else {
            // WAL lets readers proceed while one writer commits; NORMAL
            // sync is durable against process crashes in WAL mode.
            opts.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
        };
        // An in-memory database exists once per connection: keep exactly
        // one, forever, so every query sees the same data.
        let pool = if memory {
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        }
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .map_err(|e| open_error(url, e, create))?;
        Ok(Self { pool })
    }
}
