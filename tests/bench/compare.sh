#!/usr/bin/env bash
# compare.sh: the performance contract in one run and one table. Each
# endpoint is driven through the API with wrk and compared with pgbench
# at the same client count doing the same work inside PostgreSQL:
#
#   GET /v1/cases/{id}  (JWT, authorization, consent rules, decryption,
#                       audit record) vs a hand-written minimal
#                       transaction: the case with its personal data
#                       (pgp_sym_decrypt), needs and consents, one audit
#                       row and its audit_pending row, synchronous_commit
#                       off. Target: ratio >= 0.4; p99 < 10 ms at 16
#                       connections, < 25 ms at 64.
#   GET /v1/me          vs prepared SELECT id, name, kind FROM
#                       organizations WHERE id = $1. Target >= 0.25.
#   POST /v1/referrals  (unique Idempotency-Key per request) and
#   PATCH /v1/cases/{id} (If-Match: *) vs pgbench running the same
#                       rpc.call statement. Target >= 0.8. A second
#                       reference, a minimal hand-written transaction of
#                       plain INSERTs/UPDATEs, shows what rpc.call costs.
#
# Start the stack first with the rate limits off (they would answer 429
# to a benchmark): CONCORD_RATE_LIMIT_SUB=0 CONCORD_RATE_LIMIT_ADDR=0
# CONCORD_RATE_LIMIT_REFERRALS=0 make run; then: tests/bench/compare.sh
# The API runs CONCORD_WORKERS x CONCORD_DB_POOL database connections
# (2 x 16 by default); pgbench opens one per client.
# Env: CONCORD_LISTEN (127.0.0.1:8080) or BASE, CONCORD_PG_PORT (55432)
#      or CONCORD_ADMIN_DATABASE_URL, CONCORD_STATE_DIR (.run: jwt_secret,
#      data_key), DURATION (10 s per measurement), THREADS (2),
#      CONNS ("16 64"), ONLY ("case me referral patch"), DRAIN (15: the
#      longest wait for the worker's other jobs between referral runs),
#      KEEP (a folder to keep the raw wrk and pgbench outputs in).
# Prints one table; exits 0 when every target is met, 1 otherwise.
# Figures depend on the machine and its load: run it more than once.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${BASE:-http://${CONCORD_LISTEN:-127.0.0.1:8080}}
PG_PORT=${CONCORD_PG_PORT:-55432}
ADMIN_URL=${CONCORD_ADMIN_DATABASE_URL:-postgresql://concord@127.0.0.1:$PG_PORT/concord}
API_URL=${ADMIN_URL/concord@/concord_api@}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNS=${CONNS:-16 64}
ONLY=${ONLY:-case me referral patch}
DRAIN=${DRAIN:-15}
STATE=${CONCORD_STATE_DIR:-.run}
CONCORD_JWT_HS256_SECRET=${CONCORD_JWT_HS256_SECRET:-$(cat "$STATE/jwt_secret")}
CONCORD_DATA_KEY=${CONCORD_DATA_KEY:-$(cat "$STATE/data_key")}
export CONCORD_JWT_HS256_SECRET CONCORD_DATA_KEY
export PGGSSENCMODE=disable PGOPTIONS="-c concord.data_key=$CONCORD_DATA_KEY"
# pgbench runs the API's statements as concord_api, which needs its
# password (the embedded stack keeps it in the state folder).
if [ -z "${PGPASSWORD:-}" ] && [ -s "$STATE/db_password_api" ]; then
	PGPASSWORD=$(cat "$STATE/db_password_api")
	export PGPASSWORD
fi
ORG=10000000-0000-4000-8000-000000000004	# Safe Harbor, lead of the demo case
CASE_ID=30000000-0000-4000-8000-000000000001	# demo case 1: needs, consents
NCASES=64	# bench cases for PATCH, 39000000-...-0000000000NN (one per client)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ROWS=()
FAIL=0

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -tA "$ADMIN_URL" "$@"; }

