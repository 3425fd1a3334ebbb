//! Signing in with OpenID Connect providers: `GET /api/oidc/providers/`
//! (the SPA's buttons), `GET /api/oidc/{id}/start/` and
//! `GET /api/oidc/{id}/callback/` (browser navigations, answered with
//! redirects), `POST /api/oidc/{id}/link/` (the Account page's "Link"),
//! `GET /api/oidc/identities/` and `DELETE /api/oidc/identities/{id}/`.
//! Without the `oidc` feature only the list routes are served.

#[cfg(feature = "oidc")]
use axum::extract::RawQuery;
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
#[cfg(feature = "oidc")]
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::rfc3339;
use crate::{
    Latchkey, Oidc,
    http::{
        ApiError,
        extract::{Client, SessionUser},
        openapi::{Detail, ErrorBody},
    },
    oidc::Identity,
    session::Session,
    settings::OidcProvider,
    state::OidcError,
};
#[cfg(feature = "oidc")]
use crate::{csrf::CsrfToken, http::cookies, oidc::Failure, state::CallbackParams};

/// The fixed paths of this router (the provider's routes and an identity's
/// are matched by prefix, see [`PREFIXES`]).
pub const PATHS: &[&str] = &["/api/oidc/providers/", "/api/oidc/identities/"];

/// Prefixes under which one more segment names a resource (an identity).
pub const PREFIXES: &[&str] = &["/api/oidc/identities/"];

/// A provider the SPA shows a button for.
#[derive(Serialize, ToSchema)]
#[schema(as = OidcProvider)]
pub(crate) struct ProviderOut {
    /// In the routes (`/api/oidc/{id}/start/`).
    id: String,
    /// The button's text.
    name: String,
}

/// The configured providers.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProviderList {
    /// In the settings' order; empty when none is configured.
    providers: Vec<ProviderOut>,
}

/// A provider account linked to the user.
#[derive(Serialize, ToSchema)]
#[schema(as = LinkedIdentity)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdentityOut {
    /// For unlinking.
    id: i64,
    /// The provider's id.
    provider: String,
    /// The provider's name (its id when it is no longer configured).
    provider_name: String,
    /// The address the provider gave when linked.
    email: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

impl IdentityOut {
    pub(crate) fn from(i: Identity, providers: &[OidcProvider]) -> Result<Self, ApiError> {
        let provider_name =
            providers.iter().find(|p| p.id == i.provider).map_or(i.provider.clone(), |p| p.name.clone());
        Ok(Self {
            id: i.id,
            provider_name,
            email: i.email,
            created_at: rfc3339(i.created_at)?,
            last_used_at: i.last_used_at.map(rfc3339).transpose()?,
            provider: i.provider,
        })
    }
}

/// The user's linked identities.
#[derive(Serialize, ToSchema)]
pub(crate) struct IdentityList {
    /// Oldest first.
    identities: Vec<IdentityOut>,
}

impl IdentityList {
    pub(crate) async fn of(lk: &Latchkey, user: &crate::users::User) -> Result<Self, ApiError> {
        let identities = lk.oidc().identities_of(user).await?;
        let identities = identities
            .into_iter()
            .map(|i| IdentityOut::from(i, lk.oidc().providers()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { identities })
    }
}

/// Where to send the browser to link an account.
#[cfg(feature = "oidc")]
#[derive(Serialize, ToSchema)]
pub(crate) struct LinkStarted {
    /// The provider's authorization URL: navigate to it (`window.location`).
    location: String,
}

/// The providers users may sign in with.
#[utoipa::path(get, path = "/api/oidc/providers/", tag = "oidc",
    responses((status = 200, description = "The providers, for the sign-in buttons.", body = ProviderList)))]
async fn providers_view(State(oidc): State<Oidc>) -> Json<ProviderList> {
    let providers = oidc.providers().iter().map(|p| ProviderOut { id: p.id.clone(), name: p.name.clone() }).collect();
    Json(ProviderList { providers })
}

/// The accounts at providers linked to the signed-in user.
#[utoipa::path(get, path = "/api/oidc/identities/", tag = "oidc", security(("session" = [])),
    responses((status = 200, description = "The linked accounts.", body = IdentityList),
        (status = 403, description = "`mfa_setup_required`.", body = ErrorBody)))]
async fn identities_view(State(lk): State<Latchkey>, SessionUser(user): SessionUser) -> Result<Response, ApiError> {
    Ok(Json(IdentityList::of(&lk, &user).await?).into_response())
}

/// Unlinks one of the user's provider accounts (a recent sign-in required);
/// refused when it is the account's last way to sign in.
#[utoipa::path(delete, path = "/api/oidc/identities/{id}/", tag = "oidc", security(("session" = [])),
    params(("id" = i64, Path, description = "The identity's id, as listed.")),
    responses((status = 200, description = "Unlinked.", body = Detail),
        (status = 403, description = "`reauthentication_required` or `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`identity_not_found`.", body = ErrorBody),
        (status = 409, description = "`last_sign_in_method`: no password, passkey or other linked account would be left.", body = ErrorBody)))]
async fn unlink_view(
    State(oidc): State<Oidc>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = id.parse::<i64>().map_err(|_| OidcError::IdentityNotFound)?;
    oidc.unlink_identity(&session, &user, id, &client).await?;
    Ok(Detail::json("Unlinked.").into_response())
}

