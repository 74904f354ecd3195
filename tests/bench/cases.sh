#!/usr/bin/env bash
# GET /v1/cases/{id} through the API (JWT check, authorization, consent
# redaction, decryption, audit append) against pgbench running the same
# SQL statement (rpc.call('case_get', ...)) at the same concurrency.
# Targets: API throughput >= 60% of pgbench's; API p99 < 10 ms at 64
# connections.
#
# Start the service first (`make run`: demo data, .run/ state), then:
#   tests/bench/cases.sh
# Give the API as many database connections as wrk opens
# (CONCORD_DB_POOL=32 with 2 workers for 64): Kore hands a freed
# connection to whichever request asks first, so a queued request can
# wait behind newcomers and the API's tail grows beyond pgbench's.
# Every read appends to the hash-chained audit log, which serializes
# commits: throughput is bounded by one WAL flush per request and p99 at
# 64 connections follows from Little's law (64 / throughput).
# Env: BASE (http://127.0.0.1:8080), DURATION (10, seconds), CONNS (64),
#      THREADS (2), CASE_ID (demo case 1), CONCORD_ADMIN_DATABASE_URL,
#      CONCORD_STATE_DIR (.run: jwt_secret, data_key).
# Exits 0 when both targets are met, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${BASE:-http://127.0.0.1:8080}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
STATE=${CONCORD_STATE_DIR:-.run}
CASE_ID=${CASE_ID:-30000000-0000-4000-8000-000000000001}
ORG=10000000-0000-4000-8000-000000000004	# Safe Harbor: the demo lead
ADMIN_URL=${CONCORD_ADMIN_DATABASE_URL:-postgresql://concord@127.0.0.1:55432/concord}
# The API's role needs its password (make run keeps it in the state folder).
API_PASSWORD=$(cat "$STATE/db_password_api" 2>/dev/null || true)
API_URL=${CONCORD_DATABASE_URL:-${ADMIN_URL/concord@/concord_api:$API_PASSWORD@}}
CONCORD_JWT_HS256_SECRET=${CONCORD_JWT_HS256_SECRET:-$(cat "$STATE/jwt_secret")}
CONCORD_DATA_KEY=${CONCORD_DATA_KEY:-$(cat "$STATE/data_key")}
export CONCORD_JWT_HS256_SECRET CONCORD_DATA_KEY
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

TOKEN=$(bin/concord-admin token --role case_manager --org "$ORG" --sub bench --ttl 3600)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/v1/cases/$CASE_ID")
[ "$code" = 200 ] || { echo "GET /v1/cases/$CASE_ID answered $code (is the demo loaded?)"; exit 1; }

echo "== API: GET /v1/cases/{id} ($CONNS connections, ${DURATION}s, $THREADS threads)"
wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" \
    "$BASE/v1/cases/$CASE_ID" > "$TMP/wrk.txt"
grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors' "$TMP/wrk.txt"
api_rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk.txt")
p99_ms=$(echo "$p99" | awk '/us$/ {sub("us",""); print $1/1000; next} /ms$/ {sub("ms",""); print $1; next} /s$/ {sub("s",""); print $1*1000}')

# The statement the API sends, with the same ctx and args it builds.
cat > "$TMP/case_get.sql" <<SQL
SELECT status, body, headers::text FROM rpc.call('case_get', '{"sub":"bench","org":"$ORG","request_id":"pgbench","path":"/v1/cases/$CASE_ID","method":"GET","roles":["case_manager"]}'::jsonb, '{"path":{"id":"$CASE_ID"},"query":{}}'::jsonb, NULL::jsonb);
SQL
echo "== pgbench: the same statement as concord_api ($CONNS clients, ${DURATION}s)"
PGOPTIONS="-c concord.data_key=$CONCORD_DATA_KEY" PGGSSENCMODE=disable \
    pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$DURATION" -f "$TMP/case_get.sql" \
    -l --log-prefix="$TMP/pgb" "$API_URL" > "$TMP/pgbench.txt" 2>&1 ||
    { cat "$TMP/pgbench.txt"; exit 1; }
grep -E 'latency average|tps' "$TMP/pgbench.txt"
# Per-transaction log: the third column is the latency in microseconds.
cat "$TMP"/pgb.* | awk '{print $3}' | sort -n |
    awk '{a[NR] = $1} END {printf "pgbench p50 %.2f ms, p99 %.2f ms\n", a[int(NR * 0.5)] / 1000, a[int(NR * 0.99)] / 1000}'
pg_tps=$(awk '/^tps/ {print $3; exit}' "$TMP/pgbench.txt")

ratio=$(awk -v a="$api_rps" -v b="$pg_tps" 'BEGIN {printf "%.2f", a / b}')
echo
echo "API ${api_rps} req/s vs pgbench ${pg_tps} tps: ratio ${ratio} (target >= 0.60)"
echo "API p99 ${p99_ms} ms (target < 10 ms at $CONNS connections)"
ok=$(awk -v r="$ratio" -v p="$p99_ms" 'BEGIN {print (r >= 0.60 && p < 10) ? 1 : 0}')
[ "$ok" = 1 ] && echo "PASS" || { echo "FAIL"; exit 1; }
