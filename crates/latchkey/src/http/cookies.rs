//! Reading the `Cookie` header and writing `Set-Cookie`, through the `cookie`
//! crate so no cookie syntax is hand-parsed.

use cookie::{Cookie, SameSite as CSameSite, time::OffsetDateTime};
use http::{HeaderMap, HeaderValue, header};

use crate::settings::{CookieSettings, SameSite};

/// The value of the first cookie called `name` across all `Cookie` headers.
///
/// The first one wins because browsers order more specific cookies (longer
/// path) first; a cookie tossed in by a sibling subdomain with a broader scope
/// therefore cannot shadow ours.
pub fn find(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        // Not split_parse_encoded: every value we read (session keys, CSRF
        // secrets) is alphanumeric, so decoding could only turn junk into
        // other junk, at a cost on every request.
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

fn base(settings: &CookieSettings, value: String) -> Cookie<'static> {
    let mut c = Cookie::build((settings.name.clone(), value))
        .path(settings.path.clone())
        .http_only(settings.http_only)
        .secure(settings.secure)
        .same_site(match settings.same_site {
            SameSite::Strict => CSameSite::Strict,
            SameSite::Lax => CSameSite::Lax,
            SameSite::None => CSameSite::None,
        })
        .build();
    if let Some(d) = &settings.domain {
        c.set_domain(d.clone());
    }
    c
}

/// A `Set-Cookie` value that stores `value` with the configured attributes.
pub fn set(settings: &CookieSettings, value: &str, now: OffsetDateTime) -> HeaderValue {
    let mut c = base(settings, value.to_owned());
    if let Some(age) = settings.age {
        let age = cookie::time::Duration::seconds(age.as_secs() as i64);
        c.set_max_age(age);
        // Expires as well as Max-Age, as Django does, for old user agents.
        c.set_expires(now + age);
    }
    HeaderValue::from_str(&c.encoded().to_string()).expect("cookie attributes are validated settings")
}

/// A `Set-Cookie` value that deletes the cookie (empty, expired, same scope).
pub fn delete(settings: &CookieSettings) -> HeaderValue {
    let mut c = base(settings, String::new());
    c.set_max_age(cookie::time::Duration::ZERO);
    c.set_expires(OffsetDateTime::UNIX_EPOCH);
    HeaderValue::from_str(&c.encoded().to_string()).expect("cookie attributes are validated settings")
}

/// Adds `Vary: Cookie` unless already present: responses that depend on the
/// cookies must not be served from a shared cache to another user.
pub fn vary_cookie(headers: &mut HeaderMap) {
    let present = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("cookie")));
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CookieSettings {
        CookieSettings {
            name: "sessionid".into(),
            age: Some(std::time::Duration::from_secs(60)),
            domain: None,
            path: "/".into(),
            secure: false,
            http_only: true,
            same_site: SameSite::Strict,
        }
    }

    #[test]
    fn the_first_cookie_of_a_name_wins_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; sessionid=first"));
        h.append(header::COOKIE, HeaderValue::from_static("sessionid=second"));
        assert_eq!(find(&h, "sessionid").as_deref(), Some("first"));
        assert_eq!(find(&h, "missing"), None);
    }

    #[test]
    fn garbage_cookie_headers_are_ignored() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_bytes(b";;==; =x; sessionid=ok").unwrap());
        assert_eq!(find(&h, "sessionid").as_deref(), Some("ok"));
    }

    #[test]
    fn set_cookie_carries_every_configured_attribute() {
        let v = set(&settings(), "abc", OffsetDateTime::UNIX_EPOCH);
        let s = v.to_str().unwrap();
        assert!(s.starts_with("sessionid=abc"), "{s}");
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60", "Expires="] {
            assert!(s.contains(part), "{part} missing in {s}");
        }
        assert!(!s.contains("Secure"));
    }

    #[test]
    fn deletion_cookie_is_empty_and_expired() {
        let s = delete(&settings()).to_str().unwrap().to_owned();
        assert!(s.starts_with("sessionid=;"), "{s}");
        assert!(s.contains("Max-Age=0") && s.contains("1970"), "{s}");
    }
}
