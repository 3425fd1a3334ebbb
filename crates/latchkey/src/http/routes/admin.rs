//! The admin API under `/api/admin/`: users (list, create, read, change,
//! set password), their sessions, every live session, and the audit trail.
//!
//! Staff only, by session only ([`SessionUser`]: HTTP Basic never reaches
//! these). Anonymous callers get 403 `not_authenticated`, signed-in users
//! who are not active staff 403 `permission_denied`. Lists take `page`
//! (counted from one) and `pageSize` (between 1 and 100, default 25) and
//! answer `{"count", "countIsEstimate", "results"}`, the shape of Django
//! REST framework's pagination. The flows and rules are in
//! `state/admin.rs` and `users::admin`.

use axum::{
    Json,
    extract::{FromRequestParts, Path, RawQuery, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    account::{Ended, SessionOut},
    auth::rfc3339,
    mfa::FactorsOut,
};
use crate::{
    Admin, Latchkey,
    audit::AuditEvent,
    auth::AuthError,
    http::{
        ApiError,
        extract::{Body, Client, RequestBody, SessionUser},
        openapi::{Detail, ErrorBody},
    },
    page::{DEFAULT_PAGE_SIZE, PAGE_SIZES, Page, PageRequest},
    password::RawPassword,
    session::{ClientInfo, Session},
    state::{Acting, AdminSession, AdminSessionId, parse_name},
    users::{
        Email, User, UserChanges, UserQuery,
        admin::{MAX_SEARCH_CHARS, UserOrdering},
    },
};

/// The fixed paths of this router.
pub const PATHS: &[&str] = &["/api/admin/users/", "/api/admin/sessions/", "/api/admin/events/"];

/// Prefixes under which one more segment names a user or a session.
pub const PREFIXES: &[&str] = &["/api/admin/users/", "/api/admin/sessions/"];

/// The caller: an active staff user, by session, with that session and
/// where they are (what a change needs: a recent sign-in, the audit).
struct Staff {
    user: User,
    session: Session,
    client: ClientInfo,
}

impl Staff {
    fn acting(&self) -> Acting<'_> {
        Acting::Staff { user: &self.user, session: &self.session, client: &self.client }
    }
}

impl FromRequestParts<Latchkey> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, lk: &Latchkey) -> Result<Self, Self::Rejection> {
        let SessionUser(user) = SessionUser::from_request_parts(parts, lk).await?;
        lk.admin().require_staff(&user)?;
        let session = Session::from_request_parts(parts, lk).await?;
        let Ok(Client(client)) = Client::from_request_parts(parts, lk).await;
        Ok(Self { user, session, client })
    }
}

/// A user as the admin shows it (never the password hash).
#[derive(Serialize, ToSchema)]
#[schema(as = AdminUser)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserOut {
    id: i64,
    username: String,
    email: String,
    email_verified: bool,
    first_name: String,
    last_name: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    #[schema(format = DateTime)]
    date_joined: String,
    #[schema(format = DateTime)]
    last_login: Option<String>,
}

/// One page of a list (Django REST framework's shape).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageOut<T: ToSchema> {
    /// How many in all (an estimate above 10,000 when `countIsEstimate`).
    count: u64,
    count_is_estimate: bool,
    results: Vec<T>,
}

/// A session in an admin list: as `/api/sessions/` shows it, with the id
/// in the admin's form (`USER_ID.SESSION_ID`) and whose it is.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminSession)]
pub(super) struct AdminSessionOut {
    #[serde(flatten)]
    session: SessionOut,
    /// Whose it is; null when the user is gone.
    user: Option<UserRef>,
}

/// A user named in a list.
#[derive(Serialize, ToSchema)]
pub(super) struct UserRef {
    id: i64,
    username: String,
}

/// A user's sessions.
#[derive(Serialize, ToSchema)]
pub(super) struct AdminSessionList {
    sessions: Vec<AdminSessionOut>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CreateUserRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: RawPassword,
    #[schema(required = false)]
    email: Option<String>,
}
impl RequestBody for CreateUserRequest {}

