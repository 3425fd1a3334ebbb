#!/usr/bin/env bash
# Measures the batched purge of 1,000,000 expired sessions on SQLite and
# PostgreSQL while live sessions keep being read, and records the numbers in
# bench/RESULTS-cleanup.md. Loopback only; bounded (each run a few seconds to
# a minute). PostgreSQL: ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${SESSIONS:-1000000}"
cargo build --release -q -p latchkey --example cleanup_bench
out=bench/RESULTS-cleanup.md
{
  echo "# Expired-session purge at scale"
  echo
  echo "Recorded $(date -u +%Y-%m-%dT%H:%MZ) at commit $(git rev-parse --short HEAD) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB."
  echo "Batches of 5,000 rows; a reader loads one of 1,000 live sessions in a loop before and during the purge."
  echo
  echo "| backend | expired sessions | setup | purge time | rows/s | load p50 / p99 before | load p50 / p99 / max during | loads during |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  ./target/release/examples/cleanup_bench sqlite "$n"
  ./target/release/examples/cleanup_bench postgres "$n" "${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
} | tee "$out.tmp"
mv "$out.tmp" "$out"
