//! The subcommands' behaviour. Each returns `Ok(())` or an error whose
//! message is printed as `Error: …` with exit status 1.

use std::{
    io::{BufRead, IsTerminal, Write},
    sync::Arc,
};

use crate::config::Config;
use anyhow::{Context, bail};
use latchkey::{
    Acting, AdminError, Latchkey, RawPassword, Settings, SystemClock,
    audit::AuditEvent,
    session,
    settings::{CookieSettings, Preset},
    store::Database,
    throttle::ThrottlePolicy,
    users::{Email, NewUser, UserChanges, UserQuery, UserStoreError, Username},
};

use crate::app::{App, shutdown_signal};

/// Reads answers from a person.
pub trait Prompt {
    /// A visible line, without its newline.
    fn line(&mut self, prompt: &str) -> std::io::Result<String>;
    /// A hidden line (password).
    fn secret(&mut self, prompt: &str) -> std::io::Result<String>;
}

/// Prompts on the terminal; passwords are read without echo.
#[derive(Debug)]
pub struct Terminal;

impl Prompt for Terminal {
    fn line(&mut self, prompt: &str) -> std::io::Result<String> {
        print!("{prompt}");
        std::io::stdout().flush()?;
        let mut s = String::new();
        if std::io::stdin().lock().read_line(&mut s)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "input closed"));
        }
        Ok(s.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn secret(&mut self, prompt: &str) -> std::io::Result<String> {
        rpassword::prompt_password(prompt)
    }
}

async fn open(settings: Settings) -> anyhow::Result<(Latchkey, latchkey::Backends)> {
    Ok(Latchkey::open(settings, Arc::new(SystemClock)).await?)
}

/// `latchkey migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = Database::connect(&settings.database_url, true).await?;
    let applied = db.migrate().await?;
    if applied.is_empty() {
        println!("No migrations to apply; the schema is at version {}.", db.latest_version());
    } else {
        for v in &applied {
            println!("Applied migration {v}.");
        }
    }
    db.close().await;
    Ok(())
}

fn password_from_env() -> anyhow::Result<RawPassword> {
    match std::env::var("LATCHKEY_PASSWORD") {
        Ok(p) if p.is_empty() => bail!("Blank passwords aren't allowed."),
        Ok(p) => Ok(RawPassword::new(p)),
        Err(_) => bail!("set LATCHKEY_PASSWORD to the new password when using --no-input"),
    }
}

fn ask_password(prompt: &mut dyn Prompt) -> anyhow::Result<RawPassword> {
    for _ in 0..3 {
        let first = prompt.secret("Password: ")?;
        let second = prompt.secret("Password (again): ")?;
        if first != second {
            eprintln!("Error: Your passwords didn't match.");
            continue;
        }
        if first.is_empty() {
            eprintln!("Error: Blank passwords aren't allowed.");
            continue;
        }
        return Ok(RawPassword::new(first));
    }
    bail!("giving up after 3 attempts")
}

/// Non-interactive: refuse a weak password unless explicitly allowed.
fn require_policy(
    lk: &Latchkey,
    password: &RawPassword,
    username: &str,
    email: &str,
    allow_weak: bool,
) -> anyhow::Result<()> {
    let problems = lk.settings().password_policy.problems(password, username, email);
    if problems.is_empty() {
        return Ok(());
    }
    if allow_weak {
        eprintln!("Warning: {} (accepted because of --allow-weak-password)", problems.join(" "));
        return Ok(());
    }
    bail!("{} Choose another password, or pass --allow-weak-password to accept it anyway.", problems.join(" "))
}