/// The fields a PATCH may change; `id`, `username`, `dateJoined` and
/// `lastLogin` are accepted and ignored, anything else is refused. A field
/// sent as null is left as it is.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserChangesRequest {
    #[schema(required = false, nullable = false)]
    email: Option<String>,
    #[schema(required = false, nullable = false)]
    first_name: Option<String>,
    #[schema(required = false, nullable = false)]
    last_name: Option<String>,
    #[schema(required = false, nullable = false)]
    email_verified: Option<bool>,
    #[schema(required = false, nullable = false)]
    is_active: Option<bool>,
    #[schema(required = false, nullable = false)]
    is_staff: Option<bool>,
    #[schema(required = false, nullable = false)]
    is_superuser: Option<bool>,
    /// Every other member, to be ignored (READ_ONLY) or refused.
    #[serde(flatten)]
    #[schema(ignore)]
    others: Map<String, Value>,
}
impl RequestBody for UserChangesRequest {}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetPasswordRequest {
    #[schema(value_type = String, format = Password)]
    new_password: RawPassword,
}
impl RequestBody for SetPasswordRequest {}

impl UserOut {
    fn from(u: User) -> Result<Self, ApiError> {
        Ok(Self {
            id: u.id,
            date_joined: rfc3339(u.date_joined)?,
            last_login: u.last_login.map(rfc3339).transpose()?,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            first_name: u.first_name,
            last_name: u.last_name,
            is_active: u.is_active,
            is_staff: u.is_staff,
            is_superuser: u.is_superuser,
        })
    }
}

fn user_json(u: User) -> Result<Response, ApiError> {
    Ok(Json(UserOut::from(u)?).into_response())
}

fn page_json<T, U: Serialize + ToSchema>(
    page: Page<T>,
    f: impl Fn(T) -> Result<U, ApiError>,
) -> Result<Response, ApiError> {
    let results = page.results.into_iter().map(f).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(PageOut { count: page.count, count_is_estimate: page.count_is_estimate, results }).into_response())
}

/// The query string's parameters; a parameter given twice is refused, as
/// it is ambiguous.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<String>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(seen, _)| seen == k) {
                return Err(invalid_param(k, "was given more than once"));
            }
            // A NUL or another control character can name nothing, and
            // databases refuse some of them (PostgreSQL text, SQLite FTS5):
            // the client's mistake, not a store failure.
            if v.chars().any(char::is_control) {
                return Err(invalid_param(k, "must not contain control characters"));
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(invalid_param(name, "must be true or false")),
        }
    }

    fn page(&self) -> Result<PageRequest, ApiError> {
        let number = |name: &str, default: u64| -> Result<u64, ApiError> {
            match self.get(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().map_err(|_| invalid_param(name, "must be a positive whole number")),
            }
        };
        let page = number("page", 1)?;
        let size = number("pageSize", u64::from(DEFAULT_PAGE_SIZE))?;
        if page == 0 {
            return Err(invalid_param("page", "must be a positive whole number"));
        }
        let size = u32::try_from(size)
            .ok()
            .filter(|s| PAGE_SIZES.contains(s))
            .ok_or_else(|| invalid_param("pageSize", "must be between 1 and 100"))?;
        PageRequest::numbered(page, size).ok_or_else(|| invalid_param("page", "is too large"))
    }
}

fn invalid_param(name: &str, why: &str) -> ApiError {
    ApiError::bad_request("invalid_parameter", format!("\"{name}\" {why}."))
        .with_members(|b| b.parameter = Some(name.to_owned()))
}

/// Users, searched, filtered, ordered and paged.
#[utoipa::path(get, path = "/api/admin/users/", tag = "admin", security(("session" = [])),
    params(
        ("search" = Option<String>, Query, description = "In the username and the address; at most 100 characters."),
        ("isActive" = Option<bool>, Query, description = "`true`/`1` or `false`/`0`."),
        ("isStaff" = Option<bool>, Query),
        ("isSuperuser" = Option<bool>, Query),
        ("ordering" = Option<String>, Query, description = "`username`, `dateJoined`, `lastLogin`, each may start with `-`."),
        ("page" = Option<u64>, Query, description = "From 1."),
        ("pageSize" = Option<u32>, Query, description = "1 to 100, default 25.")),
    responses((status = 200, description = "One page.", body = PageOut<UserOut>),
        (status = 400, description = "`invalid_parameter`.", body = ErrorBody),
        (status = 403, description = "`permission_denied` (not staff), `mfa_setup_required`.", body = ErrorBody)))]
