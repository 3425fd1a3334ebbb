//! Embeds the built SPA (`frontend/dist`) into the binary when it exists.
//! Without it (a fresh clone without Node), the binary embeds nothing and
//! serves a page that says how to build the SPA, so `cargo build` and
//! `cargo test` never need npm.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, base, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path.canonicalize().unwrap_or(path)));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist =
        env::var_os("LATCHKEY_SPA_DIST").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../frontend/dist"));
    println!("cargo:rerun-if-env-changed=LATCHKEY_SPA_DIST");
    // Cargo reruns a build script on every build when a watched path does
    // not exist, so a missing build is watched through the nearest folder
    // that exists: building the SPA there creates it, which reruns this.
    let watched = dist.ancestors().find(|p| p.exists()).unwrap_or(&manifest);
    println!("cargo:rerun-if-changed={}", watched.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    let mut code = String::from(
        "/// Files of the built SPA, by path relative to its root.\npub static SPA_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in &files {
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("spa_files.rs");
    fs::write(out, code).expect("write spa_files.rs");
}
