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
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# The tree whose Latchkey is built and measured (default: this one). A
# refactor's before/after pair points BENCH_ROOT at a worktree of the old commit.
ROOT = Path(os.environ.get("BENCH_ROOT", BENCH.parent)).resolve()
SECONDS = min(int(os.environ.get("BENCH_SECONDS", "10")), 15)
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "10000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
LOGIN_CONNECTIONS = int(os.environ.get("BENCH_LOGIN_CONNECTIONS", "8"))
STORM_CONNECTIONS = int(os.environ.get("BENCH_STORM_CONNECTIONS", "16"))
SMALL_TABLE = 1_000
LARGE_TABLE = int(os.environ.get("BENCH_LARGE_TABLE", "1000000"))
# Seconds a fresh server is left alone before "idle" RSS is read: idle
# hashing threads exit after 2 s and the allocator returns their memory.
IDLE_SETTLE = float(os.environ.get("BENCH_IDLE_SETTLE", "12"))
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
STORM_USER = "storm"
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


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    done = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errors.group(1)) if errors else 0,
            "timeouts": int(sock.group(4)) if sock else 0, "errors": sum(int(sock.group(i)) for i in (1, 2, 3)) if sock else 0,
            "requests": int(done.group(1)) if done else 0}


def wrk_cmd(url, path, script, connections=None, threads=2):
    return ["wrk", f"-t{threads}", f"-c{connections or CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", str(BENCH / "wrk" / script), url + path]


def wrk(url, path, cookies=None):
    env = dict(os.environ, BENCH_PATH=path)
    if cookies:
        env["COOKIES"] = str(cookies)
    out = subprocess.run(wrk_cmd(url, path, "cookies.lua"), env=env, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def login_env(user):
    secret = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32))
    return dict(os.environ, BENCH_USER=user, BENCH_PASSWORD=PASSWORD, CSRF_SECRET=secret)


