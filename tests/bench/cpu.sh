#!/usr/bin/env bash
# cpu.sh: CPU time per request, which moves far less with the machine's
# load than req/s. Drives one GET with wrk and reads, from /proc, the
# CPU the API's Kore processes (those listening on the port) and the
# whole PostgreSQL cluster (the postmaster's children: backends, WAL
# writer, the worker's sessions, autovacuum) used meanwhile, divided by
# the requests served.
#   tests/bench/cpu.sh [PATH] (default /v1/me)
# Env: CONCORD_LISTEN (127.0.0.1:8080), PGDATA (.run/pg), CONNS (16),
#      DURATION (8), ROLE (case_manager), ORG (Safe Harbor), TOKEN.
# Prints: path, conns, req/s, Kore us/request, PostgreSQL us/request,
# 1-min load average.
set -euo pipefail
cd "$(dirname "$0")/../.."
LISTEN=${CONCORD_LISTEN:-127.0.0.1:8080}
URLPATH=${1:-/v1/me}
PGDATA=${PGDATA:-.run/pg}
CONNS=${CONNS:-16}
DURATION=${DURATION:-8}
ORG=${ORG:-10000000-0000-4000-8000-000000000004}
if [ -z "${TOKEN:-}" ]; then
	CONCORD_JWT_HS256_SECRET=${CONCORD_JWT_HS256_SECRET:-$(cat "${CONCORD_STATE_DIR:-.run}/jwt_secret")}
	export CONCORD_JWT_HS256_SECRET
	TOKEN=$(bin/concord-admin token --role "${ROLE:-case_manager}" --org "$ORG" \
	    --sub bench --ttl 3600)
fi
PM=$(head -1 "$PGDATA/postmaster.pid")
KORE=$(ss -ltnp | grep -F " $LISTEN " | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
[ -n "$KORE" ] || { echo "nothing listens on $LISTEN"; exit 1; }

# Clock ticks (user + system) of the given processes.
ticks() {
	local s=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$s"
}
# shellcheck disable=SC2086,SC2046
k0=$(ticks $KORE) p0=$(ticks $(pgrep -P "$PM"))
out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" \
    "http://$LISTEN$URLPATH")
# shellcheck disable=SC2086,SC2046
k1=$(ticks $KORE) p1=$(ticks $(pgrep -P "$PM"))
n=$(awk '/requests in/ {print $1}' <<<"$out")
rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
awk -v hz="$(getconf CLK_TCK)" -v n="$n" -v k="$((k1 - k0))" -v p="$((p1 - p0))" \
    -v path="$URLPATH" -v c="$CONNS" -v rps="$rps" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    -v bad="${bad:-0}" 'BEGIN {printf "%s conns=%s req/s=%s kore_us/req=%.0f pg_us/req=%.0f load=%s non2xx=%s\n",
    path, c, rps, k * 1e6 / hz / n, p * 1e6 / hz / n, load, bad}'
