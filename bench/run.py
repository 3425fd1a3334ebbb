#!/usr/bin/env python3
"""Latchkey's benchmark: the same scenarios against Latchkey, the tutorial's
Django backend and the bare-axum ceiling, one after another in one run, on
loopback, with wrk. Writes bench/RESULTS.md (absolute figures and ratios,
with the date, commit and machine).

Every server starts fresh on a free port and is stopped by PID, also on
failure. Each wrk run is bounded (BENCH_SECONDS, default 10, at most 15).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SECONDS = min(int(os.environ.get("BENCH_SECONDS", "10")), 15)
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "10000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
USER, PASSWORD = "bench", "bench-password-1234"
procs = []


def sh(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, env=None, cwd=None):
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_ready(url, timeout=30):
    start_t = time.monotonic()
    while time.monotonic() - start_t < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return time.monotonic() - start_t
        except Exception:
            time.sleep(0.005)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def rss_kib(pid):
    """RSS of a process and all its children (gunicorn has workers)."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
        pids += [int(x) for x in out.split()]
    except Exception:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def wrk(url, path, cookies=None):
    env = dict(os.environ, BENCH_PATH=path)
    if cookies:
        env["COOKIES"] = str(cookies)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", str(BENCH / "wrk/cookies.lua"), url + path],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errors.group(1)) if errors else 0}


def check_session(url, cookie, expect):
    req = urllib.request.Request(url + "/api/whoami/", headers={"Cookie": cookie})
    body = json.loads(urllib.request.urlopen(req, timeout=5).read())
    assert body == expect, f"{url}: {body} != {expect}"


def scenarios(name, url, cookies, pid):
    res = {"rss_idle": rss_kib(pid)}
    if cookies:
        first = Path(cookies).read_text().splitlines()[0]
        check_session(url, first, {"username": USER})
        res["session_auth"] = wrk(url, "/api/session/", cookies)
        res["whoami_auth"] = wrk(url, "/api/whoami/", cookies)
    res["session_anon"] = wrk(url, "/api/session/")
    if name not in ("ceiling", "axum-login"):
        res["csrf"] = wrk(url, "/api/csrf/")
    res["rss_after"] = rss_kib(pid)
    print(name, json.dumps(res), flush=True)
    return res


