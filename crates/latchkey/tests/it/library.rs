//! The library as a product: what a newcomer copies stays short.

#[test]
fn adding_latchkey_to_an_existing_app_takes_at_most_30_lines_of_code() {
    let example = include_str!("../../examples/existing_app.rs");
    let code: Vec<&str> = example.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).collect();
    assert!(code.len() <= 30, "examples/existing_app.rs has {} lines of code:\n{}", code.len(), code.join("\n"));
    // It is the real thing: Latchkey's routes and layers around the app's own.
    for needed in ["Latchkey::open_migrated", "latchkey::http::app", "ApiLayer", "CurrentUser", "axum::serve"] {
        assert!(example.contains(needed), "{needed}");
    }
}
