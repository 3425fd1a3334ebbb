//! Prints an Argon2id PHC hash of the password argument. By default with
//! tiny parameters, so bench/run.py can seed thousands of axum-login
//! sessions by logging in without paying real hashes (password_auth
//! verifies whatever parameters a PHC string carries). With `--default`,
//! with the argon2 crate's default parameters — what password_auth's
//! `generate_hash` uses — for the account the login scenarios use.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version, password_hash::SaltString};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (params, password) = match args.as_slice() {
        [flag, password] if flag == "--default" => (Params::default(), password),
        [password] => (Params::new(64, 1, 1, None).expect("params"), password),
        _ => panic!("usage: cheap_hash [--default] PASSWORD"),
    };
    let salt = SaltString::from_b64("YmVuY2hzYWx0YmVuY2g").expect("valid salt");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    println!("{}", argon.hash_password(password.as_bytes(), &salt).expect("hash"));
}