# "4.81ms" / "812.00us" / "1.02s" -> milliseconds.
to_ms() {
	awk '{v = $1; if (v ~ /us$/) {sub("us", "", v); v /= 1000}
	    else if (v ~ /ms$/) {sub("ms", "", v)}
	    else if (v ~ /s$/) {sub("s", "", v); v *= 1000}
	    printf "%.2f", v}' <<<"$1"
}

# wrk_run NAME CONNS ARGS...: sets W_RPS W_P50 W_P99 (ms) W_ERR.
wrk_run() {
	local name=$1 c=$2 out
	shift 2
	out="$TMP/$name-$c.wrk"
	wrk -t"$THREADS" -c"$c" -d"${DURATION}s" --latency "$@" > "$out"
	W_RPS=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$out")
	W_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
	W_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
	W_ERR=$(awk '/Non-2xx/ {print $NF}' "$out")
	W_ERR=${W_ERR:-0}
}

# pgb_run NAME CONNS URL SCRIPT [pgbench args]: sets P_TPS P_P50 P_P99.
pgb_run() {
	local name=$1 c=$2 url=$3 script=$4 out
	shift 4
	out="$TMP/$name-$c.pgb"
	mkdir -p "$TMP/log-$name-$c"
	pgbench -n -M prepared -c "$c" -j "$THREADS" -T "$DURATION" \
	    -f "$script" -l --log-prefix="$TMP/log-$name-$c/x" "$@" "$url" \
	    > "$out" 2>&1 || { cat "$out"; exit 1; }
	P_TPS=$(awk '/^tps/ {printf "%.0f", $3; exit}' "$out")
	# Per-transaction log: the third column is the latency in us.
	read -r P_P50 P_P99 < <(cat "$TMP/log-$name-$c"/x* | awk '{print $3}' |
	    sort -n | awk '{a[NR] = $1} END {printf "%.2f %.2f\n",
	    a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000}')
}

