//! The HTTP Basic header: any bytes give credentials, "not Basic", or a 403
//! with DRF's message; never a panic.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let Ok(v) = HeaderValue::from_bytes(data) else { return };
    headers.insert(header::AUTHORIZATION, v);
    match latchkey::http::extract::basic_credentials(&headers) {
        Ok(Some((user, _password))) => assert!(!user.contains(':'), "the username ends at the first colon"),
        Ok(None) => {}
        Err(e) => assert_eq!(e.status(), http::StatusCode::FORBIDDEN),
    }
});
