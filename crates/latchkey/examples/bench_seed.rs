//! Benchmark helper: migrates a database, creates a user if needed, and
//! creates N logged-in sessions for it directly through the session store,
//! printing one `Cookie` header value per line (`sessionid=…`). Used by
//! bench/run.sh to spread authenticated checks over many sessions without
//! paying N password hashes.
//!
//! `cargo run --release -p latchkey --example bench_seed -- DATABASE_URL USER PASSWORD N`

use std::sync::Arc;

use latchkey::{
    Latchkey, RawPassword, SystemClock,
    db::Database,
    session::{SessionKey, SessionRecord},
    settings::RawSettings,
    users::{Email, NewUser, Username},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, user, password, n] = args.as_slice() else {
        return Err("usage: bench_seed DATABASE_URL USER PASSWORD N".into());
    };
    let n: usize = n.parse()?;
    let db = Database::connect(url, true).await?;
    db.migrate().await?;
    db.close().await;
    let settings = RawSettings { database_url: Some(url.clone()), ..Default::default() }.validate()?;
    let (lk, backends) = Latchkey::open(settings, Arc::new(SystemClock)).await?;
    let user = match lk.users().by_username(user).await? {
        Some(u) => u,
        None => {
            let hash = lk.hasher().hash(&RawPassword::new(password.clone())).await?;
            let new = NewUser {
                username: Username::parse(user)?,
                email: Email::default(),
                password_hash: hash,
                is_staff: false,
                is_superuser: false,
            };
            lk.users().create(&new, lk.clock().now()).await?
        }
    };
    let auth_hash = lk.session_auth_hash(&user);
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
        };
        lk.sessions().create(&rec).await?;
        out.push_str(&format!("sessionid={}\n", key.expose()));
    }
    print!("{out}");
    backends.close().await;
    Ok(())
}
