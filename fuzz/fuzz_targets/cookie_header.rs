//! Cookie header parsing: arbitrary bytes in one or several Cookie headers
//! never panic, and whatever is found for a name is a value of that header.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.split(|b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(part) {
            headers.append(header::COOKIE, v);
        }
    }
    for name in ["sessionid", "csrftoken", "__Host-sessionid", ""] {
        if let Some(value) = latchkey::http::cookies::find(&headers, name) {
            assert!(!value.contains(';'), "a cookie value never spans a separator");
        }
    }
    let _ = latchkey::session::SessionKey::parse(&latchkey::http::cookies::find(&headers, "sessionid").unwrap_or_default());
});