async fn list_users_view(State(admin): State<Admin>, _: Staff, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let p = Params::parse(raw)?;
    let search = p.get("search").map(str::to_owned);
    if search.as_deref().is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
        return Err(invalid_param("search", "must be at most 100 characters"));
    }
    let ordering = match p.get("ordering") {
        None => UserOrdering::default(),
        Some(o) => UserOrdering::parse(o).ok_or_else(|| {
            invalid_param("ordering", &format!("must be one of {}", UserOrdering::ACCEPTED.join(", ")))
        })?,
    };
    let query = UserQuery {
        search,
        is_active: p.flag("isActive")?,
        is_staff: p.flag("isStaff")?,
        is_superuser: p.flag("isSuperuser")?,
        ordering,
        page: p.page()?,
    };
    page_json(admin.list_users(&query).await?, UserOut::from)
}

/// Creates a user (staff who are superusers may later make them staff).
#[utoipa::path(post, path = "/api/admin/users/", tag = "admin", security(("session" = [])), request_body = CreateUserRequest,
    responses((status = 201, description = "Created.", body = UserOut),
        (status = 400, description = "`invalid_username`, `username_taken`, `invalid_email`, `email_taken`, `password_invalid`, `invalid_field`.", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `reauthentication_required`, `mfa_setup_required`.", body = ErrorBody)))]
async fn create_user_view(
    State(admin): State<Admin>,
    staff: Staff,
    Body(body): Body<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let who = staff.acting();
    let email = body.email.unwrap_or_default();
    let user = admin.create_user(&who, &body.username, &email, &body.password).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(user)?)).into_response())
}

fn user_id(raw: &str) -> Result<i64, ApiError> {
    // A malformed id names no user: the same 404.
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| crate::state::AdminError::UserNotFound.into())
}

/// One user.
#[utoipa::path(get, path = "/api/admin/users/{id}/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user.", body = UserOut),
        (status = 403, description = "`permission_denied`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn user_view(State(admin): State<Admin>, _: Staff, Path(id): Path<String>) -> Result<Response, ApiError> {
    user_json(admin.user(user_id(&id)?).await?)
}

/// The fields a PATCH may carry that the admin shows but nobody changes
/// here: sent back as they came, they are ignored.
const READ_ONLY: &[&str] = &["id", "username", "dateJoined", "lastLogin"];