/// Interactive: ask for a password until it passes the validators or the
/// person chooses to bypass them, as Django's createsuperuser does.
fn ask_valid_password(
    lk: &Latchkey,
    prompt: &mut dyn Prompt,
    username: &str,
    email: &str,
    allow_weak: bool,
) -> anyhow::Result<RawPassword> {
    for _ in 0..3 {
        let password = ask_password(prompt)?;
        let problems = lk.settings().password_policy.problems(&password, username, email);
        if problems.is_empty() || allow_weak {
            return Ok(password);
        }
        for p in &problems {
            eprintln!("{p}");
        }
        let answer = prompt.line("Bypass password validation and create user anyway? [y/N]: ")?;
        if answer.trim().eq_ignore_ascii_case("y") || answer.trim().eq_ignore_ascii_case("yes") {
            return Ok(password);
        }
    }
    bail!("giving up after 3 attempts")
}

fn not_a_tty() -> anyhow::Error {
    anyhow::anyhow!("not running in a terminal; use --no-input with LATCHKEY_PASSWORD to run without prompts")
}

/// `latchkey createsuperuser`.
pub async fn createsuperuser(
    settings: Settings,
    username: Option<String>,
    email: Option<String>,
    no_input: bool,
    allow_weak: bool,
    prompt: &mut dyn Prompt,
) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let result = async {
        let (username, email, password) = if no_input {
            let Some(raw) = username else { bail!("You must use --username with --no-input.") };
            let username = Username::parse(&raw)?;
            let email = Email::parse(email.as_deref().unwrap_or(""))?;
            let password = password_from_env()?;
            require_policy(&lk, &password, username.as_str(), email.as_str(), allow_weak)?;
            (username, email, password)
        } else {
            if !std::io::stdin().is_terminal() {
                return Err(not_a_tty());
            }
            let username = loop {
                let raw = match &username {
                    Some(u) => u.clone(),
                    None => prompt.line("Username: ")?,
                };
                match Username::parse(&raw) {
                    Ok(u) if lk.users().by_username(u.as_str()).await?.is_some() => {
                        eprintln!("Error: That username is already taken.");
                    }
                    Ok(u) => break u,
                    Err(e) => eprintln!("Error: {e}"),
                }
                if username.is_some() {
                    bail!("invalid --username");
                }
            };
            let email = loop {
                let raw = match &email {
                    Some(e) => e.clone(),
                    None => prompt.line("Email address: ")?,
                };
                match Email::parse(&raw) {
                    Ok(e) => break e,
                    Err(e) if email.is_none() => eprintln!("Error: {e}"),
                    Err(e) => return Err(e.into()),
                }
            };
            let password = ask_valid_password(&lk, prompt, username.as_str(), email.as_str(), allow_weak)?;
            (username, email, password)
        };
        let hash = lk.hasher().hash(&password).await?;
        // An address an operator sets counts as verified.
        let email_verified = !email.as_str().is_empty();
        let user = NewUser {
            username,
            email,
            email_verified,
            first_name: String::new(),
            last_name: String::new(),
            password_hash: hash,
            is_staff: true,
            is_superuser: true,
        };
        match lk.users().create(&user, lk.clock().now()).await {
            Ok(_) => {
                println!("Superuser created successfully.");
                Ok(())
            }
            Err(UserStoreError::Duplicate) => bail!("That username is already taken."),
            Err(e) => Err(e.into()),
        }
    }
    .await;
    db.close().await;
    result
}

