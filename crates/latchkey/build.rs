//! Finds the SQL migrations of each backend in `migrations/<backend>/`, so
//! adding one is adding its file: `NNNN_name.sql`, numbered from 1 without a
//! gap (the number is the version the database records, the rest its name).
//! Writes `$OUT_DIR/migrations_<backend>.rs`, the `&[Migration]` the backend
//! includes.

use std::{env, fs, path::Path};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for backend in ["sqlite", "postgres"] {
        let dir = root.join(backend);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable folder").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let mut list = String::from("&[\n");
        for (i, file) in files.iter().enumerate() {
            let stem = file.file_stem().and_then(|s| s.to_str()).expect("a UTF-8 file name");
            let (number, name) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{}: a migration is named NNNN_name.sql", file.display()));
            let version: u32 =
                number.parse().unwrap_or_else(|_| panic!("{}: a migration starts with its number", file.display()));
            assert!(
                version as usize == i + 1,
                "{}: migration {version} where {} was expected: versions count from 1 without a gap",
                file.display(),
                i + 1
            );
            list.push_str(&format!(
                "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({:?}) }},\n",
                file.display().to_string()
            ));
        }
        list.push(']');
        assert!(!files.is_empty(), "{}: no migrations", dir.display());
        fs::write(Path::new(&out).join(format!("migrations_{backend}.rs")), list).expect("OUT_DIR is writable");
    }
}
