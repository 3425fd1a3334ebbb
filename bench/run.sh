#!/usr/bin/env bash
# The benchmark, one command: see bench/README.md.
set -euo pipefail
exec python3 "$(dirname "$0")/run.py" "$@"