/// A redirect that also sets or deletes the flow cookie.
#[cfg(feature = "oidc")]
fn redirect(location: &str, cookie: Option<HeaderValue>) -> Response {
    let Ok(loc) = HeaderValue::from_str(location) else {
        return ApiError::internal("a redirect location that is not a header value").into_response();
    };
    let mut res = (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response();
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[cfg(feature = "oidc")]
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// Starts signing in at a provider: a redirect to its authorization
/// endpoint, with the flow cookie set.
#[cfg(feature = "oidc")]
#[utoipa::path(get, path = "/api/oidc/{id}/start/", tag = "oidc",
    params(("id" = String, Path, description = "The provider's id."),
        ("next" = Option<String>, Query, description = "A path on the SPA to land on once signed in (one leading `/`; anything else is ignored).")),
    responses((status = 302, description = "To the provider's authorization endpoint (with `state`, `nonce` and a PKCE S256 challenge); or, when the start fails, to the SPA with `?loginError=provider_unavailable` or `throttled`.",
            headers(("Location" = String, description = "Where to go."), ("Set-Cookie" = String, description = "The flow cookie (HttpOnly, SameSite=Lax, 10 minutes)."))),
        (status = 404, description = "`provider_not_found`.", body = ErrorBody)))]
async fn start_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let next = query_pairs(query.as_deref()).find(|(k, _)| k == "next").map(|(_, v)| v);
    match lk.oidc().start(&id, next.as_deref(), None, &client).await {
        Ok(started) => Ok(redirect(&started.location, Some(flow_cookie(&lk, &started)))),
        Err(OidcError::Failed(f)) => Ok(redirect(&login_error(&lk, f), None)),
        Err(OidcError::Throttled(_)) => Ok(redirect(&login_error(&lk, Failure::Throttled), None)),
        Err(e) => Err(e.into()),
    }
}

/// The `Set-Cookie` that keeps a started flow's key in the browser.
#[cfg(feature = "oidc")]
fn flow_cookie(lk: &Latchkey, started: &crate::state::OidcStarted) -> HeaderValue {
    cookies::set(&lk.oidc().flow_cookie(), &started.flow_key, lk.clock().now())
}

#[cfg(feature = "oidc")]
fn login_error(lk: &Latchkey, f: Failure) -> String {
    format!("{}/?loginError={}", lk.settings().accounts.frontend_url, f.code())
}

/// The provider's redirect back (register `{public_url}/api/oidc/{id}/callback/`
/// at the provider). Signs the browser in, or sends it to the SPA with the
/// reason; the flow cookie is deleted either way.
#[cfg(feature = "oidc")]
#[utoipa::path(get, path = "/api/oidc/{id}/callback/", tag = "oidc",
    params(("id" = String, Path, description = "The provider's id."),
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("state" = Option<String>, Query, description = "The state sent at the start."),
        ("iss" = Option<String>, Query, description = "The issuer (RFC 9207), checked when sent."),
        ("error" = Option<String>, Query, description = "The provider's error, e.g. `access_denied`.")),
    responses((status = 302, description = "Signed in (a new session key and CSRF secret; or the second-factor step pending) to `next` on the SPA; linked, to `/account?linked={id}`; or refused, to `/?loginError=<code>` (`/account?linkError=<code>` when linking): `access_denied`, `provider_error`, `provider_misconfigured`, `provider_unavailable`, `state_invalid`, `issuer_mismatch`, `token_invalid`, `account_inactive`, `link_required`, `signup_closed`, `email_required`, `email_unverified`, `identity_taken`, `link_invalid`.",
        headers(("Location" = String, description = "Where to go.")))))]
async fn callback_view(
    State(oidc): State<Oidc>,
    Client(client): Client,
    headers: HeaderMap,
    session: Session,
    csrf: CsrfToken,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut params = CallbackParams::default();
    for (k, v) in query_pairs(query.as_deref()) {
        let slot = match k.as_str() {
            "code" => &mut params.code,
            "state" => &mut params.state,
            "error" => &mut params.error,
            "error_description" => &mut params.error_description,
            "iss" => &mut params.iss,
            _ => continue,
        };
        // A repeated parameter is suspicious: keep the first, as the provider sent it.
        slot.get_or_insert(v);
    }
    let flow_cookie = oidc.flow_cookie();
    let key = cookies::find(&headers, &flow_cookie.name);
    let location = oidc.callback(&id, &params, key.as_deref(), &session, &csrf, &client).await?;
    Ok(redirect(&location, key.map(|_| cookies::delete(&flow_cookie))))
}

/// Starts linking a provider account to the signed-in user (a recent
/// sign-in required): navigate to the answer's `location`.
#[cfg(feature = "oidc")]
#[utoipa::path(post, path = "/api/oidc/{id}/link/", tag = "oidc", security(("session" = [])),
    params(("id" = String, Path, description = "The provider's id.")),
    responses((status = 200, description = "The flow cookie is set; go to `location`.", body = LinkStarted),
        (status = 403, description = "`reauthentication_required` or `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`provider_not_found`.", body = ErrorBody),
        (status = 503, description = "`provider_unavailable`.", body = ErrorBody)))]
async fn link_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    lk.oidc().provider(&id).ok_or(OidcError::UnknownProvider)?;
    lk.session_auth().require_recent_authentication(&session).await?;
    let started = lk.oidc().start(&id, None, Some(&user), &client).await?;
    let cookie = flow_cookie(&lk, &started);
    let mut res = Json(LinkStarted { location: started.location }).into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

/// The OpenID Connect routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    let r = OpenApiRouter::new()
        .routes(routes!(providers_view))
        .routes(routes!(identities_view))
        .routes(routes!(unlink_view));
    #[cfg(feature = "oidc")]
    let r = r.routes(routes!(start_view)).routes(routes!(callback_view)).routes(routes!(link_view));
    r
}
