//! The metrics listener of a real server: off by default, on its own port
//! when `metrics.bind` is set, never on the public one; a scrape shows the
//! counters moving with the traffic.

use std::io::BufRead;

use crate::helpers::*;

/// `latchkey serve` with a metrics listener; (the server, its metrics URL).
fn serve_with_metrics(dir: &std::path::Path, preset: &str) -> (Served, String) {
    let mut cmd = latchkey(dir);
    cmd.args(["serve", "--preset", preset, "--bind", "127.0.0.1:0"]).env("LATCHKEY_METRICS__BIND", "127.0.0.1:0");
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let url = |line: &str| {
        let rest = line.split("http://").nth(1).unwrap_or_else(|| panic!("no address in {line:?}"));
        format!("http://{}", rest.split('/').next().unwrap())
    };
    let served = Served::from_child(child, url(&first));
    assert!(second.contains("/metrics"), "{second:?}");
    (served, format!("{}/metrics", url(&second)))
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn a_scrape_of_the_metrics_port_shows_the_counters_move_and_the_public_port_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).arg("migrate"));
    assert!(ok, "{err}");
    let (ok, _, err) = run(latchkey(dir.path())
        .args(["createsuperuser", "--username", "ada", "--no-input"])
        .env("LATCHKEY_PASSWORD", "correct horse battery staple 9"));
    assert!(ok, "{err}");
    for preset in ["embedded", "same-origin"] {
        let (server, metrics) = serve_with_metrics(dir.path(), preset);
        let c = reqwest::Client::new();
        let res = c.get(&metrics).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
        let before = res.text().await.unwrap();
        let jar = reqwest::Client::builder().cookie_store(true).build().unwrap();
        assert_eq!(http_login(&jar, &server.url, "ada", "wrong").await, 400);
        assert_eq!(http_login(&jar, &server.url, "ada", "correct horse battery staple 9").await, 200);
        let after = c.get(&metrics).send().await.unwrap().text().await.unwrap();
        for (series, moved) in [
            ("latchkey_logins_total{via=\"password\",outcome=\"failed\"}", 1.0),
            ("latchkey_logins_total{via=\"password\",outcome=\"ok\"}", 1.0),
            ("latchkey_http_requests_total{route=\"/api/login/\",method=\"POST\",status=\"200\"}", 1.0),
            ("latchkey_http_requests_total{route=\"/api/csrf/\",method=\"GET\",status=\"200\"}", 2.0),
        ] {
            assert_eq!(sample(&after, series) - sample(&before, series), moved, "{preset} {series}\n{after}");
        }
        assert!(after.contains("latchkey_sessions_active "), "{after}");
        dashboard_names_only_real_metrics(&after);
        assert!(after.contains("latchkey_cache_hits_total "), "{after}");
        // The public port never answers metrics, whatever its fallback.
        let public = c.get(format!("{}/metrics", server.url)).send().await.unwrap();
        let body = public.text().await.unwrap();
        assert!(!body.contains("latchkey_"), "{preset}: {body}");
        // And the metrics port answers nothing else.
        let other = c.get(metrics.replace("/metrics", "/api/session/")).send().await.unwrap();
        assert_eq!(other.status(), 404, "{preset}");
    }
}

#[test]
fn check_says_whether_metrics_are_served_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(latchkey(dir.path()).arg("check"));
    assert!(ok, "{err}");
    assert!(out.contains("metrics:           off"), "{out}");
    let (ok, out, err) = run(latchkey(dir.path()).arg("check").env("LATCHKEY_METRICS__BIND", "127.0.0.1:9100"));
    assert!(ok, "{err}");
    assert!(out.contains("http://127.0.0.1:9100/metrics"), "{out}");
    let (ok, _, err) = run(latchkey(dir.path())
        .args(["check", "--bind", "127.0.0.1:9100"])
        .env("LATCHKEY_METRICS__BIND", "127.0.0.1:9100"));
    assert!(!ok && err.contains("public port"), "{err}");
}

/// Every `latchkey_…` name in deploy/grafana/latchkey.json is a series of a real scrape.
fn dashboard_names_only_real_metrics(scrape: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/latchkey.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("latchkey_") {
                let name: String = rest[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[i + name.len()..];
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        // A family with no sample yet (no CSRF refusal so far) is still declared.
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        let sampled = scrape.lines().any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")));
        let declared = scrape.lines().any(|l| l.starts_with(&format!("# TYPE {family} ")));
        assert!(sampled || declared, "the dashboard queries {name}, which the server does not export");
    }
}
