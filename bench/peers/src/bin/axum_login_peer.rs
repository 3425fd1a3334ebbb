//! What a Rust developer would write today: axum + tower-sessions +
//! axum-login with the SQLite session store, the tutorial's endpoints,
//! written the way those crates' own examples do it (the axum-login sqlite
//! example: `Expiry::OnInactivity(1 day)`, `password_auth` hashes verified on
//! the blocking pool, the store's background deletion task). Like those
//! examples it has no CSRF protection, so it does less work per request than
//! Latchkey; it is a fair peer, not a strawman.
//!
//! `axum_login_peer ADDR DB_PATH` — creates the `bench` user (password
//! `bench-password-1234`) on first start, hashed with password_auth's default
//! Argon2 parameters, like the example's seed data.

use std::time::Duration;

use axum::{
    Json, Router,
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use axum_login::{
    AuthManagerLayerBuilder, AuthUser, AuthnBackend, UserId,
    tower_sessions::{ExpiredDeletion, Expiry, SessionManagerLayer, cookie::time::Duration as CookieDuration},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{FromRow, SqlitePool, sqlite::SqliteConnectOptions};
use tower_sessions_sqlx_store::SqliteStore;

#[derive(Clone, Serialize, Deserialize, FromRow)]
struct User {
    id: i64,
    username: String,
    password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("username", &self.username).finish()
    }
}

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> Self::Id {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        self.password.as_bytes()
    }
}

#[derive(Clone, Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Clone)]
struct Backend {
    db: SqlitePool,
}

#[derive(Debug, thiserror::Error)]
enum BackendError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = BackendError;

    async fn authenticate(&self, creds: Self::Credentials) -> Result<Option<Self::User>, Self::Error> {
        let user: Option<Self::User> =
            sqlx::query_as("select * from users where username = ?").bind(creds.username).fetch_optional(&self.db).await?;
        // Verifying a password is blocking and potentially slow, so use spawn_blocking (as the example does).
        tokio::task::spawn_blocking(|| {
            Ok(user.filter(|user| password_auth::verify_password(creds.password, &user.password).is_ok()))
        })
        .await?
    }

    async fn get_user(&self, user_id: &UserId<Self>) -> Result<Option<Self::User>, Self::Error> {
        Ok(sqlx::query_as("select * from users where id = ?").bind(user_id).fetch_optional(&self.db).await?)
    }
}

type AuthSession = axum_login::AuthSession<Backend>;

async fn session(auth: AuthSession) -> impl IntoResponse {
    Json(json!({ "isAuthenticated": auth.user.is_some() }))
}

async fn whoami(auth: AuthSession) -> impl IntoResponse {
    match auth.user {
        Some(u) => Json(json!({ "username": u.username })),
        None => Json(json!({ "isAuthenticated": false })),
    }
}

async fn login(mut auth: AuthSession, Json(creds): Json<Credentials>) -> impl IntoResponse {
    let user = match auth.authenticate(creds).await {
        Ok(Some(user)) => user,
        Ok(None) => return (StatusCode::BAD_REQUEST, Json(json!({"detail": "Invalid credentials."}))).into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if auth.login(&user).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    Json(json!({"detail": "Successfully logged in."})).into_response()
}

async fn logout(mut auth: AuthSession) -> impl IntoResponse {
    match auth.logout().await {
        Ok(Some(_)) => Json(json!({"detail": "Successfully logged out."})).into_response(),
        Ok(None) => (StatusCode::BAD_REQUEST, Json(json!({"detail": "You're not logged in."}))).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bind = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:8000".into());
    let path = args.get(2).cloned().unwrap_or_else(|| "peer.sqlite3".into());
    let db = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path).create_if_missing(true)).await?;
    sqlx::query("create table if not exists users (id integer primary key not null, username text not null unique, password text not null)")
        .execute(&db)
        .await?;
    let hash = tokio::task::spawn_blocking(|| password_auth::generate_hash("bench-password-1234")).await?;
    sqlx::query("insert or ignore into users (username, password) values ('bench', ?)").bind(hash).execute(&db).await?;

    let session_store = SqliteStore::new(db.clone());
    session_store.migrate().await?;
    let deletion_task = tokio::task::spawn(session_store.clone().continuously_delete_expired(Duration::from_secs(60)));
    let session_layer =
        SessionManagerLayer::new(session_store).with_secure(false).with_expiry(Expiry::OnInactivity(CookieDuration::days(1)));
    let auth_layer = AuthManagerLayerBuilder::new(Backend { db }, session_layer).build();

    let app = Router::new()
        .route("/api/session/", get(session))
        .route("/api/whoami/", get(whoami))
        .route("/api/login/", post(login))
        .route("/api/logout/", post(logout))
        .layer(auth_layer);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("axum-login peer listening on http://{bind}/");
    axum::serve(listener, app.into_make_service()).await?;
    deletion_task.abort();
    Ok(())
}
