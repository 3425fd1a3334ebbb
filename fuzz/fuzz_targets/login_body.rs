//! The login body: any bytes under any content type give either a parsed
//! login or a 4xx error with a detail; never a panic, never a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => (Some("text/plain"), rest),
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
        }
    }
});
