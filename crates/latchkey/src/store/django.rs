//! Reading another system's users: Django's `auth_user` table, from its
//! SQLite file (opened read-only) or its PostgreSQL database. Nothing is
//! written there; `latchkey import-django` checks the rows and writes them
//! to Latchkey's own store.

use time::OffsetDateTime;

use super::{DbError, open_error};
use crate::users::import::DjangoRow;

// Times come out as Unix seconds, whatever the dialect stores: Django's
// SQLite backend writes UTC text ("2026-12-02 17:00:00.123456"), PostgreSQL
// a timestamptz.
#[cfg(feature = "sqlite")]
const SQLITE_USERS: &str = "SELECT username, email, first_name, last_name, password, is_active, is_staff, is_superuser,
        CAST(strftime('%s', last_login) AS INTEGER), CAST(strftime('%s', date_joined) AS INTEGER)
     FROM auth_user ORDER BY id";
#[cfg(feature = "postgres")]
const POSTGRES_USERS: &str =
    "SELECT username, email, first_name, last_name, password, is_active, is_staff, is_superuser,
        CAST(EXTRACT(EPOCH FROM last_login) AS BIGINT), CAST(EXTRACT(EPOCH FROM date_joined) AS BIGINT)
     FROM auth_user ORDER BY id";

type Row = (String, String, String, String, String, bool, bool, bool, Option<i64>, Option<i64>);

fn django_row(r: Row) -> Result<DjangoRow, DbError> {
    let (username, email, first_name, last_name, password, is_active, is_staff, is_superuser, last, joined) = r;
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).map_err(|e| DbError::Driver(format!("{username}: {e}")));
    Ok(DjangoRow {
        last_login: last.map(at).transpose()?,
        date_joined: at(joined.unwrap_or(0))?,
        username,
        email,
        first_name,
        last_name,
        password,
        is_active,
        is_staff,
        is_superuser,
    })
}

/// Every row of Django's `auth_user` at `url` (`sqlite:///path/db.sqlite3`
/// or `postgres://…`), in id order.
///
/// # Errors
/// [`DbError::Unsupported`] for another scheme, [`DbError::Open`] when the
/// database cannot be opened, [`DbError::Driver`] when it has no `auth_user`
/// table of Django's shape.
pub async fn read_django_users(url: &str) -> Result<Vec<DjangoRow>, DbError> {
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(|e| open_error(url, e, true))?
            .read_only(true)
            .create_if_missing(false);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| open_error(url, e, true))?;
        let rows: Result<Vec<Row>, _> = sqlx::query_as(SQLITE_USERS).fetch_all(&pool).await;
        pool.close().await;
        return rows.map_err(table_error)?.into_iter().map(django_row).collect();
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .map_err(|e| open_error(url, e, true))?;
        let rows: Result<Vec<Row>, _> = sqlx::query_as(POSTGRES_USERS).fetch_all(&pool).await;
        pool.close().await;
        return rows.map_err(table_error)?.into_iter().map(django_row).collect();
    }
    Err(DbError::Unsupported(crate::settings::redact_url(url)))
}

fn table_error(e: sqlx::Error) -> DbError {
    DbError::Driver(format!("cannot read Django's auth_user table ({e}); is this a Django project's database?"))
}
