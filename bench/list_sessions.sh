#!/usr/bin/env bash
# Measures listing a user's 1,000 sessions (among 20,000 others) on every
# backend — the whole GET /api/sessions/ in-process and the store query alone —
# and records bench/RESULTS-list-sessions.md. Target: p99 ≤ 20 ms everywhere.
# Needs PostgreSQL and Redis on 127.0.0.1 (it makes and drops its own database
# and deletes its own keys). Loopback only; bounded (ITERATIONS requests each).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${ITERATIONS:-300}"
cargo build --release -q -p latchkey --example list_sessions_bench
out=bench/RESULTS-list-sessions.md
{
  echo "# Listing a user's sessions"
  echo
  echo "Recorded $(date -u +%Y-%m-%dT%H:%MZ) at commit $(git rev-parse --short HEAD) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB."
  echo "One user with 1,000 live sessions among 20,000 sessions of others; $n timed requests after 20 warm-up ones, one at a time."
  echo "\"in-process\" is the whole request through the router (layers, store, an HMAC id per session, JSON); \"store\" is \`SessionStore::list_user_sessions\` alone."
  echo "Target: p99 ≤ 20 ms on every backend."
  echo
  echo "| backend | what | sessions listed | requests | p50 | p99 | max | setup |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for backend in memory sqlite postgres redis; do
    ./target/release/examples/list_sessions_bench "$backend" "$n"
  done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
