//! CSRF token parsing and unmasking: never panics; a well-formed value
//! unmasks to a well-formed secret that its own masks match; a malformed one
//! is rejected by the format check before anything else touches it.
#![no_main]

use latchkey::csrf::token::{self, SECRET_LENGTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match token::check_format(s) {
        Ok(()) => {
            let secret = token::to_secret(s);
            assert_eq!(secret.len(), SECRET_LENGTH);
            assert!(token::check_format(&secret).is_ok());
            assert!(token::matches(s, &secret));
            assert!(token::matches(&token::mask(&secret), &secret));
        }
        Err(_) => assert!(s.len() != 32 && s.len() != 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric())),
    }
});
