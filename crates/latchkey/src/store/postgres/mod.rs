//! PostgreSQL: several instances sharing one database. Every store kind on
//! one pool (the statements are shared with SQLite, `store/sql/`), the DDL,
//! the migration lock, and the cache bus (`bus.rs`, LISTEN/NOTIFY).

mod bus;

use std::{str::FromStr, time::Duration};

pub use bus::PgBus;
use sqlx::{
    PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    DbError, open_error,
    sql::{ListQuery, Migration, lists::UserSearch, sql_database, sql_stores},
};

/// Embedded migrations, in order: every file of `migrations/postgres/`, found by
/// `build.rs`.
const MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/migrations_postgres.rs"));

/// User search: `lower(x) LIKE`, served by pg_trgm's indexes (migration 5).
const USER_SEARCH: UserSearch = UserSearch::Trigram;

/// Under READ COMMITTED, two transactions demoting the last two
/// superusers would each see the other still there: they take this lock
/// first, so the second sees the first's write.
const LOCK_SUPERUSERS: Option<&str> = Some("SELECT pg_advisory_xact_lock(7812464926838321781)");

/// How many sessions there are, beyond the exact count: the planner's
/// estimate, kept by autovacuum (no scan).
const SESSIONS_ESTIMATE: &str =
    "SELECT greatest(reltuples, 0)::BIGINT FROM pg_class WHERE oid = 'latchkey_sessions'::regclass";

/// A user's live sessions, one row each: see [`ListQuery`].
const LIST_USER_SESSIONS: ListQuery = ListQuery::Rows(
    "SELECT * FROM latchkey_sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, key_hash",
);

/// Claims due outbox rows (`$1` now, `$2` the lease's end, `$3` how many).
/// `SKIP LOCKED`: instances claiming at once take different rows, and none waits.
const CLAIM_OUTBOX: &str = "UPDATE latchkey_outbox SET claimed_until = $2, attempts = attempts + 1
  WHERE id IN (SELECT id FROM latchkey_outbox
               WHERE done_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND claimed_until <= $1
               ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
  RETURNING *";

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";
const MIGRATIONS_TABLE_EXISTS: &str = "SELECT to_regclass('latchkey_migrations') IS NOT NULL";
const BEGIN_MIGRATION: &str = "BEGIN";

/// Key of the advisory lock that serialises `migrate` across instances.
const MIGRATE_LOCK: i64 = 0x6c61_7463_686b_6579; // "latchkey"

// One connection holds a session advisory lock for the whole run, so
// instances starting together migrate one after the other.
async fn lock_migrations(conn: &mut PgConnection) -> Result<(), DbError> {
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATE_LOCK).execute(conn).await?;
    Ok(())
}

async fn unlock_migrations(conn: &mut PgConnection) {
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATE_LOCK).execute(conn).await;
}

/// Users, sessions, throttle counters and audit events in one PostgreSQL
/// database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

sql_stores!(PgStore, sqlx::Postgres);
sql_database!(PgStore, PgPool);

impl PgStore {
    /// Opens `url`. Pools give up on a connection after two seconds, so an
    /// outage turns into quick 503s instead of hung requests.
    pub(crate) async fn connect(url: &str, create: bool) -> Result<Self, DbError> {
        let opts = PgConnectOptions::from_str(url).map_err(|e| open_error(url, e, create))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(2))
            .idle_timeout(Duration::from_secs(300))
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .map_err(|e| open_error(url, e, create))?;
        Ok(Self { pool })
    }
}
