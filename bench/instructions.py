#!/usr/bin/env python3
"""Instructions per authenticated session check, counted by valgrind's
callgrind: a figure that does not move with the machine's load or clock, for
a change's before/after pair where wrk's requests/s drift more than the change.

Usage: python3 bench/instructions.py BINARY LABEL [BINARY LABEL ...]

Each binary serves a copy of one seeded SQLite database under callgrind; one
connection sends FEW and then MANY authenticated `GET /api/session/`
(BENCH_IR_FEW, BENCH_IR_MANY: 100 and 1,100) in two runs; (Ir(MANY) - Ir(FEW))
/ (MANY - FEW) is the cost of one request, start-up and shutdown cancelled
out. Appends a row per binary to bench/RESULTS-instructions.md. Needs valgrind
and a release build of this tree's `bench_seed` example. Loopback only; each
server is stopped by PID, also on failure.
"""
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import free_port, wait_ready  # bench/run.py: the same port and readiness helpers

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FEW = int(os.environ.get("BENCH_IR_FEW", "100"))
MANY = int(os.environ.get("BENCH_IR_MANY", "1100"))
USER, PASSWORD = "bench", "bench-password-1234"


def seed(tmp):
    db = Path(tmp) / "seed.sqlite3"
    url = f"sqlite://{db}"
    env = dict(os.environ, LATCHKEY_DATABASE_URL=url, RUST_LOG="warn")
    out = subprocess.run([str(ROOT / "target/release/examples/bench_seed"), url, USER, PASSWORD, "10"],
                         env=env, check=True, capture_output=True, text=True).stdout
    cookie = out.splitlines()[0].strip()
    return db, cookie


def instructions(binary, db, cookie, n, tmp, label):
    """Total Ir of one server's life that answered `n` session checks."""
    copy = Path(tmp) / f"{label}-{n}.sqlite3"
    shutil.copy(db, copy)
    out = Path(tmp) / f"{label}-{n}.callgrind"
    env = dict(os.environ, LATCHKEY_DATABASE_URL=f"sqlite://{copy}", RUST_LOG="warn")
    port = free_port()
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve",
                          "--preset", "same-origin", "--bind", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/csrf/", timeout=120)  # valgrind starts slowly
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(n):
            c.request("GET", "/api/session/", headers={"Cookie": cookie})
            body = c.getresponse().read()
            if b'"isAuthenticated":true' not in body:
                raise SystemExit(f"the seeded session is not signed in: {body[:200]!r}")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        raise SystemExit(__doc__)
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (Debian's valgrind package)")
    tmp = tempfile.mkdtemp(prefix="latchkey-ir-")
    try:
        db, cookie = seed(tmp)
        rows = []
        for binary, label in zip(args[::2], args[1::2]):
            few = instructions(binary, db, cookie, FEW, tmp, label)
            many = instructions(binary, db, cookie, MANY, tmp, label)
            per = (many - few) / (MANY - FEW)
            print(f"{label}: {per:,.0f} instructions per session check", flush=True)
            rows.append((label, per))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = BENCH / "RESULTS-instructions.md"
    if not out.exists():
        out.write_text("# Instructions per authenticated `GET /api/session/`\n\n"
                       "`python3 bench/instructions.py BINARY LABEL ...`: valgrind's callgrind counts the "
                       f"instructions of a server's life answering {FEW} and then {MANY} session checks over one "
                       "connection (SQLite, one seeded session); the difference over the extra requests is one "
                       "request's cost, start-up cancelled out. Unlike requests/s it does not drift with the "
                       "machine's load.\n\n"
                       "| date | build | instructions per request | note |\n| --- | --- | --- | --- |\n")
    note = os.environ.get("BENCH_NOTE", "")
    with out.open("a") as f:
        for label, per in rows:
            f.write(f"| {time.strftime('%Y-%m-%d %H:%M')} | {label} | {per:,.0f} | {note} |\n")


if __name__ == "__main__":
    main()
