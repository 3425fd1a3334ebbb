//! Web origins (`scheme://host[:port]`), parsed and normalised so that they can
//! be compared byte for byte: lower-case scheme and host, default ports dropped.

use std::fmt;

/// A parsed, normalised web origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Why a string is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The string has no `http://` or `https://` scheme.
    #[error("{0:?} is not an origin: it must start with http:// or https://")]
    Scheme(String),
    /// Something follows the host and port (a path, query or fragment).
    #[error("{0:?} is not an origin: remove the path after the host")]
    Path(String),
    /// Host or port cannot be parsed.
    #[error("{0:?} is not an origin: the host or port is malformed")]
    Malformed(String),
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// Splits `host[:port]` (with IPv6 brackets) into a lower-case host and a port.
pub(crate) fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.is_empty() || authority.contains(['@', '/', '?', '#', ' ', '\\']) {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", host.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._[]:*".contains(&b)) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

impl Origin {
    /// Parses `scheme://host[:port]`. A trailing `/` is tolerated; any other
    /// path is an error, because a browser's `Origin` header never has one.
    pub fn parse(s: &str) -> Result<Self, OriginError> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| OriginError::Scheme(s.to_owned()))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(OriginError::Scheme(s.to_owned()));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(OriginError::Path(s.to_owned()));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| OriginError::Malformed(s.to_owned()))?;
        Ok(Self::new(&scheme, &host, port))
    }

    /// Parses the origin part of a full URL (as found in `Referer`).
    pub fn from_url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Self::parse(&format!("{scheme}://{}", &rest[..end])).ok()
    }

    /// Builds an origin from parts, normalising the default port away.
    pub fn new(scheme: &str, host: &str, port: Option<u16>) -> Self {
        let scheme = scheme.to_ascii_lowercase();
        let port = port.filter(|p| *p != default_port(&scheme));
        Self { scheme, host: host.to_ascii_lowercase(), port }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The lower-case host (IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, `None` when it is the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether this is an `https` origin.
    pub fn is_secure(&self) -> bool {
        self.scheme == "https"
    }

    /// `host[:port]`, with the default port omitted.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether this origin is a `scheme://*.domain` pattern.
    pub fn is_wildcard(&self) -> bool {
        self.host.starts_with("*.")
    }

    /// Whether `other` matches this origin, where this origin may be a
    /// `scheme://*.domain` pattern (scheme-scoped, as Django's
    /// `CSRF_TRUSTED_ORIGINS`).
    pub fn matches(&self, other: &Origin) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(suffix) => other.host.len() > suffix.len() + 1 && other.host.ends_with(&format!(".{suffix}")),
            None => self.host == other.host,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_for_comparison() {
        let a = Origin::parse("HTTP://LocalHost:80").unwrap();
        assert_eq!(a.to_string(), "http://localhost");
        assert_eq!(Origin::parse("https://x.org:443/").unwrap().to_string(), "https://x.org");
        assert_eq!(Origin::parse("http://[::1]:5173").unwrap().to_string(), "http://[::1]:5173");
    }

    #[test]
    fn non_origins_are_rejected_with_a_reason() {
        assert!(matches!(Origin::parse("localhost:5173"), Err(OriginError::Scheme(_))));
        assert!(matches!(Origin::parse("ftp://x"), Err(OriginError::Scheme(_))));
        assert!(matches!(Origin::parse("http://x/path"), Err(OriginError::Path(_))));
        assert!(matches!(Origin::parse("https://["), Err(OriginError::Malformed(_))));
        assert!(matches!(Origin::parse("http://x:99999"), Err(OriginError::Malformed(_))));
        assert!(matches!(Origin::parse("null"), Err(OriginError::Scheme(_))));
    }

    #[test]
    fn wildcard_origins_match_subdomains_of_the_same_scheme_only() {
        let pat = Origin::parse("https://*.example.com").unwrap();
        assert!(pat.matches(&Origin::parse("https://a.example.com").unwrap()));
        assert!(!pat.matches(&Origin::parse("http://a.example.com").unwrap()));
        assert!(!pat.matches(&Origin::parse("https://example.com").unwrap()));
        assert!(!pat.matches(&Origin::parse("https://a.example.com.evil.org").unwrap()));
        assert!(!pat.matches(&Origin::parse("https://evilexample.com").unwrap()));
    }

    #[test]
    fn exact_origins_compare_the_port() {
        let o = Origin::parse("http://localhost:5173").unwrap();
        assert!(o.matches(&Origin::parse("http://localhost:5173").unwrap()));
        assert!(!o.matches(&Origin::parse("http://localhost:5174").unwrap()));
    }

    #[test]
    fn the_origin_of_a_referer_url_is_extracted() {
        let o = Origin::from_url("https://www.evil.org/somepage?x=1").unwrap();
        assert_eq!(o.to_string(), "https://www.evil.org");
        assert!(Origin::from_url("not a url").is_none());
    }
}
