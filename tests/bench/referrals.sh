#!/usr/bin/env bash
# Starts a throwaway stack (deploy/stack.sh dev), runs tests/bench/referrals.py
# against it (SERVICES, RATE, DURATION, EXTRA_WORKERS from the environment)
# and stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build
log=$(mktemp)
deploy/stack.sh dev >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 120); do grep -q 'dev stack up' "$log" && break; sleep 0.5; done
env_file=$(grep -o 'source .*' "$log" | awk '{print $2}')
# shellcheck disable=SC1090
. "$env_file"
# EXTRA_WORKERS more worker processes beside the stack's one.
extra=()
for _ in $(seq 1 "${EXTRA_WORKERS:-0}"); do
	bin/concord-worker >/dev/null 2>&1 &
	extra+=($!)
done
/usr/bin/python3 tests/bench/referrals.py
for p in "${extra[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
