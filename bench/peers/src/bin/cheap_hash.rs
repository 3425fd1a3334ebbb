//! Prints an Argon2id PHC hash of the first argument with tiny parameters,
//! so bench/run.py can seed thousands of axum-login sessions by logging in
//! without paying real hashes. Only the seeding uses it; password_auth
//! verifies whatever parameters a PHC string carries.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version, password_hash::SaltString};

fn main() {
    let password = std::env::args().nth(1).expect("usage: cheap_hash PASSWORD");
    let salt = SaltString::from_b64("YmVuY2hzYWx0YmVuY2g").expect("valid salt");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).expect("params"));
    println!("{}", argon.hash_password(password.as_bytes(), &salt).expect("hash"));
}
