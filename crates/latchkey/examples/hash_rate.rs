//! Benchmark helper: the raw Argon2id rate of this machine with the
//! configured parameters (defaults unless `LATCHKEY_PASSWORD_HASHER__*` are
//! set), one hashing thread per core, for SECONDS. Prints hashes per second.
//! bench/run.py compares logins per second against it.
//!
//! `cargo run --release -p latchkey --example hash_rate -- SECONDS`

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

fn env(name: &str, default: u32) -> u32 {
    std::env::var(format!("LATCHKEY_PASSWORD_HASHER__{name}")).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    // The settings' defaults (see docs/configuration.md).
    let defaults = latchkey::settings::RawSettings::default().validate().expect("defaults are valid").password_hasher;
    let (m, t, p) = (
        env("MEMORY_KIB", defaults.memory_kib),
        env("ITERATIONS", defaults.iterations),
        env("PARALLELISM", defaults.parallelism),
    );
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let counts: Vec<u64> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let argon =
                    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(m, t, p, None).expect("params"));
                let mut out = [0u8; 32];
                let mut n = 0;
                while Instant::now() < deadline {
                    argon.hash_password_into(b"bench-password-1234", b"sixteen-byte-salt", &mut out).expect("hash");
                    n += 1;
                }
                n
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("hash thread"))
        .collect();
    let total: u64 = counts.iter().sum();
    println!("{:.2}", total as f64 / start.elapsed().as_secs_f64());
}