def logins(url, user):
    """Full CSRF-protected logins per second, LOGIN_CONNECTIONS at a time."""
    out = subprocess.run(wrk_cmd(url, "/api/login/", "login.lua", LOGIN_CONNECTIONS, 1), env=login_env(user),
                         capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def raw_hash_rate():
    """Argon2id hashes/s with the configured parameters, one thread per core (Latchkey's server idle meanwhile)."""
    out = subprocess.run([str(ROOT / "target/release/examples/hash_rate"), str(min(SECONDS, 5))], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def storm(url, user, cookies, pid):
    """STORM_CONNECTIONS connections log in non-stop while authenticated
    session checks run beside them; RSS is sampled throughout for the peak."""
    env = dict(os.environ, BENCH_PATH="/api/session/", COOKIES=str(cookies))
    checks = subprocess.Popen(wrk_cmd(url, "/api/session/", "cookies.lua", STORM_CONNECTIONS, 1), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    login = subprocess.Popen(wrk_cmd(url, "/api/login/", "login.lua", STORM_CONNECTIONS, 1), env=login_env(user),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    deadline = time.monotonic() + SECONDS + 20
    while (checks.poll() is None or login.poll() is None) and time.monotonic() < deadline:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.05)
    for w in (checks, login):
        if w.poll() is None:
            w.kill()
    c_out, l_out = checks.communicate()[0], login.communicate()[0]
    return {"checks": parse_wrk(c_out), "logins": parse_wrk(l_out), "rss_peak": peak}


def parse_h2load(out):
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "done": int(done.group(1)) if done else 0,
            "succeeded": int(done.group(2)) if done else 0, "failed": int(done.group(3)) if done else 0,
            "errored": int(done.group(4)) if done else 0}


SATURATE_SECONDS = 15


def saturate(url, cookies, pid):
    """15 s of saturating HTTP/2 load (h2load, prior knowledge) on the
    authenticated session check, as the outside attack ran it: the cache
    must never switch itself off (no drops), RSS must stay bounded during
    it and come back down within 10 s after."""
    cookie = Path(cookies).read_text().splitlines()[0]
    before = health(url).get("cache") or {}
    cmd = ["h2load", "-D", str(SATURATE_SECONDS), "-c", "64", "-m", "16", "-t", "2", "-H", f"cookie: {cookie}", url + "/api/session/"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    deadline = time.monotonic() + SATURATE_SECONDS + 20
    while p.poll() is None and time.monotonic() < deadline:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.05)
    if p.poll() is None:
        p.kill()
    load = parse_h2load(p.communicate()[0])
    after_load = rss_kib(pid)
    t0, settled = time.monotonic(), None
    while time.monotonic() - t0 < 10:
        if rss_kib(pid) < 60 * 1024:
            settled = time.monotonic() - t0
            break
        time.sleep(0.1)
    after = health(url).get("cache") or {}
    return {"load": load, "rss_peak": peak, "rss_end_of_load": after_load, "rss_after_10s": rss_kib(pid),
            "settled_under_60_mib_s": settled, "cache_drops": after.get("drops", 0) - before.get("drops", 0),
            "cache_hits": after.get("hits", 0) - before.get("hits", 0), "cache_active": after.get("active")}


def saturate_only():
    """`--saturate`: the saturation scenario alone on the tree at ROOT;
    appends a row to RESULTS-saturate.md."""
    if not shutil.which("h2load"):
        sys.exit("error: h2load is required (apt-get install nghttp2-client)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    build_latchkey()
    p, url, cookies, _ = serve_latchkey(tmp, "latchkey", f"sqlite://{tmp}/latchkey.sqlite3")
    try:
        time.sleep(2)
        res = saturate(url, cookies, p.pid)
    finally:
        stop(p)
    print(json.dumps(res))
    out = BENCH / "RESULTS-saturate.md"
    if not out.exists():
        out.write_text("# Saturating HTTP/2 load on the authenticated session check\n\n"
                       f"`python3 bench/run.py --saturate`: h2load -c64 -m16 for {SATURATE_SECONDS} s on `/api/session/` "
                       "with a logged-in session, Latchkey on SQLite. Targets: 0 cache drops, RSS peak ≤ 150 MiB, "
                       "back under 60 MiB within 10 s.\n\n"
                       "| date | commit | requests/s | failed | cache drops | cache hits | RSS peak | RSS at end | under 60 MiB after |\n"
                       "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
    settled = "never (10 s)" if res["settled_under_60_mib_s"] is None else f"{res['settled_under_60_mib_s']:.1f} s"
    with out.open("a") as f:
        f.write(f"| {time.strftime('%Y-%m-%d %H:%M')} | {commit} | {res['load']['rps']:,.0f} | {res['load']['failed'] + res['load']['errored']} "
                f"| {res['cache_drops']} | {res['cache_hits']:,} | {mib(res['rss_peak'])} | {mib(res['rss_end_of_load'])} | {settled} |\n")


def check_session(url, cookie, expect):
    req = urllib.request.Request(url + "/api/whoami/", headers={"Cookie": cookie})
    body = json.loads(urllib.request.urlopen(req, timeout=5).read())
    assert body == expect, f"{url}: {body} != {expect}"


def health(url):
    try:
        with urllib.request.urlopen(url + "/api/health/", timeout=5) as r:
            return json.loads(r.read())
    except Exception:
        return {}


def scenarios(name, url, cookies, pid, csrf=True, login_user=None):
    time.sleep(IDLE_SETTLE)
    res = {"rss_idle": rss_kib(pid)}
    if cookies:
        first = Path(cookies).read_text().splitlines()[0]
        check_session(url, first, {"username": USER})
        res["session_auth"] = wrk(url, "/api/session/", cookies)
        res["whoami_auth"] = wrk(url, "/api/whoami/", cookies)
    res["session_anon"] = wrk(url, "/api/session/")
    if csrf:
        res["csrf"] = wrk(url, "/api/csrf/")
    res["rss_after"] = rss_kib(pid)
    if login_user:
        # This machine's speed drifts within minutes, so the raw rate is
        # measured right before and right after the login run (the server
        # idle), and the logins are compared with the mean.
        if name == "latchkey":
            res["raw_hash_rate_before"] = raw_hash_rate()
        res["logins"] = logins(url, login_user)
        if name == "latchkey":
            res["raw_hash_rate_after"] = raw_hash_rate()
            res["raw_hash_rate"] = (res["raw_hash_rate_before"] + res["raw_hash_rate_after"]) / 2
        res["storm"] = storm(url, login_user, cookies, pid)
        time.sleep(IDLE_SETTLE)
        res["rss_after_storm"] = rss_kib(pid)
        if name == "latchkey" and shutil.which("h2load"):
            res["saturate"] = saturate(url, cookies, pid)
    res["health"] = health(url)
    print(name, json.dumps(res), flush=True)
    return res


def serve_latchkey(tmp, label, db, sessions=SESSIONS, filler=0, env_extra=None, cookies=None):
    """Seeds `db` (unless `cookies` of an earlier seeding are given) and
    starts a Latchkey server on it; returns (process, url, cookies file, cold start s)."""
    env = dict(os.environ, LATCHKEY_DATABASE_URL=db, RUST_LOG="warn", **(env_extra or {}))
    # Throttle limits stay on (the code path is measured) but high enough
    # that one benchmark client logging in non-stop is not refused.
    for k in ("PER_PAIR", "PER_IP", "PER_ACCOUNT"):
        env[f"LATCHKEY_THROTTLE__{k}"] = "100000000"
    if cookies is None:
        cookies = Path(tmp) / f"{label}.cookies"
        seed = [str(ROOT / "target/release/examples/bench_seed"), db, USER, PASSWORD, str(sessions)] + ([str(filler)] if filler else [])
        with open(cookies, "w") as f:
            sh(seed, stdout=f, env=env)
    port = free_port()
    t0 = time.monotonic()
    p = start([str(ROOT / "target/release/latchkey"), "serve", "--preset", "same-origin", "--bind", f"127.0.0.1:{port}"], env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/api/csrf/")
    return p, url, cookies, time.monotonic() - t0


def build_latchkey():
    sh(["cargo", "build", "--release", "-q", "-p", "latchkey-server"], cwd=ROOT)
    sh(["cargo", "build", "--release", "-q", "-p", "latchkey", "--example", "bench_seed", "--example", "hash_rate"], cwd=ROOT)


def bench_latchkey(tmp):
    p, url, cookies, cold = serve_latchkey(tmp, "latchkey", f"sqlite://{tmp}/latchkey.sqlite3")
    try:
        res = scenarios("latchkey", url, cookies, p.pid, login_user=USER)
        res["cold_start_ms"] = cold * 1000
    finally:
        stop(p)
    return res


def bench_latchkey_cache_off(tmp):
    p, url, cookies, _ = serve_latchkey(tmp, "latchkey-nocache", f"sqlite://{tmp}/latchkey-nocache.sqlite3", env_extra={"LATCHKEY_CACHE__ENABLED": "false"})
    try:
        time.sleep(IDLE_SETTLE)
        res = {"session_auth": wrk(url, "/api/session/", cookies), "whoami_auth": wrk(url, "/api/whoami/", cookies)}
        print("latchkey-cache-off", json.dumps(res), flush=True)
        return res
    finally:
        stop(p)


def bench_table_size(tmp):
    """/api/session/ over 1,000 sessions, with 1,000 and with 1,000,000 stored, cache on and off."""
    res = {}
    for stored in (SMALL_TABLE, LARGE_TABLE):
        db = f"sqlite://{tmp}/size-{stored}.sqlite3"
        cookies = None
        for cache in ("off", "on"):
            env = {"LATCHKEY_CACHE__ENABLED": "true" if cache == "on" else "false"}
            p, url, cookies, _ = serve_latchkey(tmp, f"size-{stored}", db, sessions=SMALL_TABLE, filler=stored - SMALL_TABLE,
                                                env_extra=env, cookies=cookies)
            try:
                time.sleep(IDLE_SETTLE)
                res[f"{stored}-{cache}"] = wrk(url, "/api/session/", cookies)
            finally:
                stop(p)
    print("table-size", json.dumps(res), flush=True)
    return res


def pg_admin(sql):
    sh(["psql", "-q", "-v", "ON_ERROR_STOP=1", PG_ADMIN, "-c", sql], stdout=subprocess.DEVNULL)


def bench_latchkey_pg(tmp, redis):
    name = f"latchkey_bench_{os.getpid()}_{'redis' if redis else 'pg'}"
    prefix = f"latchkey-bench:{os.getpid()}:"
    base = PG_ADMIN.rsplit("/", 1)[0]
    pg_admin(f"DROP DATABASE IF EXISTS {name}")
    pg_admin(f"CREATE DATABASE {name}")
    env = {"LATCHKEY_SESSION_STORE_URL": REDIS_URL, "LATCHKEY_SESSION_STORE_PREFIX": prefix} if redis else {}
    label = "latchkey-pg-redis" if redis else "latchkey-pg"
    try:
        p, url, cookies, _ = serve_latchkey(tmp, label, f"{base}/{name}", env_extra=env)
        try:
            return scenarios(label, url, cookies, p.pid)
        finally:
            stop(p)
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if redis:
            keys = subprocess.run(["redis-cli", "-u", REDIS_URL, "--scan", "--pattern", prefix + "*"], capture_output=True, text=True).stdout.split()
            for i in range(0, len(keys), 1000):
                subprocess.run(["redis-cli", "-u", REDIS_URL, "DEL", *keys[i:i + 1000]], stdout=subprocess.DEVNULL)


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
        return scenarios("django", url, cookies, p.pid, login_user=USER)
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
    # The login scenarios use a second account with a real hash
    # (password_auth's default Argon2id parameters, as the peer's own users get).
    real = subprocess.run([str(peers / "cheap_hash"), "--default", PASSWORD], capture_output=True, text=True, check=True).stdout.strip()
    con.execute("insert or replace into users (id, username, password) values (2, ?, ?)", (STORM_USER, real))
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
        return scenarios("axum-login", url, cookies, p.pid, csrf=False, login_user=STORM_USER)
    finally:
        stop(p)


def bench_ceiling(tmp):
    port = free_port()
    p = start([str(BENCH / "peers/target/release/ceiling"), f"127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/api/session/")
    try:
        return scenarios("ceiling", url, None, p.pid, csrf=False)
    finally:
        stop(p)


def fmt(r):
    lat = f" · p50 {r['p50']:.2f} ms · p99 {r['p99']:.2f} ms" if r["p99"] > 0 else " · latency not measurable"
    extra = ""
    if r["non2xx"]:
        extra += f" · **{r['non2xx']} non-2xx**"
    if r.get("timeouts"):
        extra += f" · **{r['timeouts']:,} timed out (> 2 s, not in the percentiles)**"
    if r.get("errors"):
        extra += f" · **{r['errors']:,} socket errors**"
    return f"{r['rps']:,.0f}/s{lat}{extra}"


def pct_of(a, b):
    return f"{100 * a / b:.0f} %" if b else "—"


def ratio(a, b):
    return f"{a / b:.1f}×" if b else "—"


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib else "—"


def cell(r, key):
    return fmt(r[key]) if r and r.get(key) else "—"


def write(results):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":!bench/RESULTS.md", ":!bench/results.json"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    lk, dj, al, ce = results["latchkey"], results["django"], results["axum-login"], results["ceiling"]
    pg, pgr, off, size = results["latchkey-pg"], results["latchkey-pg-redis"], results["latchkey-cache-off"], results["table-size"]
    rows = [
        (f"authenticated GET /api/session/ ({SESSIONS:,} sessions)", "session_auth"),
        (f"authenticated GET /api/whoami/ ({SESSIONS:,} sessions)", "whoami_auth"),
        ("anonymous GET /api/session/", "session_anon"),
        ("GET /api/csrf/", "csrf"),
    ]
    out = [
        "# Benchmark results",
        "",
        f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit `{commit}`{' (with uncommitted changes)' if dirty else ''} "
        f"on {os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB, by `bench/run.sh`: wrk -t2 -c{CONNECTIONS} -d{SECONDS}s on loopback, "
        "servers one after another, each started fresh. Absolute numbers are noisy on this shared 2-core machine (wrk competes for "
        "the same cores); the ratios from one run are what we steer by.",
        "",
        "Servers: **Latchkey** (release, SQLite, same-origin preset, log level warn, read-through cache on — the default); "
        "**Django** — the tutorial's backend in `bench/django_ref/`, gunicorn with "
        f"{2 * os.cpu_count() + 1} sync workers, SQLite, default password hasher; **axum-login** — axum + tower-sessions 0.14 + "
        "axum-login 0.18 with the SQLite session store, written as those crates' examples are (`bench/peers/src/bin/axum_login_peer.rs`; "
        "no CSRF, so no `/api/csrf/`); **ceiling** — a bare axum handler returning `{\"isAuthenticated\": false}`. Latchkey's browser "
        "state is both cookies (`sessionid`, `csrftoken`), as a logged-in SPA has them.",
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
            f"{pct_of(lk[key]['rps'], c['rps']) if c else '—'} |"
        )
    out.append(
        f"| logins per second ({LOGIN_CONNECTIONS} connections, each a full CSRF-protected login) | {cell(lk, 'logins')} | "
        f"{cell(dj, 'logins')} | {cell(al, 'logins')} | — | {ratio(lk['logins']['rps'], dj['logins']['rps'])} | "
        f"{ratio(lk['logins']['rps'], al['logins']['rps'])} | — |"
    )
    st = {n: r["storm"] for n, r in (("lk", lk), ("dj", dj), ("al", al))}
    out += [
        "",
        "For the authenticated rows the ceiling column is its anonymous answer (it has no sessions): the bound on what any handler can do here.",
        "",
        f"**Logins against the raw hash rate.** The configured Argon2id parameters allow {lk['raw_hash_rate']:.1f} hashes/s on this "
        f"machine ({os.cpu_count()} threads hashing, `examples/hash_rate.rs`; {lk.get('raw_hash_rate_before', 0):.1f} right before and "
        f"{lk.get('raw_hash_rate_after', 0):.1f} right after the login run, with the server idle); Latchkey served {lk['logins']['rps']:.1f} "
        f"logins/s = **{100 * lk['logins']['rps'] / lk['raw_hash_rate']:.0f} %** of it.",
        "",
        f"**Login storm** ({STORM_CONNECTIONS} connections logging in non-stop while {STORM_CONNECTIONS} others check authenticated "
        "sessions, same 10,000 sessions):",
        "",
        "| during the storm | Latchkey | Django | axum-login |",
        "| --- | --- | --- | --- |",
        f"| session checks | {fmt(st['lk']['checks'])} | {fmt(st['dj']['checks'])} | {fmt(st['al']['checks'])} |",
        f"| logins | {fmt(st['lk']['logins'])} | {fmt(st['dj']['logins'])} | {fmt(st['al']['logins'])} |",
        f"| peak RSS | {mib(st['lk']['rss_peak'])} | {mib(st['dj']['rss_peak'])} | {mib(st['al']['rss_peak'])} |",
        "",
        f"| memory (RSS) | Latchkey | Django (all workers) | axum-login | ceiling |",
        "| --- | --- | --- | --- | --- |",
        f"| idle ({IDLE_SETTLE:.0f} s after start) | {mib(lk['rss_idle'])} | {mib(dj['rss_idle'])} | {mib(al['rss_idle'])} | {mib(ce['rss_idle'])} |",
        f"| after the throughput runs | {mib(lk['rss_after'])} | {mib(dj['rss_after'])} | {mib(al['rss_after'])} | {mib(ce['rss_after'])} |",
        f"| peak during the login storm | {mib(st['lk']['rss_peak'])} | {mib(st['dj']['rss_peak'])} | {mib(st['al']['rss_peak'])} | — |",
        f"| {IDLE_SETTLE:.0f} s after the storm | {mib(lk['rss_after_storm'])} | {mib(dj['rss_after_storm'])} | {mib(al['rss_after_storm'])} | — |",
        "",
    ]
    if "saturate" in lk:
        sat = lk["saturate"]
        settled = "not within 10 s" if sat["settled_under_60_mib_s"] is None else f"after {sat['settled_under_60_mib_s']:.1f} s"
        out += [
            f"**Saturating HTTP/2 load** (h2load -c64 -m16, {SATURATE_SECONDS} s, authenticated `/api/session/`): "
            f"{sat['load']['rps']:,.0f} requests/s, {sat['load']['failed'] + sat['load']['errored']} failed; cache drops "
            f"**{sat['cache_drops']}** (target 0), hits {sat['cache_hits']:,}; RSS peak **{mib(sat['rss_peak'])}** (target ≤ 150 MiB), "
            f"{mib(sat['rss_end_of_load'])} at the end, under 60 MiB {settled} (target: within 10 s).",
            "",
        ]
    out += [
        f"Latchkey cold start (process start to first 200, migrated SQLite): {lk['cold_start_ms']:.0f} ms.",
        "",
        "## Latchkey's cache, backends and table size",
        "",
        "| scenario | SQLite, cache on | SQLite, cache off | PostgreSQL | PostgreSQL + Redis |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, key in rows:
        out.append(f"| {label} | {cell(lk, key)} | {cell(off, key)} | {cell(pg, key)} | {cell(pgr, key)} |")

    def hit_ratio(r):
        c = (r.get("health") or {}).get("cache") or {}
        total = c.get("hits", 0) + c.get("misses", 0)
        return f"{100 * c['hits'] / total:.1f} % ({c['hits']:,} hits, {c['misses']:,} misses, {c.get('drops', 0)} drops)" if total else "—"

    out += [
        f"| cache hit ratio over the whole run | {hit_ratio(lk)} | cache off | {hit_ratio(pg)} | {hit_ratio(pgr)} |",
        "",
        f"Cache on ÷ cache off (SQLite, authenticated `/api/session/`): {ratio(lk['session_auth']['rps'], off['session_auth']['rps'])}.",
        "",
        f"`/api/session/` over {SMALL_TABLE:,} sessions with {SMALL_TABLE:,} and with {LARGE_TABLE:,} sessions stored (SQLite):",
        "",
        f"| | {SMALL_TABLE:,} stored | {LARGE_TABLE:,} stored | p99 ratio |",
        "| --- | --- | --- | --- |",
    ]
    for cache in ("off", "on"):
        a, b = size[f"{SMALL_TABLE}-{cache}"], size[f"{LARGE_TABLE}-{cache}"]
        out.append(f"| cache {cache} | {fmt(a)} | {fmt(b)} | {b['p99'] / a['p99']:.2f}× |")
    out.append("")
    (BENCH / "RESULTS.md").write_text("\n".join(out))
    print("\n".join(out))


def session_check():
    """The authenticated session check and full logins, BENCH_REPEAT times
    each (default 3), on the tree at ROOT; appends a row to
    RESULTS-session-check.md. For checking that a change costs nothing on
    the hot path or on the way in."""
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    build_latchkey()
    p, url, cookies, _ = serve_latchkey(tmp, "latchkey", f"sqlite://{tmp}/latchkey.sqlite3")
    try:
        wrk(url, "/api/session/", cookies)  # warm-up: fills the cache as a running server has it
        runs = [wrk(url, "/api/session/", cookies) for _ in range(repeat)]
        login_runs = [logins(url, USER) for _ in range(repeat)]
    finally:
        stop(p)
    print(json.dumps({"commit": commit, "runs": runs, "logins": login_runs}))
    out = BENCH / "RESULTS-session-check.md"
    if not out.exists():
        out.write_text("# Authenticated `GET /api/session/` and logins, before and after a change\n\n"
                       "`python3 bench/run.py --session-check` (BENCH_ROOT=worktree for the old commit): "
                       f"SQLite, {SESSIONS} seeded sessions, wrk -c{CONNECTIONS}, {SECONDS} s per run after a warm-up run; "
                       f"logins: wrk -c{LOGIN_CONNECTIONS}, each a full CSRF-protected `POST /api/login/`.\n\n"
                       "| date | commit | requests/s per run | p99 ms per run | logins/s per run | note |\n"
                       "| --- | --- | --- | --- | --- | --- |\n")
    note = os.environ.get("BENCH_NOTE", "")
    with out.open("a") as f:
        rps = " / ".join(f"{r['rps']:,.0f}" for r in runs)
        p99 = " / ".join(f"{r['p99']:.2f}" for r in runs)
        lps = " / ".join(f"{r['rps']:,.1f}" for r in login_runs)
        f.write(f"| {time.strftime('%Y-%m-%d %H:%M')} | {commit} | {rps} | {p99} | {lps} | {note} |\n")


def forward_auth():
    """Forward auth (`GET /api/auth/verify/`, what nginx's auth_request asks)
    beside the authenticated session check it should stay within 20 % of:
    the two alternate, BENCH_REPEAT times each (default 3), after a warm-up
    of both; writes RESULTS-forward-auth.md."""
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    build_latchkey()
    p, url, cookies, _ = serve_latchkey(tmp, "latchkey", f"sqlite://{tmp}/latchkey.sqlite3")
    session, verify = [], []
    try:
        wrk(url, "/api/session/", cookies)
        wrk(url, "/api/auth/verify/", cookies)
        for _ in range(repeat):
            session.append(wrk(url, "/api/session/", cookies))
            verify.append(wrk(url, "/api/auth/verify/", cookies))
    finally:
        stop(p)
    mean = lambda runs, k: sum(r[k] for r in runs) / len(runs)
    ratio = mean(verify, "rps") / mean(session, "rps")
    rows = [
        "# Forward auth beside the session check",
        "",
        f"`python3 bench/run.py --forward-auth`, {time.strftime('%Y-%m-%d %H:%M')}, commit {commit}: SQLite, "
        f"{SESSIONS:,} seeded sessions, wrk -c{CONNECTIONS}, {SECONDS} s per run, the two alternating after a warm-up of each. "
        "Target: forward auth within 20 % of the authenticated session check.",
        "",
        "| request | requests/s per run | mean | p99 ms per run |",
        "| --- | --- | --- | --- |",
    ]
    for name, runs in (("`GET /api/session/` (authenticated)", session), ("`GET /api/auth/verify/` (204)", verify)):
        rps = " / ".join(f"{r['rps']:,.0f}" for r in runs)
        p99 = " / ".join(f"{r['p99']:.2f}" for r in runs)
        rows.append(f"| {name} | {rps} | {mean(runs, 'rps'):,.0f} | {p99} |")
    rows += ["", f"Forward auth ÷ session check: **{ratio:.2f}×** ({'within' if ratio >= 0.8 else 'outside'} the 20 % target).", ""]
    (BENCH / "RESULTS-forward-auth.md").write_text("\n".join(rows))
    print("\n".join(rows))


def main():
    if sys.argv[1:] == ["--session-check"]:
        session_check()
        return
    if sys.argv[1:] == ["--forward-auth"]:
        forward_auth()
        return
    if sys.argv[1:] == ["--saturate"]:
        saturate_only()
        return
    if sys.argv[1:] == ["--render"]:
        # Re-writes RESULTS.md from the last run's raw figures.
        write(json.loads((BENCH / "results.json").read_text()))
        return
    for tool in ("wrk", "cargo", "psql", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"error: {tool} is required (apt-get install wrk postgresql-client redis-tools)")
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    results = {}
    try:
        sh(["cargo", "build", "--release", "-q", "--manifest-path", str(BENCH / "peers/Cargo.toml")])
        build_latchkey()
        results["latchkey"] = bench_latchkey(tmp)
        results["latchkey-cache-off"] = bench_latchkey_cache_off(tmp)
        results["table-size"] = bench_table_size(tmp)
        results["latchkey-pg"] = bench_latchkey_pg(tmp, redis=False)
        results["latchkey-pg-redis"] = bench_latchkey_pg(tmp, redis=True)
        results["django"] = bench_django(tmp)
        results["axum-login"] = bench_axum_login(tmp)
        results["ceiling"] = bench_ceiling(tmp)
    finally:
        for p in procs:
            stop(p)
        (BENCH / "results.json").write_text(json.dumps(results, indent=1))
    write(results)


if __name__ == "__main__":
    main()
