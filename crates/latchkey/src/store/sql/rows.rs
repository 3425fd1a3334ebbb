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
    keys::{KeyPurpose, KeyRecord},
    mail::{Job, OutboxItem, OutboxState},
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

/// A `latchkey_sessions` row as the listing query aggregates it to JSON
/// (`LIST_USER_SESSIONS_JSON` of each backend, same keys on both).
#[derive(serde::Deserialize)]
struct JsonSession {
    key_hash: String,
    user_id: Option<i64>,
    auth_hash: String,
    data: String,
    created_at: i64,
    last_seen: i64,
    expires_at: i64,
    absolute_expires_at: i64,
    idle_timeout: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    authenticated_at: Option<i64>,
    /// SQLite stores 0/1, PostgreSQL a boolean.
    remember: Value,
}

/// The sessions of a listing query's JSON array, newest first.
pub(crate) fn sessions_from_json(json: &str) -> Result<Vec<SessionRecord>, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let rows: Vec<JsonSession> = serde_json::from_str(json).map_err(corrupt)?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            Ok(SessionRecord {
                key_hash: SessionKeyHash(r.key_hash),
                user_id: r.user_id,
                auth_hash: r.auth_hash,
                data: serde_json::from_str(&r.data).map_err(corrupt)?,
                created_at: from_ts(r.created_at)?,
                last_seen: from_ts(r.last_seen)?,
                expires_at: from_ts(r.expires_at)?,
                absolute_expires_at: from_ts(r.absolute_expires_at)?,
                idle_timeout: (r.idle_timeout != 0).then(|| time::Duration::seconds(r.idle_timeout)),
                ip: r.ip,
                user_agent: r.user_agent,
                authenticated_at: r.authenticated_at.map(from_ts).transpose()?,
                remember: match r.remember {
                    Value::Bool(b) => b,
                    Value::Number(n) => n.as_i64() != Some(0),
                    other => return Err(StoreError::Corrupt(format!("remember: {other}"))),
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Aggregates keep their input's order in practice, not by any guarantee.
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.key_hash.as_str().cmp(b.key_hash.as_str())));
    Ok(out)
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
        email_verified: row.try_get("email_verified")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        password_hash: row.try_get("password")?,
        is_active: row.try_get("is_active")?,
        is_staff: row.try_get("is_staff")?,
        is_superuser: row.try_get("is_superuser")?,
        last_login: row.try_get::<Option<i64>, _>("last_login")?.map(when).transpose()?,
        date_joined: when(row.try_get("date_joined")?)?,
    })
}

/// A row of `latchkey_keys`.
pub(crate) fn key<'r, R>(row: &'r R) -> Result<KeyRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let purpose: String = row.try_get("purpose")?;
    Ok(KeyRecord {
        key_hash: row.try_get("key_hash")?,
        purpose: KeyPurpose::parse(&purpose).ok_or_else(|| StoreError::Corrupt(format!("key purpose {purpose:?}")))?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        fingerprint: row.try_get("fingerprint")?,
        created_at: from_ts(row.try_get("created_at")?)?,
        expires_at: from_ts(row.try_get("expires_at")?)?,
        used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_ts).transpose()?,
    })
}

/// A row of `latchkey_outbox`.
pub(crate) fn outbox_item<'r, R>(row: &'r R) -> Result<OutboxItem, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    let payload: String = row.try_get("payload")?;
    let done: Option<i64> = row.try_get("done_at")?;
    let failed: Option<i64> = row.try_get("failed_at")?;
    Ok(OutboxItem {
        id: row.try_get("id")?,
        job: Job::from_row(&kind, &payload)?,
        created_at: from_ts(row.try_get("created_at")?)?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: from_ts(row.try_get("next_attempt_at")?)?,
        state: match (done, failed) {
            (Some(_), _) => OutboxState::Done,
            (None, Some(_)) => OutboxState::Failed,
            (None, None) => OutboxState::Pending,
        },
        last_error: row.try_get("last_error")?,
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
        actor: row.try_get("actor")?,
        user_id: row.try_get("user_id")?,
        client_ip: row.try_get("client_ip")?,
        detail: row.try_get("detail")?,
        count: u32::try_from(row.try_get::<i64, _>("count")?).unwrap_or(u32::MAX),
    })
}
