//! Forward auth for a reverse proxy's `auth_request` (nginx) or
//! `forward_auth` (Caddy, Traefik): `GET /api/auth/verify/` answers 204 with
//! who the browser is, or 401/403, so the proxy can guard an upstream that
//! has no login of its own.
//!
//! It sits outside the API's CSRF and session layer on purpose: it only
//! reads. It never sets or deletes a cookie (the proxy would pass a
//! `Set-Cookie` of a subrequest nowhere useful, and a guard must not sign
//! anyone out), never issues a CSRF token, and reads the session and the
//! user through the same cache as every authenticated request.

use axum::{
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Latchkey,
    auth::AuthError,
    http::{ApiError, cookies, openapi::ErrorBody},
    session::Session,
};

/// The paths of this router.
pub const PATHS: &[&str] = &["/api/auth/verify/"];

/// Who this browser is, for a reverse proxy's `auth_request`: never sets a
/// cookie, never checks CSRF.
#[utoipa::path(get, path = "/api/auth/verify/", tag = "forward auth", security(("session" = [])),
    params(("staff" = Option<String>, Query, description = "`1` or `true`: only active staff pass (403 otherwise).")),
    responses(
        (status = 204, description = "Signed in.", headers(
            ("X-Auth-Request-User" = String, description = "The username, percent-encoded beyond RFC 3986's unreserved characters."),
            ("X-Auth-Request-Email" = String, description = "The address (\"\" when none), encoded alike."),
            ("X-Auth-Request-Groups" = String, description = "`staff`, `superuser`, comma-separated (may be empty)."))),
        (status = 400, description = "`invalid_parameter`: `staff` is not 1 or 0.", body = ErrorBody),
        (status = 401, description = "`not_authenticated`: no valid session.", body = ErrorBody),
        (status = 403, description = "`permission_denied` (`?staff=1`, not staff) or `mfa_setup_required`.", body = ErrorBody)))]
async fn verify_view(
    State(lk): State<Latchkey>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    // `?staff=1` requires an active staff user.
    let mut staff_only = false;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            ("staff", "1" | "true") => staff_only = true,
            ("staff", "0" | "false" | "") => staff_only = false,
            ("staff", _) => return Err(ApiError::bad_request("invalid_parameter", "staff must be 1 or 0.")),
            _ => {}
        }
    }
    let cookie = cookies::find(&headers, &lk.settings().session.cookie.name);
    // A session of its own, never committed: nothing is written back.
    let session = Session::new(lk.sessions().clone(), lk.clock().clone(), &lk.settings().session, cookie);
    let Some(user) = lk.session_auth().session_user(&session).await? else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "not_authenticated", "Not signed in."));
    };
    if lk.factors().mfa_setup_required(&user).await? {
        return Err(AuthError::MfaSetupRequired.into());
    }
    if staff_only && !user.is_staff {
        return Err(ApiError::forbidden("permission_denied", "Staff users only."));
    }
    let mut groups = Vec::new();
    if user.is_staff {
        groups.push("staff");
    }
    if user.is_superuser {
        groups.push("superuser");
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    // Header values cannot carry every character a username or an address
    // may hold: those are percent-encoded (RFC 3986 unreserved kept).
    h.insert("x-auth-request-user", header_value(&user.username));
    h.insert("x-auth-request-email", header_value(&user.email));
    h.insert("x-auth-request-groups", header_value(&groups.join(",")));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

fn header_value(s: &str) -> HeaderValue {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~@+,".contains(&b);
    let encoded: String =
        s.bytes().map(|b| if safe(b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static(""))
}

/// The forward-auth route, without the API's CSRF and session layer (see
/// the module's documentation); [`crate::http::router`] adds the rest.
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new().routes(routes!(verify_view))
}

#[cfg(test)]
mod tests {
    use super::header_value;

    #[test]
    fn header_values_keep_plain_names_and_encode_the_rest() {
        assert_eq!(header_value("demo"), "demo");
        assert_eq!(header_value("ada.l+x@example.com"), "ada.l+x@example.com");
        assert_eq!(header_value("демо user"), "%D0%B4%D0%B5%D0%BC%D0%BE%20user");
        assert_eq!(header_value("a\r\nb"), "a%0D%0Ab");
    }
}