def bench_latchkey(tmp):
    sh(["cargo", "build", "--release", "-q", "-p", "latchkey-server"], cwd=ROOT)
    sh(["cargo", "build", "--release", "-q", "-p", "latchkey", "--example", "bench_seed"], cwd=ROOT)
    db = f"sqlite://{tmp}/latchkey.sqlite3"
    cookies = Path(tmp) / "latchkey.cookies"
    with open(cookies, "w") as f:
        sh([str(ROOT / "target/release/examples/bench_seed"), db, USER, PASSWORD, str(SESSIONS)], stdout=f)
    port = free_port()
    env = dict(os.environ, LATCHKEY_DATABASE_URL=db, RUST_LOG="warn")
    t0 = time.monotonic()
    p = start([str(ROOT / "target/release/latchkey"), "serve", "--preset", "same-origin", "--bind", f"127.0.0.1:{port}"], env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/api/csrf/")
    cold = time.monotonic() - t0
    try:
        res = scenarios("latchkey", url, cookies, p.pid)
        res["cold_start_ms"] = cold * 1000
        return res
    finally:
        stop(p)


def bench_django(tmp):
    venv = BENCH / ".venv"
    if not (venv / "bin/gunicorn").exists():
        sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(venv / "bin/pip"), "install", "-q", "-r", str(BENCH / "django_ref/requirements.txt")])
    env = dict(os.environ, DJANGO_DB=f"{tmp}/django.sqlite3")
    py = str(venv / "bin/python")
    sh([py, "manage.py", "migrate", "-v0"], cwd=BENCH / "django_ref", env=env)
    cookies = Path(tmp) / "django.cookies"
    with open(cookies, "w") as f:
        sh([py, "manage.py", "seed_sessions", USER, PASSWORD, str(SESSIONS)], cwd=BENCH / "django_ref", env=env, stdout=f)
    port = free_port()
    workers = 2 * os.cpu_count() + 1
    p = start([str(venv / "bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "djangoref.wsgi"], env=env, cwd=BENCH / "django_ref")
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/api/csrf/")
    time.sleep(1)  # let every worker boot
    try:
        return scenarios("django", url, cookies, p.pid)
    finally:
        stop(p)


def bench_axum_login(tmp):
    peers = BENCH / "peers/target/release"
    db = Path(tmp) / "peer.sqlite3"
    # Seed the user with a cheap hash so 10,000 logins (each a real
    # tower-sessions session) take seconds, not minutes.
    cheap = subprocess.run([str(peers / "cheap_hash"), PASSWORD], capture_output=True, text=True, check=True).stdout.strip()
    import sqlite3
    con = sqlite3.connect(db)
    con.execute("create table if not exists users (id integer primary key not null, username text not null unique, password text not null)")
    con.execute("insert or replace into users (id, username, password) values (1, ?, ?)", (USER, cheap))
    con.commit()
    con.close()
    port = free_port()
    p = start([str(peers / "axum_login_peer"), f"127.0.0.1:{port}", str(db)])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/api/session/")
    cookies = Path(tmp) / "peer.cookies"
    lines = []
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    for _ in range(SESSIONS):
        req = urllib.request.Request(url + "/api/login/", data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            cookie = r.headers.get("Set-Cookie", "").split(";")[0]
            assert cookie.startswith("id="), cookie
            lines.append(cookie)
    cookies.write_text("\n".join(lines) + "\n")
    try:
        return scenarios("axum-login", url, cookies, p.pid)
    finally:
        stop(p)


def bench_ceiling(tmp):
    port = free_port()
    p = start([str(BENCH / "peers/target/release/ceiling"), f"127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/api/session/")
    try:
        return scenarios("ceiling", url, None, p.pid)
    finally:
        stop(p)


def fmt(r):
    return f"{r['rps']:,.0f}/s · p50 {r['p50']:.2f} ms · p99 {r['p99']:.2f} ms" + (f" · **{r['non2xx']} non-2xx**" if r["non2xx"] else "")


def ratio(a, b):
    return f"{a / b:.1f}×" if b else "—"


def write(results):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    lk, dj, al, ce = results["latchkey"], results["django"], results["axum-login"], results["ceiling"]
    rows = [
        ("authenticated GET /api/session/ (10,000 sessions)", "session_auth"),
        ("authenticated GET /api/whoami/ (10,000 sessions)", "whoami_auth"),
        ("anonymous GET /api/session/", "session_anon"),
        ("GET /api/csrf/", "csrf"),
    ]
    out = [
        "# Benchmark results",
        "",
        f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit `{commit}` on {os.cpu_count()} cores, "
        f"{int(mem) // 1024 // 1024} GiB, by `bench/run.sh`: wrk -t2 -c{CONNECTIONS} -d{SECONDS}s on loopback, servers one after another, "
        "each started fresh. Absolute numbers are noisy on this shared 2-core machine (wrk competes for the same cores); the ratios from one run are what we steer by.",
        "",
        "Servers: **Latchkey** (release, SQLite, same-origin preset, log level warn); **Django** — the tutorial's backend in "
        f"`bench/django_ref/`, gunicorn with {2 * os.cpu_count() + 1} sync workers, SQLite; **ceiling** — a bare axum handler returning "
        "`{\"isAuthenticated\": false}` (`bench/peers`); **axum-login** — axum + tower-sessions 0.14 + axum-login 0.18 with the SQLite "
        "session store, written as those crates' examples are (`bench/peers/src/bin/axum_login_peer.rs`; no CSRF, so it has no `/api/csrf/`).",
        "",
        "| scenario | Latchkey | Django | axum-login | ceiling | Latchkey ÷ Django | Latchkey ÷ axum-login | Latchkey ÷ ceiling |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, key in rows:
        c = ce.get(key) or (ce.get("session_anon") if key in ("session_auth", "whoami_auth") else None)
        a = al.get(key)
        out.append(
            f"| {label} | {fmt(lk[key])} | {fmt(dj[key])} | {fmt(a) if a else '—'} | {fmt(c) if c else '—'} | "
            f"{ratio(lk[key]['rps'], dj[key]['rps'])} | {ratio(lk[key]['rps'], a['rps']) if a else '—'} | "
            f"{ratio(lk[key]['rps'], c['rps']) if c else '—'} |"
        )
    out += [
        "",
        "For the authenticated rows the ceiling column is its anonymous answer (it has no sessions): the bound on what any handler can do here.",
        "",
        "| memory (RSS) | Latchkey | Django (all workers) | axum-login | ceiling |",
        "| --- | --- | --- | --- | --- |",
        f"| idle | {lk['rss_idle'] / 1024:.1f} MiB | {dj['rss_idle'] / 1024:.1f} MiB | {al['rss_idle'] / 1024:.1f} MiB | {ce['rss_idle'] / 1024:.1f} MiB |",
        f"| after the runs | {lk['rss_after'] / 1024:.1f} MiB | {dj['rss_after'] / 1024:.1f} MiB | {al['rss_after'] / 1024:.1f} MiB | {ce['rss_after'] / 1024:.1f} MiB |",
        "",
        f"Latchkey cold start (process start to first 200, migrated SQLite): {lk['cold_start_ms']:.0f} ms.",
        "",
        "Not measured yet (next increments): logins per second and the raw Argon2 rate, the login storm, 1,000 vs 1,000,000 stored sessions, "
        "PostgreSQL and Redis figures.",
        "",
    ]
    (BENCH / "RESULTS.md").write_text("\n".join(out))
    print("\n".join(out))


def main():
    for tool in ("wrk", "cargo"):
        if not shutil.which(tool):
            sys.exit(f"error: {tool} is required (apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    results = {}
    try:
        sh(["cargo", "build", "--release", "-q", "--manifest-path", str(BENCH / "peers/Cargo.toml")])
        results["latchkey"] = bench_latchkey(tmp)
        results["django"] = bench_django(tmp)
        results["axum-login"] = bench_axum_login(tmp)
        results["ceiling"] = bench_ceiling(tmp)
    finally:
        for p in procs:
            stop(p)
    write(results)


if __name__ == "__main__":
    main()
