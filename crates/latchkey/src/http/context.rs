//! Who is asking, and on which host: the request's own origin and the client
//! address, taking `X-Forwarded-*` into account only from trusted proxies,
//! and the `Host` allow-list (Django's `ALLOWED_HOSTS`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use http::{HeaderMap, header};

use super::ApiError;
use crate::{
    Latchkey,
    origin::{Origin, split_host_port},
    settings::Settings,
};

/// Facts about the current request, computed once by [`attach_context`]
/// (in the edge layer) and kept in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `http` or `https` as the client used it.
    pub scheme: &'static str,
    /// The host (and port) the client addressed, lower-case.
    pub host: String,
    /// The client address: the socket peer, or from `X-Forwarded-For` when
    /// the peer is a trusted proxy. `None` in in-process tests.
    pub client_ip: Option<IpAddr>,
    /// Whether the request (or the public URL) is HTTPS: turns on Django's
    /// strict Referer checking.
    pub secure: bool,
}

impl RequestContext {
    /// The request's own origin (`scheme://host`), if the host parses.
    pub fn origin(&self) -> Option<Origin> {
        let (host, port) = split_host_port(&self.host)?;
        Some(Origin::new(self.scheme, &host, port))
    }

    /// Builds the context from headers and the socket peer.
    pub fn from_parts(settings: &Settings, headers: &HeaderMap, uri_host: Option<&str>, peer: Option<IpAddr>) -> Self {
        let trusted = |ip: &IpAddr| settings.trusted_proxies.iter().any(|n| n.contains(ip));
        let from_proxy = peer.as_ref().is_some_and(trusted);
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        // An absolute-form request target (and HTTP/2's :authority) names the
        // host; a Host header beside it is ignored (RFC 9112 §3.2.2).
        let host = from_proxy
            .then(|| first("x-forwarded-host"))
            .flatten()
            .or_else(|| uri_host.map(str::to_owned))
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let scheme = match from_proxy.then(|| first("x-forwarded-proto")).flatten().as_deref() {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let client_ip = if from_proxy {
            // Walk the chain from the right: the first hop that is not one of
            // our proxies is the client. Anything left of it is client-supplied.
            let chain: Vec<IpAddr> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            chain.into_iter().rev().find(|ip| !trusted(ip)).or(peer)
        } else {
            peer
        };
        let secure = scheme == "https" || settings.public_url.as_ref().is_some_and(Origin::is_secure);
        Self { scheme, host, client_ip, secure }
    }
}

/// Whether `host` (which may carry a port) is allowed by `allowed`.
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
    let Some((domain, _)) = split_host_port(host) else {
        return false;
    };
    let domain = domain.trim_end_matches('.');
    allowed.iter().any(|pattern| {
        pattern == "*"
            || pattern == domain
            || pattern.strip_prefix('.').is_some_and(|suffix| domain == suffix || domain.ends_with(pattern.as_str()))
    })
}

/// Puts the [`RequestContext`] into the request's extensions, or answers
/// 400 for a host that is not allowed (Django's `ALLOWED_HOSTS`).
///
/// # Errors
/// The 400 for a disallowed host.
pub fn attach_context(lk: &Latchkey, req: &mut Request) -> Result<(), ApiError> {
    // RFC 9112 §3.2: more than one Host header is a 400, whichever would win.
    if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
        tracing::warn!(target: "latchkey::security", "request with more than one Host header");
        return Err(ApiError::bad_request("invalid_host", "A request must carry exactly one Host header."));
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ctx = RequestContext::from_parts(lk.settings(), req.headers(), req.uri().authority().map(|a| a.as_str()), peer);
    if !host_allowed(&lk.settings().allowed_hosts, &ctx.host) {
        let shown: String = ctx.host.chars().take(100).filter(|c| !c.is_control()).collect();
        tracing::warn!(target: "latchkey::security", host = %shown, "disallowed Host header");
        return Err(ApiError::bad_request(
            "disallowed_host",
            format!("Invalid HTTP_HOST header: '{shown}'. You may need to add it to allowed_hosts."),
        ));
    }
    req.extensions_mut().insert(ctx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Preset, RawSettings};

    fn settings(proxies: &[&str]) -> Settings {
        RawSettings {
            preset: Some(Preset::SameOrigin.as_str().into()),
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_ignored() {
        let h = headers(&[
            ("host", "localhost:8000"),
            ("x-forwarded-host", "evil.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        let ctx = RequestContext::from_parts(&settings(&[]), &h, None, Some("10.0.0.9".parse().unwrap()));
        assert_eq!((ctx.scheme, ctx.host.as_str()), ("http", "localhost:8000"));
        assert_eq!(ctx.client_ip, Some("10.0.0.9".parse().unwrap()));
    }

    #[test]
    fn forwarded_headers_from_trusted_proxies_are_believed() {
        let h = headers(&[
            ("host", "backend"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.2"),
        ]);
        let ctx = RequestContext::from_parts(&settings(&["10.0.0.0/8"]), &h, None, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(ctx.origin().unwrap().to_string(), "https://app.example.com");
        assert!(ctx.secure);
        assert_eq!(ctx.client_ip, Some("1.2.3.4".parse().unwrap()), "spoofed left-most entries are not the client");
    }

    #[test]
    fn host_patterns_follow_django() {
        let allowed = vec!["localhost".to_owned(), ".example.com".to_owned()];
        assert!(host_allowed(&allowed, "localhost:8000"));
        assert!(host_allowed(&allowed, "example.com"));
        assert!(host_allowed(&allowed, "a.example.com"));
        assert!(!host_allowed(&allowed, "evilexample.com"));
        assert!(!host_allowed(&allowed, "evil.com"));
        assert!(!host_allowed(&allowed, ""));
        assert!(!host_allowed(&allowed, "localhost:abc"));
        assert!(host_allowed(&["*".to_owned()], "anything.org"));
    }
}