fn parse_changes(body: UserChangesRequest) -> Result<UserChanges, ApiError> {
    if let Some(name) = body.others.keys().find(|n| !READ_ONLY.contains(&n.as_str())) {
        return Err(ApiError::bad_request("unknown_field", format!("\"{name}\" is not a field that can be changed."))
            .with_members(|b| b.field = Some(name.clone())));
    }
    let email = match body.email {
        Some(e) => Some(
            Email::parse(&e)
                .map_err(|e| {
                    ApiError::bad_request("invalid_email", e.0).with_members(|b| b.field = Some("email".into()))
                })?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    Ok(UserChanges {
        email,
        first_name: body.first_name.map(|n| parse_name("firstName", &n)).transpose()?,
        last_name: body.last_name.map(|n| parse_name("lastName", &n)).transpose()?,
        email_verified: body.email_verified,
        is_active: body.is_active,
        is_staff: body.is_staff,
        is_superuser: body.is_superuser,
    })
}

/// Changes a user's fields (the rules of who may change what are in `users::admin`).
#[utoipa::path(patch, path = "/api/admin/users/{id}/", tag = "admin", security(("session" = [])), request_body = UserChangesRequest,
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user as changed.", body = UserOut),
        (status = 400, description = "`invalid_field`, `unknown_field`, `invalid_email`.", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn update_user_view(
    State(admin): State<Admin>,
    staff: Staff,
    Path(id): Path<String>,
    Body(body): Body<UserChangesRequest>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let changes = parse_changes(body)?;
    let who = staff.acting();
    user_json(admin.update_user(&who, id, &changes).await?)
}

/// Sets a user's password; their sessions end.
#[utoipa::path(post, path = "/api/admin/users/{id}/password/", tag = "admin", security(("session" = [])), request_body = SetPasswordRequest,
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "Set; how many sessions ended.", body = Ended),
        (status = 400, description = "`password_invalid`.", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn set_password_view(
    State(admin): State<Admin>,
    staff: Staff,
    Path(id): Path<String>,
    Body(body): Body<SetPasswordRequest>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let who = staff.acting();
    let ended = admin.set_password(&who, id, &body.new_password).await?;
    Ok(Ended::json(ended_detail("Password set.", ended), ended).into_response())
}

fn ended_detail(first: &str, ended: u64) -> String {
    match ended {
        0 => first.to_owned(),
        1 => format!("{first} 1 session was ended."),
        n => format!("{first} {n} sessions were ended."),
    }
}

fn admin_session_out(s: AdminSession) -> Result<AdminSessionOut, ApiError> {
    let id = AdminSessionId { user_id: s.user_id, id: s.summary.id.clone() }.to_string();
    let mut session = SessionOut::from(s.summary)?;
    session.id = id;
    Ok(AdminSessionOut { session, user: s.user.map(|(id, username)| UserRef { id, username }) })
}

/// A user's second factors.
#[utoipa::path(get, path = "/api/admin/users/{id}/mfa/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "Their factors.", body = FactorsOut),
        (status = 403, description = "`permission_denied`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn user_factors_view(State(lk): State<Latchkey>, _: Staff, Path(id): Path<String>) -> Result<Response, ApiError> {
    let user = lk.admin().user(user_id(&id)?).await?;
    Ok(Json(FactorsOut::of(&lk, &user).await?).into_response())
}

/// Removes a user's second factors and ends their sessions.
#[utoipa::path(delete, path = "/api/admin/users/{id}/mfa/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "Done.", body = Detail),
        (status = 403, description = "`permission_denied`, `reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn reset_factors_view(
    State(admin): State<Admin>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = staff.acting();
    let detail = if admin.reset_factors(&who, user_id(&id)?).await? {
        "The second factors are removed and every session of the user has ended: they sign in with their password and can set up new ones."
    } else {
        "The user had no second factor."
    };
    Ok(Detail::json(detail).into_response())
}

/// A user's accounts at OpenID Connect providers.
#[utoipa::path(get, path = "/api/admin/users/{id}/identities/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "Their linked accounts, oldest first.", body = super::oidc::IdentityList),
        (status = 403, description = "`permission_denied`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn user_identities_view(
    State(lk): State<Latchkey>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = lk.admin().user(user_id(&id)?).await?;
    Ok(Json(super::oidc::IdentityList::of(&lk, &user).await?).into_response())
}

/// A user's live sessions.
#[utoipa::path(get, path = "/api/admin/users/{id}/sessions/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "Their sessions.", body = AdminSessionList),
        (status = 403, description = "`permission_denied`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]
async fn user_sessions_view(
    State(admin): State<Admin>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sessions = admin.user_sessions(user_id(&id)?, Some(&staff.session)).await?;
    let sessions = sessions.into_iter().map(admin_session_out).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(AdminSessionList { sessions }).into_response())
}

/// Ends every session of a user.
#[utoipa::path(delete, path = "/api/admin/users/{id}/sessions/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "How many ended.", body = Ended),
        (status = 403, description = "`permission_denied`, `reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody)))]

async fn end_user_sessions_view(
    State(admin): State<Admin>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let who = staff.acting();
    let ended = admin.end_user_sessions(&who, id).await?;
    Ok(Ended::json(ended_detail("Done.", ended), ended).into_response())
}

/// Every signed-in session by last activity, or one user's.
#[utoipa::path(get, path = "/api/admin/sessions/", tag = "admin", security(("session" = [])),
    params(
        ("user" = Option<String>, Query, description = "A username: only their sessions."),
        ("page" = Option<u64>, Query, description = "From 1."),
        ("pageSize" = Option<u32>, Query, description = "1 to 100, default 25.")),
    responses((status = 200, description = "One page.", body = PageOut<AdminSessionOut>),
        (status = 400, description = "`invalid_parameter`.", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `mfa_setup_required`.", body = ErrorBody)))]

async fn live_sessions_view(
    State(lk): State<Latchkey>,
    staff: Staff,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw)?;
    let page = p.page()?;
    let page = match p.get("user") {
        // One user's: listed whole (a user has few), then paged.
        Some(name) => {
            let Some(user) = lk.users().by_username(name).await.map_err(AuthError::from)? else {
                return page_json(
                    Page::<AdminSession> { count: 0, count_is_estimate: false, results: vec![] },
                    admin_session_out,
                );
            };
            let all = lk.admin().user_sessions(user.id, Some(&staff.session)).await?;
            Page { count: all.len() as u64, count_is_estimate: false, results: page.slice(&all) }
        }
        None => lk.admin().live_sessions(page, Some(&staff.session)).await?,
    };
    page_json(page, admin_session_out)
}

/// Ends one session.
#[utoipa::path(delete, path = "/api/admin/sessions/{id}/", tag = "admin", security(("session" = [])),
    params(("id" = String, Path, description = "`USER_ID.SESSION_ID`, as listed.")),
    responses((status = 200, description = "Ended.", body = Detail),
        (status = 403, description = "`permission_denied`, `reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`session_not_found`.", body = ErrorBody)))]
async fn end_session_view(
    State(admin): State<Admin>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = AdminSessionId::parse(&id).ok_or(AuthError::SessionNotFound)?;
    let who = staff.acting();
    admin.end_session(&who, &id).await?;
    Ok(Detail::json("Session ended.").into_response())
}

/// An audit event.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminEvent)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventOut {
    id: i64,
    #[schema(format = DateTime)]
    at: String,
    kind: String,
    actor: Option<String>,
    target: Option<String>,
    client_ip: Option<String>,
    detail: String,
    count: u32,
}

impl EventOut {
    fn from((id, e): (i64, AuditEvent)) -> Result<Self, ApiError> {
        Ok(Self {
            id,
            at: rfc3339(e.at)?,
            kind: e.event,
            // A user's own action has no separate actor: they are both.
            actor: e.actor.or_else(|| e.username.clone()),
            target: e.username,
            client_ip: e.client_ip,
            detail: e.detail,
            count: e.count,
        })
    }
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/admin/events/", tag = "admin", security(("session" = [])),
    params(
        ("user" = Option<String>, Query, description = "A username, as actor or target."),
        ("kind" = Option<String>, Query, description = "An event kind, e.g. `login_failed`."),
        ("page" = Option<u64>, Query, description = "From 1."),
        ("pageSize" = Option<u32>, Query, description = "1 to 100, default 25.")),
    responses((status = 200, description = "One page.", body = PageOut<EventOut>),
        (status = 400, description = "`invalid_parameter`.", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `mfa_setup_required`.", body = ErrorBody)))]
async fn events_view(State(admin): State<Admin>, _: Staff, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let p = Params::parse(raw)?;
    let page = p.page()?;
    page_json(admin.events(p.get("user"), p.get("kind"), page).await?, EventOut::from)
}

/// The admin routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new()
        .routes(routes!(list_users_view, create_user_view))
        .routes(routes!(user_view, update_user_view))
        .routes(routes!(set_password_view))
        .routes(routes!(user_factors_view, reset_factors_view))
        .routes(routes!(user_identities_view))
        .routes(routes!(user_sessions_view, end_user_sessions_view))
        .routes(routes!(live_sessions_view))
        .routes(routes!(end_session_view))
        .routes(routes!(events_view))
}
