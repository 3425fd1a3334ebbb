//! Embeds the built SPA (`frontend/dist`) and admin (`frontend/dist-admin`)
//! into the binary when they exist.
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

/// Writes `pub static $name` listing every file of `dist` (when it holds an
/// `index.html`), watching it so a new build is picked up.
fn embed(code: &mut String, name: &str, env_var: &str, default: &Path, manifest: &Path) {
    let dist = env::var_os(env_var).map(PathBuf::from).unwrap_or_else(|| default.to_path_buf());
    println!("cargo:rerun-if-env-changed={env_var}");
    // Cargo reruns a build script on every build when a watched path does
    // not exist, so a missing build is watched through the nearest folder
    // that exists: building there creates it, which reruns this.
    let watched = dist.ancestors().find(|p| p.exists()).unwrap_or(manifest);
    println!("cargo:rerun-if-changed={}", watched.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    code.push_str(&format!(
        "/// Files of the build in {}, by path relative to its root.\npub static {name}: &[(&str, &[u8])] = &[\n",
        default.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    ));
    for (rel, path) in &files {
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let frontend = manifest.join("../../frontend");
    let mut code = String::new();
    embed(&mut code, "SPA_FILES", "LATCHKEY_SPA_DIST", &frontend.join("dist"), &manifest);
    embed(&mut code, "ADMIN_FILES", "LATCHKEY_ADMIN_DIST", &frontend.join("dist-admin"), &manifest);
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("spa_files.rs");
    fs::write(out, code).expect("write spa_files.rs");
}
