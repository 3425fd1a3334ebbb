//! Benchmark helper: migrates a database, creates a user if needed, and
//! creates N logged-in sessions for it directly through the session store,
//! printing one `Cookie` header value per line (`sessionid=…; csrftoken=…`,
//! the two cookies a logged-in SPA's browser holds). Used by
//! bench/run.sh to spread authenticated checks over many sessions without
//! paying N password hashes.
//!
//! `cargo run --release -p latchkey --example bench_seed -- DATABASE_URL USER PASSWORD N [FILLER]`
//!
//! FILLER (SQLite only) adds that many more live sessions of the user in one
//! statement, with no cookie printed: stored sessions that requests do not
//! touch, to see whether look-ups slow down as the table grows.
//! `LATCHKEY_SESSION_STORE_URL` / `LATCHKEY_SESSION_STORE_PREFIX` put the
//! sessions in Redis, as the server would.

use std::sync::Arc;

use latchkey::{
    Latchkey, RawPassword, SystemClock,
    session::{SessionKey, SessionRecord},
    settings::RawSettings,
    store::Database,
    users::{Email, NewUser, Username},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (url, user, password, n, filler) = match args.as_slice() {
        [_, url, user, password, n] => (url, user, password, n, 0u64),
        [_, url, user, password, n, filler] => (url, user, password, n, filler.parse()?),
        _ => return Err("usage: bench_seed DATABASE_URL USER PASSWORD N [FILLER]".into()),
    };
    let n: usize = n.parse()?;
    let db = Database::connect(url, true).await?;
    db.migrate().await?;
    db.close().await;
    let settings = RawSettings {
        database_url: Some(url.clone()),
        session_store_url: std::env::var("LATCHKEY_SESSION_STORE_URL").ok(),
        session_store_prefix: std::env::var("LATCHKEY_SESSION_STORE_PREFIX").ok(),
        ..Default::default()
    }
    .validate()?;
    let (lk, backends) = Latchkey::open(settings, Arc::new(SystemClock)).await?;
    let user = match lk.users().by_username(user).await? {
        Some(u) => u,
        None => {
            let hash = lk.hasher().hash(&RawPassword::new(password.clone())).await?;
            let new = NewUser {
                username: Username::parse(user)?,
                email: Email::default(),
                email_verified: false,
                password_hash: hash,
                first_name: String::new(),
                last_name: String::new(),
                is_staff: false,
                is_superuser: false,
            };
            lk.users().create(&new, lk.clock().now()).await?
        }
    };
    let auth_hash = lk.session_auth().session_auth_hash(&user);
    let now = lk.clock().now();
    let mut out = String::new();
    for _ in 0..n {
        let key = SessionKey::generate();
        let rec = SessionRecord {
            key_hash: key.hash(),
            user_id: Some(user.id),
            auth_hash: auth_hash.clone(),
            data: Default::default(),
            created_at: now,
            last_seen: now,
            expires_at: now + time::Duration::days(14),
            absolute_expires_at: now + time::Duration::days(14),
            idle_timeout: None,
            ip: None,
            user_agent: None,
            authenticated_at: Some(now),
            remember: true,
        };
        lk.sessions().create(&rec).await?;
        let csrf = latchkey::csrf::token::new_secret();
        out.push_str(&format!("sessionid={}; csrftoken={csrf}\n", key.expose()));
    }
    if filler > 0 {
        let Database::Sqlite(store) = &backends.db else {
            return Err("FILLER needs a SQLite database".into());
        };
        let now = now.unix_timestamp();
        sqlx::query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?1)
             INSERT INTO latchkey_sessions (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at)
             SELECT printf('%064x', x), ?2, ?3, '{}', ?4, ?4, ?4 + 1209600, ?4 + 1209600 FROM c",
        )
        .bind(i64::try_from(filler)?)
        .bind(user.id)
        .bind(&auth_hash)
        .bind(now)
        .execute(store.pool())
        .await?;
    }
    print!("{out}");
    backends.close().await;
    Ok(())
}