# row ENDPOINT CONNS REFERENCE TARGET_RATIO P99_LIMIT(ms or -)
row() {
	local ratio ok=yes
	ratio=$(awk -v a="$W_RPS" -v b="$P_TPS" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')
	if [ "$4" != - ] && awk -v r="$ratio" -v t="$4" 'BEGIN {exit !(r < t)}'; then
		ok=NO
	fi
	if [ "$5" != - ] && awk -v p="$W_P99" -v t="$5" 'BEGIN {exit !(p >= t)}'; then
		ok=NO
	fi
	[ "$W_ERR" != 0 ] && ok=NO
	[ "$ok" = NO ] && FAIL=1
	ROWS+=("$(printf '%-22s %5s %8s %7s %7s  %-22s %8s %7s %7s %6s %5s  %-13s %s' \
	    "$1" "$2" "$W_RPS" "$W_P50" "$W_P99" "$3" "$P_TPS" "$P_P50" "$P_P99" \
	    "$ratio" "$(cut -d' ' -f1 /proc/loadavg)" \
	    "$( [ "$4" = - ] && echo '-' || echo ">=$4")$( [ "$5" = - ] || echo ",p99<$5")" \
	    "$( [ "$4" = - ] && [ "$5" = - ] && echo info || echo $ok)$( [ "$W_ERR" != 0 ] && echo " ($W_ERR non-2xx)")")")
}

# Keep the worker's matching out of the next measurement. Matching the
# thousands of referrals one run creates takes the worker minutes (each
# runs the matching queries and offers), longer than the measurements
# themselves, and the old wait for all of it (up to 120 s, four times
# per client count) made a run take well over 9 minutes. The bench's own
# referral jobs are marked done unrun instead (jobs the worker holds are
# skipped and left to it), then the rest gets at most DRAIN seconds.
drain_jobs() {
	local i
	psql_admin -c "UPDATE jobs SET state = 'done', updated_at = now(),
	    result = '{\"skipped\": \"compare.sh\"}' WHERE id IN (
	    SELECT j.id FROM jobs j JOIN referrals r
	    ON r.id::text = j.payload->>'referral_id'
	    WHERE j.state = 'pending' AND r.reference = 'BENCH'
	    FOR UPDATE OF j SKIP LOCKED)" > /dev/null
	for i in $(seq 1 "$DRAIN"); do
		[ "$(psql_admin -c "SELECT count(*) FROM jobs WHERE
		    state = 'pending' AND run_after <= now()")" = 0 ] && return
		sleep 1
	done
	echo "compare.sh: jobs still pending after ${DRAIN}s; measuring anyway" >&2
}

TOKEN=$(bin/concord-admin token --role case_manager --org "$ORG" --sub bench --ttl 3600)
AUTH="Authorization: Bearer $TOKEN"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$BASE/v1/cases/$CASE_ID")
[ "$code" = 200 ] || { echo "GET /v1/cases/$CASE_ID answered $code (is the demo loaded?)"; exit 1; }

# The bench cases PATCH spreads over (one row lock per client at most).
psql_admin <<SQL
INSERT INTO cases (id, case_number, lead_org, identified_on, identified_by_org,
    identified_how, age, age_group, gender, nationality, languages,
    trafficking_type, jurisdiction, created_by) OVERRIDING SYSTEM VALUE
SELECT ('39000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
    'CT-BENCH-' || lpad(i::text, 6, '0'), '$ORG', '2026-02-14',
    '10000000-0000-4000-8000-00000000000b', 'hotline', 30, 'adult', 'female',
    'GT', '{es,en}', 'labor', '06037', 'bench'
FROM generate_series(1, $NCASES) i ON CONFLICT (id) DO NOTHING;
INSERT INTO case_personal (case_id, identity_enc, contact_enc, location_enc)
SELECT ('39000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
    lib.pd_seal('{"legal_name":"Bench Person","date_of_birth":"1996-01-01"}'),
    lib.pd_seal('{"phone":"+1-213-555-0100"}'), NULL
FROM generate_series(1, $NCASES) i ON CONFLICT (case_id) DO NOTHING;
SQL

CTX_GET='{"sub":"bench","org":"'$ORG'","request_id":"pgbench","path":"/v1/cases/'$CASE_ID'","method":"GET","roles":["case_manager"]}'

# a. GET /v1/cases/{id} vs the minimal transaction (as the owner role).
cat > "$TMP/case_min.sql" <<SQL
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT c.*, pgp_sym_decrypt(p.identity_enc, current_setting('concord.data_key')),
    pgp_sym_decrypt(p.contact_enc, current_setting('concord.data_key')),
    pgp_sym_decrypt(p.location_enc, current_setting('concord.data_key'))
    FROM cases c JOIN case_personal p ON p.case_id = c.id WHERE c.id = '$CASE_ID';
SELECT id, code, status FROM case_needs WHERE case_id = '$CASE_ID' ORDER BY created_at, id;
SELECT categories FROM consents WHERE case_id = '$CASE_ID' AND revoked_at IS NULL
    AND granted_at <= now() AND expires_at > now();
WITH a AS (INSERT INTO audit_log (at, actor_sub, actor_org, actor_roles, action,
    object_type, object_id, fields, request_id) VALUES (clock_timestamp(), 'bench',
    '$ORG', '{case_manager}', 'read', 'case', '$CASE_ID',
    '{case_details,contact,identity,location,needs}', 'pgbench') RETURNING id)
INSERT INTO audit_pending SELECT id FROM a;
COMMIT;
SQL
# b. GET /v1/me vs one prepared primary-key read.
cat > "$TMP/me_min.sql" <<'SQL'
SELECT id, name, kind FROM organizations WHERE id = :org;
SQL
# c. POST /v1/referrals: the API's own statement, and a minimal write.
# (The body goes in as a pgbench variable, i.e. a parameter, as the API
# sends it: pgbench would read ":true" inside a literal as a variable.)
REF_BODY='{"client":{"age":27,"gender":"female","languages":["es","en"],"trafficking_type":"labor","location":{"lat":34.05,"lon":-118.25,"jurisdiction":"06037"},"safe_contact_method":"text only, after 8pm"},"needs":["housing_emergency","legal_representation_immigration","case_management"],"urgency":"urgent","consent":{"categories":["needs","case_details","contact"],"expires_at":"2030-01-01T00:00:00Z","form_reference":"BENCH-0001","informed":true,"written":true,"purpose":"bench"},"notes":"bench referral","reference":"BENCH"}'
cat > "$TMP/ref_rpc.sql" <<SQL
\set k random(1, 1000000000000)
SELECT status, body, headers::text FROM rpc.call('referral_create',
    '{"sub":"bench","org":"$ORG","request_id":"pgbench","path":"/v1/referrals","method":"POST","roles":["case_manager"]}'::jsonb,
    ('{"path":{},"query":{},"idempotency_key":"pgb-' || :client_id || '-' || :k || '"}')::jsonb,
    :body::jsonb);
SQL
cat > "$TMP/ref_min.sql" <<SQL
\set k random(1, 1000000000000)
BEGIN;
INSERT INTO idempotency_keys (org_id, key, request_hash, status, body)
    VALUES ('$ORG', 'pgm-' || :client_id || '-' || :k, md5('x'), 0, '{}');
WITH r AS (INSERT INTO referrals (sender_org, sender_sub, sender_hotline, reference,
    age, minor, gender, languages, trafficking_type, lat, lon, jurisdiction,
    contact_enc, notes_enc, urgency, consent_categories, consent_expires_at,
    consent_form_reference, consent_purpose)
    VALUES ('$ORG', 'bench', false, 'BENCH', 27, false, 'female', '{es,en}', 'labor',
    34.05, -118.25, '06037',
    pgp_sym_encrypt('text only, after 8pm', current_setting('concord.data_key'), 'cipher-algo=aes256, s2k-mode=1'),
    pgp_sym_encrypt('bench referral', current_setting('concord.data_key'), 'cipher-algo=aes256, s2k-mode=1'),
    'urgent', '{case_details,contact,needs}', '2030-01-01', 'BENCH-0001', 'bench')
    RETURNING id),
n AS (INSERT INTO referral_needs (referral_id, position, need_code)
    SELECT r.id, x.i - 1, x.code FROM r, unnest(ARRAY['housing_emergency',
    'legal_representation_immigration', 'case_management']) WITH ORDINALITY x (code, i))
INSERT INTO jobs (kind, payload) SELECT 'referral.match',
    jsonb_build_object('referral_id', r.id) FROM r;
UPDATE idempotency_keys SET status = 201, body = '{}' WHERE org_id = '$ORG'
    AND key = 'pgm-' || :client_id || '-' || :k;
COMMIT;
SQL
cat > "$TMP/referral.lua" <<LUA
-- Unique Idempotency-Key per request: thread id, start time, counter.
local n, prefix = 0, nil
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end
function init(args)
	prefix = "wrk-" .. os.time() .. "-" .. tostring(tid) .. "-" .. math.random(1, 1e9)
end
function request()
	n = n + 1
	return wrk.format("POST", "/v1/referrals", {
		["Authorization"] = "Bearer $TOKEN",
		["Content-Type"] = "application/json",
		["Idempotency-Key"] = prefix .. "-" .. n }, '$REF_BODY')
end
LUA
# c. PATCH /v1/cases/{id} over the bench cases with If-Match: *.
PATCH_BODY='{"jurisdiction":"06037"}'
cat > "$TMP/patch_rpc.sql" <<SQL
\set i random(1, $NCASES)
SELECT status, body, headers::text FROM rpc.call('case_update',
    ('{"sub":"bench","org":"$ORG","request_id":"pgbench","path":"/v1/cases/39000000-0000-4000-8000-' || lpad(:i::text, 12, '0') || '","method":"PATCH","roles":["case_manager"]}')::jsonb,
    ('{"path":{"id":"39000000-0000-4000-8000-' || lpad(:i::text, 12, '0') || '"},"query":{},"if_match":"*"}')::jsonb,
    '$PATCH_BODY'::jsonb);
SQL
cat > "$TMP/patch_min.sql" <<SQL
\set i random(1, $NCASES)
BEGIN;
WITH u AS (UPDATE cases SET jurisdiction = '06037', version = version + 1,
    updated_at = now() WHERE id = ('39000000-0000-4000-8000-' || lpad(:i::text, 12, '0'))::uuid
    RETURNING id),
a AS (INSERT INTO audit_log (at, actor_sub, actor_org, actor_roles, action,
    object_type, object_id, fields, request_id) SELECT clock_timestamp(), 'bench',
    '$ORG', '{case_manager}', 'update', 'case', u.id, '{jurisdiction}', 'pgbench'
    FROM u RETURNING id)
INSERT INTO audit_pending SELECT id FROM a;
COMMIT;
SQL
cat > "$TMP/patch.lua" <<LUA
-- PATCH a random bench case (If-Match: * accepts any version).
function request()
	local id = string.format("39000000-0000-4000-8000-%012d", math.random(1, $NCASES))
	return wrk.format("PATCH", "/v1/cases/" .. id, {
		["Authorization"] = "Bearer $TOKEN",
		["Content-Type"] = "application/json",
		["If-Match"] = "*" }, '$PATCH_BODY')
end
LUA

for c in $CONNS; do
	case " $ONLY " in *" case "*)
		wrk_run case "$c" -H "$AUTH" "$BASE/v1/cases/$CASE_ID"
		pgb_run case_min "$c" "$ADMIN_URL" "$TMP/case_min.sql"
		limit=25; [ "$c" -le 16 ] && limit=10
		row "GET /v1/cases/{id}" "$c" "minimal SQL txn" 0.4 "$limit"
	esac
	case " $ONLY " in *" me "*)
		wrk_run me "$c" -H "$AUTH" "$BASE/v1/me"
		pgb_run me_min "$c" "$ADMIN_URL" "$TMP/me_min.sql" -D org="$ORG"
		row "GET /v1/me" "$c" "prepared PK SELECT" 0.25 -
	esac
	case " $ONLY " in *" referral "*)
		drain_jobs
		wrk_run referral "$c" -s "$TMP/referral.lua" "$BASE/v1/referrals"
		drain_jobs
		pgb_run ref_rpc "$c" "$API_URL" "$TMP/ref_rpc.sql" -D body="$REF_BODY"
		row "POST /v1/referrals" "$c" "rpc.call statement" 0.8 -
		ref_rpc_tps=$P_TPS ref_rpc_p50=$P_P50 ref_rpc_p99=$P_P99
		drain_jobs
		pgb_run ref_min "$c" "$ADMIN_URL" "$TMP/ref_min.sql"
		W_RPS=$ref_rpc_tps W_P50=$ref_rpc_p50 W_P99=$ref_rpc_p99 W_ERR=0
		row "  rpc.call referral" "$c" "minimal INSERTs" - -
		drain_jobs
	esac
	case " $ONLY " in *" patch "*)
		wrk_run patch "$c" -s "$TMP/patch.lua" "$BASE/v1/cases"
		pgb_run patch_rpc "$c" "$API_URL" "$TMP/patch_rpc.sql"
		row "PATCH /v1/cases/{id}" "$c" "rpc.call statement" 0.8 -
		patch_rpc_tps=$P_TPS patch_rpc_p50=$P_P50 patch_rpc_p99=$P_P99
		pgb_run patch_min "$c" "$ADMIN_URL" "$TMP/patch_min.sql"
		W_RPS=$patch_rpc_tps W_P50=$patch_rpc_p50 W_P99=$patch_rpc_p99 W_ERR=0
		row "  rpc.call case_update" "$c" "minimal UPDATE+audit" - -
	esac
done
[ -n "${KEEP:-}" ] && { mkdir -p "$KEEP"; cp -r "$TMP"/. "$KEEP"/; }

echo "compare.sh: ${DURATION}s per measurement, $THREADS threads, $(nproc) cores, $(date -u +%FT%TZ), ${SECONDS}s in all; load = 1-min load average after the row"
printf '%-22s %5s %8s %7s %7s  %-22s %8s %7s %7s %6s %5s  %-13s %s\n' endpoint conns 'req/s' \
    'p50 ms' 'p99 ms' reference 'ref tps' 'ref p50' 'ref p99' ratio load target met
for r in "${ROWS[@]}"; do echo "$r"; done
exit $FAIL
