#!/usr/bin/env bash
# reports.sh: build every report kind for a one-year period against a
# running `make run` stack and show how long each took, how many rows it
# has, and the API's latency (GET /v1/me, p50/p99) while it built.
#
#   export CONCORD_LISTEN=127.0.0.1:18380 CONCORD_PG_PORT=55580 CONCORD_REDIS_PORT=56580
#   make run > /tmp/rs-run.log 2>&1 &
#   GEN=0.1 tests/bench/reports.sh     # load gen_reports.sql at scale 0.1 first
#   tests/bench/reports.sh             # data already loaded
#
# Env: GEN (scale to load first; unset: load nothing), PERIOD (2025),
# KINDS (all six), GROUP_BY (none; e.g. jurisdiction for clients/needs),
# GRAIN (coverage: county, the default, or state),
# PROBES (4 concurrent GET /v1/me loops), STATE (.run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STATE=${STATE:-$ROOT/.run}
LISTEN=${CONCORD_LISTEN:-127.0.0.1:8080}
BASE="http://$LISTEN"
PG_PORT=${CONCORD_PG_PORT:-55432}
ADMIN_URL=${CONCORD_ADMIN_DATABASE_URL:-postgresql://concord@127.0.0.1:$PG_PORT/concord}
PERIOD=${PERIOD:-2025}
KINDS=${KINDS:-clients needs referrals criminal_justice partners coverage}
PROBES=${PROBES:-4}
ORG=10000000-0000-4000-8000-00000000000d	# the demo analyst's organization
export CONCORD_JWT_HS256_SECRET=${CONCORD_JWT_HS256_SECRET:-$(cat "$STATE/jwt_secret")}
export CONCORD_DATABASE_URL=${CONCORD_DATABASE_URL:-$ADMIN_URL}
TOKEN=$(bin/concord-admin token --role analyst --org "$ORG" --sub "bench-reports-$$" --ttl 7200)
curl -fsS "$BASE/readyz" >/dev/null || { echo "no stack at $BASE" >&2; exit 1; }

if [ -n "${GEN:-}" ]; then
	echo "loading gen_reports.sql at scale $GEN ..."
	t0=$(date +%s)
	psql -X -q "$ADMIN_URL" -v scale="$GEN" -f tests/bench/gen_reports.sql |
	    grep -v '^Time' | tail -4
	echo "loaded in $(( $(date +%s) - t0 )) s"
fi
psql -X -qAt "$ADMIN_URL" -c "SELECT 'data: ' || (SELECT count(*) FROM cases) ||
    ' cases, ' || (SELECT count(*) FROM case_needs) || ' needs, ' ||
    (SELECT count(*) FROM referrals) || ' referrals, ' ||
    (SELECT count(*) FROM referral_offers) || ' offers, ' ||
    (SELECT count(*) FROM investigations) || ' investigations'"

TMP=$(mktemp -d)
PROBE_PIDS=()
trap 'for p in "${PROBE_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# A probe: GET /v1/me in a loop, one latency (seconds) per line.
# Each probe has a subject of its own (~10 requests/s, well under the
# per-subject rate limit of 1200/min).
probe() {
	local tok
	tok=$(bin/concord-admin token --role analyst --org "$ORG" --sub "bench-probe-$$-$1" --ttl 7200)
	while :; do
		curl -s -o /dev/null -w '%{time_total}\n' \
		    -H "Authorization: Bearer $tok" "$BASE/v1/me" || true
		sleep 0.1
	done
}
# p50 and p99 (ms) of the latencies in the probe files.
latency() {
	cat "$TMP"/probe.* 2>/dev/null | sort -n | awk '{ v[NR] = $1 * 1000 }
	    END { if (NR == 0) { print "-"; exit }
		i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
		i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
		printf "%.1f / %.1f ms (n=%d)", v[i50], v[i99], NR }'
}

printf '%-17s %-9s %8s %8s %8s %8s %7s %7s  %s\n' kind status build_ms query_ms \
    publish_ms wall_s rows hidden \
    "GET /v1/me p50 / p99 during"
for kind in $KINDS; do
	body="{\"kind\":\"$kind\",\"period\":\"$PERIOD\""
	[ -n "${GROUP_BY:-}" ] && body="$body,\"group_by\":\"$GROUP_BY\""
	[ "$kind" = coverage ] && body="$body,\"include_clients\":true"
	[ "$kind" = coverage ] && [ -n "${GRAIN:-}" ] && body="$body,\"grain\":\"$GRAIN\""
	body="$body}"
	rm -f "$TMP"/probe.*
	PROBE_PIDS=()
	for i in $(seq 1 "$PROBES"); do
		probe "$i" > "$TMP/probe.$i" &
		PROBE_PIDS+=($!)
	done
	t0=$(date +%s.%N)
	loc=$(curl -fsS -D - -o /dev/null -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' -d "$body" "$BASE/v1/reports" |
	    tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	id=${loc##*/}
	st=queued
	while [ "$st" = queued ] || [ "$st" = running ]; do
		sleep 0.25
		st=$(curl -sS -H "Authorization: Bearer $TOKEN" "$BASE$loc" |
		    python3 -c 'import json,sys; s = json.load(sys.stdin).get("status"); print(s if isinstance(s, str) else "running")' 2>/dev/null || echo running)
	done
	t1=$(date +%s.%N)
	for p in "${PROBE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	PROBE_PIDS=()
	res=$(psql -X -qAt "$ADMIN_URL" -c "SELECT coalesce(j.result->>'build_ms',
	    (extract(epoch FROM r.finished_at - r.started_at) * 1000)::bigint::text),
	    coalesce(j.result->>'query_ms', '-'),
	    coalesce(j.result->>'publish_ms', '-'),
	    jsonb_array_length(coalesce(r.result->'rows', '[]')),
	    coalesce(r.result->>'hidden_cells', '-'), coalesce(r.reason, '')
	    FROM reports r LEFT JOIN jobs j ON j.kind = 'report.build' AND
	    j.payload->>'report_id' = r.id::text WHERE r.id = '$id'")
	IFS='|' read -r ms qms pms nrows hidden reason <<<"$res"
	printf '%-17s %-9s %8s %8s %8s %8.1f %7s %7s  %s\n' "$kind" "$st" "$ms" \
	    "$qms" "$pms" "$(echo "$t1 - $t0" | bc)" "$nrows" "$hidden" "$(latency)"
	[ -n "$reason" ] && echo "  reason: $reason"
done
