//! The deployment files stay faithful to the topologies the e2e suite tests.

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_nginx_template_has_exactly_the_variables_the_tests_fill_in() {
    let conf = read("deploy/nginx/nginx.conf");
    let vars: std::collections::BTreeSet<&str> =
        conf.match_indices("${").map(|(i, _)| &conf[i..i + conf[i..].find('}').unwrap() + 1]).collect();
    assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["${BACKEND}", "${FRONTEND}", "${LISTEN}"]);
    for needle in
        ["location /api", "location /admin", "X-Forwarded-Host", "X-Forwarded-Proto", "proxy_set_header Host $host"]
    {
        assert!(conf.contains(needle), "nginx.conf lacks {needle}");
    }
    // The topologies are where the e2e suite starts nginx.
    let e2e = read("e2e/topologies.mjs");
    assert!(
        e2e.contains(r#"path.join(ROOT, "deploy/nginx", file)"#) && e2e.contains(r#"file = "nginx.conf""#),
        "the e2e suite must use the shipped nginx file"
    );
}

#[test]
fn the_forward_auth_example_is_the_file_the_e2e_suite_runs_and_guards_its_upstream() {
    let conf = read("deploy/nginx/forward-auth.conf");
    let vars: std::collections::BTreeSet<&str> =
        conf.match_indices("${").map(|(i, _)| &conf[i..i + conf[i..].find('}').unwrap() + 1]).collect();
    assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["${BACKEND}", "${FRONTEND}", "${LISTEN}", "${PROTECTED}"]);
    for needle in [
        "auth_request /_latchkey_verify;",
        "proxy_pass http://latchkey_backend/api/auth/verify/;",
        "proxy_pass_request_body off;",
        "proxy_set_header X-Auth-Request-User $auth_user;",
        "proxy_set_header Cookie \"\";",
        "error_page 401 = @signin;",
        "return 302 /?next=$request_uri;",
    ] {
        assert!(conf.contains(needle), "forward-auth.conf lacks {needle}");
    }
    // The topologies are where the e2e suite starts nginx.
    let e2e = read("e2e/topologies.mjs");
    assert!(e2e.contains(r#""forward-auth.conf""#), "the e2e suite must run the shipped example");
}

#[test]
fn the_same_origin_compose_file_uses_the_tested_nginx_file_and_ports() {
    let compose = read("deploy/docker-compose.yml");
    for needle in [
        "./nginx/nginx.conf:",
        "\"81:80\"",
        "LISTEN: \"80\"",
        "BACKEND: backend:8000",
        "FRONTEND: frontend:80",
        "--preset same-origin",
        "--allowed-origin http://localhost:81",
        "latchkey migrate",
        "latchkey-data:/data",
        "envsubst '$$LISTEN $$BACKEND $$FRONTEND'",
    ] {
        assert!(compose.contains(needle), "docker-compose.yml lacks {needle}");
    }
}

#[test]
fn the_cross_origin_compose_file_matches_the_tutorials_ports_and_flags() {
    let compose = read("deploy/docker-compose.cross-origin.yml");
    for needle in [
        "\"8000:8000\"",
        "\"5173:80\"",
        "--preset cross-origin",
        "--allowed-origin http://localhost:5173",
        "VITE_API_BASE: http://localhost:8000",
        "VITE_MODE: cross-origin",
    ] {
        assert!(compose.contains(needle), "docker-compose.cross-origin.yml lacks {needle}");
    }
}

#[test]
fn the_dockerfile_builds_the_spa_before_the_server_so_it_is_embedded() {
    let docker = read("deploy/Dockerfile");
    let spa = docker.find("AS spa").unwrap();
    let server = docker.find("AS server").unwrap();
    assert!(spa < server);
    assert!(docker.contains("COPY --from=spa /spa /src/frontend/dist"), "the server stage must see frontend/dist");
    assert!(docker.contains("--locked"));
}

#[test]
fn the_scale_compose_file_uses_the_tested_scale_nginx_file_and_shared_stores() {
    let compose = read("deploy/docker-compose.scale.yml");
    for needle in [
        "./nginx/nginx.scale.conf:",
        "BACKEND_1: latchkey-1:8000",
        "BACKEND_2: latchkey-2:8000",
        "LATCHKEY_DATABASE_URL: postgres://",
        "LATCHKEY_SESSION_STORE_URL: redis://",
        "latchkey migrate && exec latchkey serve",
        "\"81:80\"",
    ] {
        assert!(compose.contains(needle), "docker-compose.scale.yml lacks {needle}");
    }
    let conf = read("deploy/nginx/nginx.scale.conf");
    for needle in ["${BACKEND_1}", "${BACKEND_2}", "proxy_next_upstream error timeout", "X-Upstream"] {
        assert!(conf.contains(needle), "nginx.scale.conf lacks {needle}");
    }
    assert!(read("crates/latchkey-server/tests/api/faults.rs").contains("deploy/nginx/nginx.scale.conf"));
}
