#!/usr/bin/env bash
# Measures the admin's user list on 1,000,000 users, SQLite and PostgreSQL:
# the first page of searches, filters and every ordering, as the whole
# GET /api/admin/users/ request in-process, and records
# bench/RESULTS-admin-list.md. Target: p99 ≤ 50 ms for each.
# Needs PostgreSQL on 127.0.0.1 (it makes and drops its own database).
# Loopback only; bounded (ITERATIONS rounds of every query).
set -euo pipefail
cd "$(dirname "$0")/.."
users="${USERS:-1000000}"
n="${ITERATIONS:-200}"
cargo build --release -q -p latchkey --example admin_list_bench
out=bench/RESULTS-admin-list.md
log=$(mktemp)
{
  echo "# The admin's user list on $(echo "$users" | sed -E ':a;s/([0-9])([0-9]{3})($|,)/\1,\2\3/;ta') users"
  echo
  echo "Recorded $(date -u +%Y-%m-%dT%H:%MZ) at commit $(git rev-parse --short HEAD) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB."
  echo "Users seeded in bulk SQL with one precomputed hash, through the real schema (indexes, and SQLite's search triggers), then ANALYZE."
  echo "Each row is the whole \`GET /api/admin/users/?…\` in-process (staff session check, count, first page of 25, JSON);"
  echo "$n timed rounds after 5 warm-up ones, every query once per round in turn. \`count\` is what the first answer said (≈: an estimate, beyond 10,000)."
  echo "Target: p99 ≤ 50 ms for each."
  echo
  echo "| backend | query | count | requests | p50 | p99 | max |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for backend in sqlite postgres; do
    ./target/release/examples/admin_list_bench "$backend" "$users" "$n" 2>>"$log"
  done
  echo
  echo "Seeding and size:"
  echo
  sed 's/^/- /' "$log"
} | tee "$out.tmp"
mv "$out.tmp" "$out"
rm -f "$log"
