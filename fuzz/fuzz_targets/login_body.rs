//! The login body through the typed-body extractor's rules (`Body<T>`:
//! content type, JSON object, field types, required fields): any bytes under
//! any content type give either a parsed login or a 4xx with a detail and
//! one of the extractor's codes; never a panic, never a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => (Some("text/plain"), rest),
        Some((2, rest)) => (Some("application/merge-patch+json; charset=utf-8"), rest),
        Some((_, rest)) => (Some("application/json"), rest),
        None => (None, data),
    };
    match latchkey::http::extract::parse_login_body(ct, body) {
        Ok(login) => {
            let _ = latchkey::users::Username::parse(&login.username);
        }
        Err(e) => {
            assert!(e.status().is_client_error(), "{e}");
            assert!(!e.detail().is_empty());
            assert!(
                ["parse_error", "missing_credentials", "unsupported_media_type"].contains(&e.code()),
                "an extractor refusal: {}",
                e.code()
            );
        }
    }
});
