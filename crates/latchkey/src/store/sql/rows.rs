//! Decoding stored rows into records, once for every SQL backend: SQLite
//! and PostgreSQL store the same columns (times as Unix seconds, session
//! data as JSON text), so one generic decoder per record type serves both.

use serde_json::{Map, Value};
use sqlx::{ColumnIndex, Decode, Row, Type};
use time::OffsetDateTime;

pub(crate) use crate::store::{from_ts, ts};
use crate::{
    audit::AuditEvent,
    error::StoreError,
    session::{SessionKeyHash, SessionRecord},
    users::{User, UserStoreError},
};

/// Session data as stored: JSON text.
pub(crate) fn data_json(record: &SessionRecord) -> String {
    Value::Object(record.data.clone()).to_string()
}

/// A row of `latchkey_sessions`.
pub(crate) fn session<'r, R>(row: &'r R) -> Result<SessionRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let data: String = row.try_get("data")?;
    let data: Map<String, Value> = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(SessionRecord {
        key_hash: SessionKeyHash(row.try_get("key_hash")?),
        user_id: row.try_get("user_id")?,
        auth_hash: row.try_get("auth_hash")?,
        data,
        created_at: from_ts(row.try_get("created_at")?)?,
        last_seen: from_ts(row.try_get("last_seen")?)?,
        expires_at: from_ts(row.try_get("expires_at")?)?,
        absolute_expires_at: from_ts(row.try_get("absolute_expires_at")?)?,
        idle_timeout: match row.try_get::<i64, _>("idle_timeout")? {
            0 => None,
            s => Some(time::Duration::seconds(s)),
        },
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        authenticated_at: row.try_get::<Option<i64>, _>("authenticated_at")?.map(from_ts).transpose()?,
        remember: row.try_get("remember")?,
    })
}

/// A row of `latchkey_users`.
pub(crate) fn user<'r, R>(row: &'r R) -> Result<User, UserStoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let when = |s: i64| OffsetDateTime::from_unix_timestamp(s).map_err(|e| UserStoreError::Backend(e.to_string()));
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password")?,
        is_active: row.try_get("is_active")?,
        is_staff: row.try_get("is_staff")?,
        is_superuser: row.try_get("is_superuser")?,
        last_login: row.try_get::<Option<i64>, _>("last_login")?.map(when).transpose()?,
        date_joined: when(row.try_get("date_joined")?)?,
    })
}

/// A row of `latchkey_auth_events`.
pub(crate) fn audit_event<'r, R>(row: &'r R) -> Result<AuditEvent, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(AuditEvent {
        at: from_ts(row.try_get("at")?)?,
        event: row.try_get("event")?,
        username: row.try_get("username")?,
        user_id: row.try_get("user_id")?,
        client_ip: row.try_get("client_ip")?,
        detail: row.try_get("detail")?,
        count: u32::try_from(row.try_get::<i64, _>("count")?).unwrap_or(u32::MAX),
    })
}