/// `latchkey changepassword USERNAME`.
pub async fn changepassword(
    settings: Settings,
    username: String,
    no_input: bool,
    allow_weak: bool,
    prompt: &mut dyn Prompt,
) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let result = async {
        let name = Username::parse(&username)?;
        let Some(user) = lk.users().by_username(name.as_str()).await? else {
            bail!("user '{username}' does not exist")
        };
        let password = if no_input {
            let password = password_from_env()?;
            require_policy(&lk, &password, &user.username, &user.email, allow_weak)?;
            password
        } else {
            if !std::io::stdin().is_terminal() {
                return Err(not_a_tty());
            }
            println!("Changing password for user '{}'", user.username);
            ask_valid_password(&lk, prompt, &user.username, &user.email, allow_weak)
                .with_context(|| format!("Aborting password change for user '{}'", user.username))?
        };
        let hash = lk.hasher().hash(&password).await?;
        lk.users().set_password_hash(user.id, &hash).await?;
        // The session auth hash would already reject them; deleting the rows
        // makes it immediate and visible.
        lk.core()
            .audit(
                AuditEvent::new(lk.clock().now(), "password_changed")
                    .username(&user.username)
                    .user_id(user.id)
                    .detail("by latchkey changepassword"),
            )
            .await;
        let ended = lk.session_auth().revoke_user_sessions(&user, "a password change").await?;
        println!("Password changed successfully for user '{}' ({ended} session(s) ended).", user.username);
        Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `latchkey deactivate` / `latchkey activate`.
pub async fn set_active(settings: Settings, username: String, active: bool) -> anyhow::Result<()> {
    let changes = UserChanges { is_active: Some(active), ..UserChanges::default() };
    users_set(settings, username, changes).await
}

/// `latchkey users set`: the admin's change, with the admin's rules (the
/// last active superuser stays) but no re-authentication.
pub async fn users_set(settings: Settings, username: String, changes: UserChanges) -> anyhow::Result<()> {
    if changes.is_empty() {
        bail!("nothing to change: give --staff/--no-staff, --superuser/--no-superuser or --active/--inactive");
    }
    let (lk, db) = open(settings).await?;
    let result = async {
        let user = existing_user(&lk, &username).await?;
        let sessions_before = lk.session_auth().sessions_of(&user, None).await?.len();
        let updated = match lk.admin().update_user(&Acting::Cli, user.id, &changes).await {
            Ok(u) => u,
            Err(AdminError::Refused(rule)) => bail!("{rule}"),
            Err(e) => return Err(e.into()),
        };
        let flags =
            |u: &latchkey::User| format!("active={}, staff={}, superuser={}", u.is_active, u.is_staff, u.is_superuser);
        print!("User '{}': {}", updated.username, flags(&updated));
        if user.is_active && !updated.is_active {
            print!("; {sessions_before} session(s) ended");
        }
        println!(".");
        Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `latchkey import-django --from URL [--dry-run] [--update]`: every row is
/// checked before anything is written (an unknown password format or a bad
/// username stops it, naming the users); then one statement per user,
/// through the cache, so running servers see an `--update` at once.
pub async fn import_django(settings: Settings, from: String, dry_run: bool, update: bool) -> anyhow::Result<()> {
    use latchkey::users::import::{ImportOutcome, check_rows};
    let rows = latchkey::store::django::read_django_users(&from).await?;
    let total = rows.len();
    println!("{total} user(s) in Django's auth_user at {}.", latchkey::settings::redact_url(&from));
    let users = match check_rows(rows) {
        Ok(users) => users,
        Err(refused) => {
            for r in &refused {
                eprintln!("  {}: {}", r.username, r.reason);
            }
            bail!("{} user(s) cannot be imported (above); nothing was written", refused.len());
        }
    };
    let mut by_hasher: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (_, hasher) in &users {
        *by_hasher.entry(hasher).or_default() += 1;
    }
    let (lk, db) = open(settings).await?;
    let result = async {
        let (mut imported, mut updated, mut skipped) = (0usize, 0usize, 0usize);
        let started = std::time::Instant::now();
        let mut last_progress = started;
        for (i, (user, _)) in users.iter().enumerate() {
            if dry_run {
                match lk.users().by_username(user.username.as_str()).await? {
                    None => imported += 1,
                    Some(_) if update => updated += 1,
                    Some(_) => skipped += 1,
                }
            } else {
                match lk.users().import(user, update).await? {
                    ImportOutcome::Inserted(_) => imported += 1,
                    ImportOutcome::Updated(_) => updated += 1,
                    ImportOutcome::Skipped => skipped += 1,
                }
            }
            if last_progress.elapsed() >= std::time::Duration::from_secs(2) {
                eprintln!("  … {} of {total}", i + 1);
                last_progress = std::time::Instant::now();
            }
        }
        if !dry_run {
            let detail = format!("from Django: {imported} imported, {updated} updated, {skipped} skipped");
            lk.core().audit(AuditEvent::new(lk.clock().now(), "users_imported").actor("cli").detail(detail)).await;
        }
        let hashers: Vec<String> = by_hasher.iter().map(|(h, n)| format!("{h} {n}")).collect();
        let verb = if dry_run { "would be: " } else { "" };
        println!("{verb}imported {imported}, updated {updated}, skipped {skipped}");
        println!("by hasher: {}", hashers.join(", "));
        if dry_run {
            println!("(dry run: nothing was written)");
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `latchkey mfa reset USERNAME`.
pub async fn mfa_reset(settings: Settings, username: String) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let result = async {
        let user = existing_user(&lk, &username).await?;
        let sessions = lk.session_auth().sessions_of(&user, None).await?.len();
        if lk.admin().reset_factors(&Acting::Cli, user.id).await? {
            println!(
                "Second factors of '{}' removed; {sessions} session(s) ended. They sign in with their password now.",
                user.username
            );
        } else {
            println!("User '{}' has no second factor.", user.username);
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `latchkey users list`.
pub async fn users_list(
    settings: Settings,
    search: Option<String>,
    staff: bool,
    inactive: bool,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let query = UserQuery {
        search,
        is_staff: staff.then_some(true),
        is_active: inactive.then_some(false),
        page: latchkey::page::PageRequest { offset: 0, limit },
        ..UserQuery::default()
    };
    let page = lk.admin().list_users(&query).await;
    db.close().await;
    let page = page?;
    for u in &page.results {
        if json {
            let line = serde_json::json!({
                "id": u.id, "username": u.username, "email": u.email, "emailVerified": u.email_verified,
                "firstName": u.first_name, "lastName": u.last_name, "isActive": u.is_active, "isStaff": u.is_staff,
                "isSuperuser": u.is_superuser, "dateJoined": rfc3339(u.date_joined),
                "lastLogin": u.last_login.map(rfc3339),
            });
            println!("{line}");
        } else {
            let mut flags = Vec::new();
            if !u.is_active {
                flags.push("inactive");
            }
            if u.is_superuser {
                flags.push("superuser");
            } else if u.is_staff {
                flags.push("staff");
            }
            let last = u.last_login.map_or_else(|| "never".to_owned(), rfc3339);
            println!(
                "{:>6}  {:<24} {:<32} joined {}  last login {}  {}",
                u.id,
                u.username,
                u.email,
                rfc3339(u.date_joined),
                last,
                flags.join(",")
            );
        }
    }
    if !json {
        let about = if page.count_is_estimate { "about " } else { "" };
        println!("{} of {about}{} user(s).", page.results.len(), page.count);
    }
    Ok(())
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// `latchkey sessions list USERNAME`.
pub async fn sessions_list(settings: Settings, username: String, json: bool) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let result = async {
        let user = existing_user(&lk, &username).await?;
        let sessions = lk.session_auth().sessions_of(&user, None).await?;
        if !json && sessions.is_empty() {
            println!("User '{}' has no live sessions.", user.username);
        }
        for s in sessions {
            if json {
                let line = serde_json::json!({
                    "id": s.id.as_str(), "createdAt": rfc3339(s.created_at), "lastSeenAt": rfc3339(s.last_seen_at),
                    "expiresAt": rfc3339(s.expires_at), "ip": s.ip, "userAgent": s.user_agent, "remember": s.remember,
                });
                println!("{line}");
            } else {
                println!(
                    "{}  created {}  last seen {}  expires {}  {}  {}",
                    s.id,
                    rfc3339(s.created_at),
                    rfc3339(s.last_seen_at),
                    rfc3339(s.expires_at),
                    s.ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-"),
                );
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `latchkey sessions revoke USERNAME (ID | --all)`.
pub async fn sessions_revoke(
    settings: Settings,
    username: String,
    id: Option<String>,
    all: bool,
) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let result = async {
        let user = existing_user(&lk, &username).await?;
        if all {
            let ended = lk.session_auth().revoke_user_sessions(&user, "latchkey sessions revoke --all").await?;
            println!("{ended} session(s) of user '{}' ended.", user.username);
            return Ok(());
        }
        let Some(raw) = id else {
            bail!("name the session to end by its ID (see `latchkey sessions list {username}`), or end them all with --all")
        };
        let not_found = || anyhow::anyhow!("user '{}' has no session with id '{raw}' (see `latchkey sessions list`)", user.username);
        let id = session::SessionId::parse(&raw).ok_or_else(not_found)?;
        match lk.accounts().end_session_as_operator(&user, &id, "latchkey sessions revoke").await {
            Ok(()) => {
                println!("Session {id} of user '{}' ended.", user.username);
                Ok(())
            }
            Err(latchkey::auth::AuthError::SessionNotFound) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }
    .await;
    db.close().await;
    result
}

async fn existing_user(lk: &Latchkey, username: &str) -> anyhow::Result<latchkey::User> {
    let name = Username::parse(username)?;
    match lk.users().by_username(name.as_str()).await? {
        Some(u) => Ok(u),
        None => bail!("user '{username}' does not exist"),
    }
}

/// `latchkey events`.
pub async fn events(settings: Settings, limit: u32, username: Option<String>, json: bool) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let events = lk.audit_store().list(limit, username.as_deref()).await;
    db.close().await;
    for e in events? {
        if json {
            let at = e.at.format(&time::format_description::well_known::Rfc3339)?;
            println!(
                "{}",
                serde_json::json!({"at": at, "event": e.event, "username": e.username, "actor": e.actor, "user_id": e.user_id, "client_ip": e.client_ip, "detail": e.detail, "count": e.count})
            );
        } else {
            println!("{e}");
        }
    }
    Ok(())
}

/// `latchkey throttle reset`.
pub async fn throttle_reset(
    settings: Settings,
    username: Option<String>,
    ip: Option<std::net::IpAddr>,
    all: bool,
) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let store = lk.throttle().as_ref();
    let result = match (username, ip, all) {
        (Some(u), None, false) => {
            ThrottlePolicy::reset_account(store, &u).await.map(|n| format!("account '{u}': {n} counter(s) cleared"))
        }
        (None, Some(ip), false) => {
            ThrottlePolicy::reset_client(store, ip).await.map(|n| format!("client {ip}: {n} counter(s) cleared"))
        }
        (None, None, true) => ThrottlePolicy::reset_all(store).await.map(|n| format!("{n} counter(s) cleared")),
        _ => {
            db.close().await;
            bail!("say what to reset: --username NAME, --ip ADDRESS or --all");
        }
    };
    db.close().await;
    println!("Throttle reset: {}.", result?);
    Ok(())
}

/// `latchkey clearsessions`.
pub async fn clearsessions(settings: Settings) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let n = session::clear_expired(lk.sessions().as_ref(), lk.clock().now()).await;
    let keys = lk.keys().delete_expired(lk.clock().now()).await;
    db.close().await;
    println!("Deleted {} expired session(s) and {} expired mailed key(s).", n?, keys?);
    Ok(())
}

/// `latchkey outbox [--failed] [--retry ID | --all]`.
pub async fn outbox(settings: Settings, failed: bool, retry: Option<i64>, all: bool, limit: u32) -> anyhow::Result<()> {
    let (lk, db) = open(settings).await?;
    let result = async {
        let now = lk.clock().now();
        if retry.is_some() || all {
            let n = lk.outbox().retry(retry, now).await?;
            match (retry, n) {
                (Some(id), 0) => bail!("no failed outbox job with id {id} (see `latchkey outbox --failed`)"),
                _ => println!("{n} failed job(s) queued again; a running server sends them within seconds."),
            }
            return Ok(());
        }
        let items = lk.outbox().list(failed, limit).await?;
        println!("{} job(s) waiting.", lk.outbox().backlog().await?);
        for i in items {
            let what = match &i.job {
                latchkey::mail::Job::Mail(m) => format!("mail to {} \"{}\"", m.to, m.subject),
                latchkey::mail::Job::PasswordReset { .. } => "password reset request".to_owned(),
                latchkey::mail::Job::VerifyEmail { .. } => "verification request".to_owned(),
            };
            let state = match i.state {
                latchkey::mail::OutboxState::Pending => {
                    format!("pending (next attempt {})", rfc3339(i.next_attempt_at))
                }
                latchkey::mail::OutboxState::Done => "done".to_owned(),
                latchkey::mail::OutboxState::Failed => "FAILED".to_owned(),
            };
            let error = i.last_error.map(|e| format!("; last error: {e}")).unwrap_or_default();
            println!("{:>6}  {}  {what}  {state}, {} attempt(s){error}", i.id, rfc3339(i.created_at), i.attempts);
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

fn describe_cookie(c: &CookieSettings) -> String {
    let mut parts = vec![c.name.clone()];
    if c.http_only {
        parts.push("HttpOnly".into());
    } else {
        parts.push("readable by JavaScript".into());
    }
    parts.push(format!("SameSite={}", c.same_site.as_str()));
    parts.push(if c.secure { "Secure".into() } else { "not Secure".into() });
    parts.push(match c.age {
        Some(a) => format!("Max-Age={}", a.as_secs()),
        None => "browser-session cookie".into(),
    });
    parts.push(format!("Path={}", c.path));
    if let Some(d) = &c.domain {
        parts.push(format!("Domain={d}"));
    }
    parts.join("; ")
}

/// What a validated configuration implies, for `latchkey check`.
pub fn describe(config: &Config) -> String {
    let s = &config.latchkey;
    let origins: Vec<String> = s.allowed_origins.iter().map(ToString::to_string).collect();
    let mut trusted = vec!["the request's own origin".to_owned()];
    if let Some(p) = &s.public_url {
        trusted.push(format!("{p} (public_url)"));
    }
    trusted.extend(origins.iter().cloned());
    let cors = if s.cors_enabled() {
        format!(
            "allows {} with credentials; exposes X-CSRFToken; preflight max-age 86400 s; other origins get no CORS headers",
            origins.join(", ")
        )
    } else {
        "off (same-origin deployment: no Access-Control-* headers)".into()
    };
    let token = match s.preset {
        Preset::Embedded => "the SPA reads the csrftoken cookie and sends it as X-CSRFToken",
        _ => "the SPA takes X-CSRFToken from GET /api/csrf/ and sends it back as X-CSRFToken",
    };
    let proxies = if s.trusted_proxies.is_empty() {
        "none (X-Forwarded-* ignored)".to_owned()
    } else {
        s.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let links = format!("{}{}?key=…", s.accounts.frontend_url, s.accounts.reset_password_path);
    format!(
        "Configuration OK.\n\
         preset:            {preset}\n\
         bind:              {bind}\n\
         public URL:        {public}\n\
         database:          {db}\n\
         session store:     {store}\n\
         session cookie:    {session}\n\
         CSRF cookie:       {csrf}\n\
         CSRF token:        {token}\n\
         CSRF trusted:      {trusted}\n\
         CORS:              {cors}\n\
         HTTP Basic:        {basic}\n\
         allowed hosts:     {hosts}\n\
         trusted proxies:   {proxies}\n\
         session lifetime:  {age} s\n\
         password hashing:  Argon2id m={m} KiB, t={t}, p={p}; {c} at once, {q} queued at most\n\
         mail:              {mail}\n\
         links in mail:     {links}\n\
         admin:             {admin}\n\
         passkeys:          {passkeys}\n\
         second factor:     {mfa}\n\
         sign-in providers: {oidc}\n\
         metrics:           {metrics}\n",
        oidc = describe_oidc(s),
        metrics = match config.server.metrics_bind {
            Some(m) => format!("Prometheus text at http://{m}/metrics (metrics.bind; keep it private)"),
            None => "off (set metrics.bind to serve /metrics on a port of its own)".to_owned(),
        },
        admin = if crate::spa::embedded_admin_present() {
            "/admin/ (staff users only; built into this binary)"
        } else {
            "/admin/ answers with a page saying how to build it (npm run build in frontend/, then cargo build); the API is at /api/admin/"
        },
        mail = match &s.email.backend {
            latchkey::settings::EmailBackend::Console =>
                "printed to standard output (email.backend = console)".to_owned(),
            latchkey::settings::EmailBackend::File(d) => format!("written to {} (email.backend = file)", d.display()),
            latchkey::settings::EmailBackend::Smtp(smtp) => format!(
                "SMTP {}:{} ({}), from {}",
                smtp.host,
                smtp.port,
                match (smtp.tls, smtp.username.is_some()) {
                    (latchkey::settings::SmtpTls::Implicit, _) => "TLS",
                    (latchkey::settings::SmtpTls::Required, _) | (_, true) => "STARTTLS required",
                    _ => "STARTTLS when offered",
                },
                s.email.from
            ),
        },
        links = links,
        passkeys = describe_passkeys(&s.webauthn),
        mfa = if s.mfa_required_for_staff {
            "authenticator app, passkeys, recovery codes; staff must set one up (mfa.required_for_staff)"
        } else {
            "authenticator app, passkeys, recovery codes; optional for everyone"
        },
        preset = s.preset,
        bind = config.server.bind,
        public = s.public_url.as_ref().map_or("unset".to_owned(), ToString::to_string),
        db = latchkey::settings::redact_url(&s.database_url),
        store = s.session_store_url.as_deref().map_or("the database".to_owned(), latchkey::settings::redact_url),
        session = describe_cookie(&s.session.cookie),
        csrf = describe_cookie(&s.csrf.cookie),
        trusted = trusted.join(", "),
        basic = if s.basic_auth() { "accepted on /api/session/ and /api/whoami/" } else { "off" },
        hosts = s.allowed_hosts.join(", "),
        age = s.session.age.as_secs(),
        m = s.password_hasher.memory_kib,
        t = s.password_hasher.iterations,
        p = s.password_hasher.parallelism,
        c = s.password_hasher.max_concurrent,
        q = s.password_hasher.max_queue,
    )
}

/// The OpenID Connect providers, as `check` says them: each with the
/// redirect URI to register there.
fn describe_oidc(s: &Settings) -> String {
    let providers = &s.oidc_providers;
    if providers.is_empty() {
        return "none (add [[oidc.providers]] tables; see docs/oidc.md)".to_owned();
    }
    providers
        .iter()
        .map(|p| {
            format!(
                "{} \"{}\" at {}{}, client {} (secret {}), redirect URI {}",
                p.id,
                p.name,
                p.issuer,
                if p.plain_http { " (plain http: development only)" } else { "" },
                p.client_id,
                match &p.client_secret_file {
                    Some(f) => format!("from {}", f.display()),
                    None => "in the config file".to_owned(),
                },
                s.oidc_redirect_uri(&p.id)
            )
        })
        .collect::<Vec<_>>()
        .join("\n                   ")
}

/// Which pages may use passkeys, as `check` says it.
fn describe_passkeys(w: &latchkey::settings::WebauthnSettings) -> String {
    let mut origins: Vec<String> = w.origins.iter().map(ToString::to_string).collect();
    if w.any_localhost_port {
        origins.push("http(s)://localhost on any port".into());
    }
    let mut out = if origins.is_empty() {
        format!("unavailable: no origin is on RP id {} (set public_url or webauthn.rp_id)", w.rp_id)
    } else {
        format!("RP id {} ({}), for {}", w.rp_id, w.rp_name, origins.join(", "))
    };
    if !w.ignored_origins.is_empty() {
        let ignored: Vec<String> = w.ignored_origins.iter().map(ToString::to_string).collect();
        out.push_str(&format!("; not for {} (another domain)", ignored.join(", ")));
    }
    out
}

/// `latchkey check --providers`: reaches each sign-in provider as a sign-in
/// would (discovery, keys, the token endpoint with this site's credentials)
/// and prints what it found; fails when any provider cannot be used.
pub async fn check_providers(settings: &Settings) -> anyhow::Result<()> {
    let providers = &settings.oidc_providers;
    if providers.is_empty() {
        println!("sign-in providers: none to reach");
        return Ok(());
    }
    let idp = latchkey::idp::IdentityProviders::new(providers)?;
    println!("reaching the sign-in providers:");
    let mut failed = 0;
    for p in providers {
        match idp.probe(p, &settings.oidc_redirect_uri(&p.id)).await {
            Ok(found) => {
                let say = |what: &str, v: &latchkey::idp::Verdict| match v {
                    latchkey::idp::Verdict::Accepted => format!("{what} accepted"),
                    latchkey::idp::Verdict::Refused(why) => format!("{what} REFUSED: {why}"),
                    latchkey::idp::Verdict::Unconfirmed(why) => format!("{what} not confirmed: {why}"),
                };
                if !found.usable() {
                    failed += 1;
                }
                println!(
                    "  {}: {}discovery at {} ({} signing key{}{}); {}; {}",
                    p.id,
                    if found.usable() { "" } else { "FAILED: " },
                    found.issuer,
                    found.keys,
                    if found.keys == 1 { "" } else { "s" },
                    if found.sends_iss { ", sends iss" } else { "" },
                    say("client id and secret", &found.credentials),
                    say("redirect URI", &found.authorization),
                );
            }
            Err(e) => {
                failed += 1;
                println!("  {}: FAILED: {e}", p.id);
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} sign-in providers cannot be used (see above)", providers.len());
    }
    Ok(())
}

/// `latchkey check --deploy`: prints the findings; fails when any is an error.
pub async fn check_deploy(settings: &Settings) -> anyhow::Result<()> {
    use latchkey::deploy_check::{Level, deploy_checks};
    let stored = if settings.secret_key.is_some() {
        None
    } else {
        match Database::connect(&settings.database_url, false).await {
            Ok(db) => {
                let key = db.stored_secret_key().await.ok().flatten();
                db.close().await;
                Some(key)
            }
            Err(e) => {
                println!("Note: the database could not be read ({e}); the stored secret key was not checked.");
                None
            }
        }
    };
    let findings = deploy_checks(settings, stored.as_ref().map(|k| k.as_deref()));
    println!();
    if findings.is_empty() {
        println!("Deployment check identified no issues.");
        return Ok(());
    }
    for (level, title) in [(Level::Error, "ERRORS:"), (Level::Warning, "WARNINGS:")] {
        let these: Vec<_> = findings.iter().filter(|f| f.level == level).collect();
        if !these.is_empty() {
            println!("{title}");
            for f in these {
                println!("  {f}");
            }
        }
    }
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    println!("\nDeployment check identified {} issue(s) ({errors} error(s)).", findings.len());
    if errors > 0 {
        bail!("{errors} deployment error(s); fix them before deploying");
    }
    Ok(())
}

/// `latchkey serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::app::raise_open_files_limit(config.server.max_connections);
    let preset = config.latchkey.preset;
    let app = App::build(config).await?;
    let addr = app.local_addr();
    tracing::info!(target: "latchkey::server", %addr, %preset, "listening");
    println!("Latchkey ({preset} preset) listening on http://{addr}/  (Ctrl-C to stop)");
    if let Some(m) = app.metrics_addr() {
        tracing::info!(target: "latchkey::server", addr = %m, "metrics listening");
        println!("Prometheus metrics on http://{m}/metrics");
    }
    app.run(shutdown_signal()).await
}
