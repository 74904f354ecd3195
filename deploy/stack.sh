#!/usr/bin/env bash
# stack.sh run|test|up
#   run:  private PostgreSQL + Redis under .run/ (kept between runs), demo
#         data, API and worker in the foreground; Ctrl-C/SIGTERM stops all.
#   test: the same on throwaway state and free ports, then unit tests and
#         the API integration tests; exits non-zero on any failure.
# CONCORD_* variables that are set are honoured. When CONCORD_DATABASE_URL
# or CONCORD_REDIS_URL is set, that service is used instead of a private one.
set -euo pipefail

mode=${1:-run}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ "$mode" = test ] || [ "$mode" = dev ]; then
	STATE=$(mktemp -d /tmp/concord-test.XXXXXX)
	PG_PORT=${CONCORD_PG_PORT:-$(free_port)}
	REDIS_PORT=${CONCORD_REDIS_PORT:-$(free_port)}
	export CONCORD_LISTEN=${CONCORD_LISTEN:-127.0.0.1:$(free_port)}
	export CONCORD_JWT_HS256_SECRET=${CONCORD_JWT_HS256_SECRET:-$(openssl rand -hex 32)}
	export CONCORD_DATA_KEY=${CONCORD_DATA_KEY:-$(openssl rand -hex 32)}
	export CONCORD_DEBUG_ROUTES=${CONCORD_DEBUG_ROUTES:-1}
	# The public face of task forces is tested (off by default elsewhere).
	export CONCORD_PUBLIC=${CONCORD_PUBLIC:-1}
	# Clocks are swept every second, so tests never wait long.
	export CONCORD_DEADLINE_SWEEP_SECONDS=${CONCORD_DEADLINE_SWEEP_SECONDS:-1}
	# The suite sends thousands of requests from 127.0.0.1, many with bad
	# tokens: no address limits, subject limits it never reaches. The
	# rate-limit tests start their own API with small limits.
	export CONCORD_RATE_LIMIT_ADDR=${CONCORD_RATE_LIMIT_ADDR:-0}
	export CONCORD_RATE_LIMIT_AUTH_FAILURES=${CONCORD_RATE_LIMIT_AUTH_FAILURES:-0}
	export CONCORD_RATE_LIMIT_SUB=${CONCORD_RATE_LIMIT_SUB:-1000000}
	export CONCORD_RATE_LIMIT_REFERRALS=${CONCORD_RATE_LIMIT_REFERRALS:-1000000}
	# Webhook tests post to receivers on 127.0.0.1 over plain HTTP.
	export CONCORD_WEBHOOK_ALLOW_HTTP=${CONCORD_WEBHOOK_ALLOW_HTTP:-1}
	export CONCORD_WEBHOOK_ALLOW_PRIVATE=${CONCORD_WEBHOOK_ALLOW_PRIVATE:-1}
	# The HTTP tests act as a browser app on this origin (CORS).
	export CONCORD_CORS_ORIGINS=${CONCORD_CORS_ORIGINS-https://app.example.org}
	# GET /metrics answers this token (off when unset, as in run mode).
	export CONCORD_METRICS_TOKEN=${CONCORD_METRICS_TOKEN:-$(openssl rand -hex 16)}
	if [ -z "${CONCORD_JWT_PUBLIC_KEYS:-}" ]; then
		# Test keys for the RS256 and ES256 paths (tests sign with them).
		openssl genrsa -out "$STATE/rs1.key" 2048 2>/dev/null
		openssl rsa -in "$STATE/rs1.key" -pubout -out "$STATE/rs1.pub" 2>/dev/null
		openssl ecparam -name prime256v1 -genkey -noout -out "$STATE/es1.key"
		openssl ec -in "$STATE/es1.key" -pubout -out "$STATE/es1.pub" 2>/dev/null
		export CONCORD_JWT_PUBLIC_KEYS="rs1=$STATE/rs1.pub,es1=$STATE/es1.pub"
	fi
	WORKER_BIN=build/asan/concord-worker
	[ "$mode" = dev ] && WORKER_BIN=bin/concord-worker
else
	STATE=${CONCORD_STATE_DIR:-$ROOT/.run}
	PG_PORT=${CONCORD_PG_PORT:-55432}
	REDIS_PORT=${CONCORD_REDIS_PORT:-56379}
	export CONCORD_LISTEN=${CONCORD_LISTEN:-127.0.0.1:8080}
	mkdir -p "$STATE"
	if [ -z "${CONCORD_JWT_HS256_SECRET:-}" ]; then
		[ -s "$STATE/jwt_secret" ] || (umask 077; openssl rand -hex 32 > "$STATE/jwt_secret")
		CONCORD_JWT_HS256_SECRET=$(cat "$STATE/jwt_secret")
	fi
	export CONCORD_JWT_HS256_SECRET
	if [ -z "${CONCORD_DATA_KEY:-}" ]; then
		# Personal data is encrypted with it: losing it loses the data.
		[ -s "$STATE/data_key" ] || (umask 077; openssl rand -hex 32 > "$STATE/data_key")
		CONCORD_DATA_KEY=$(cat "$STATE/data_key")
	fi
	export CONCORD_DATA_KEY
	# The demo's webhook receiver listens on 127.0.0.1 over plain HTTP.
	export CONCORD_WEBHOOK_ALLOW_HTTP=${CONCORD_WEBHOOK_ALLOW_HTTP:-1}
	export CONCORD_WEBHOOK_ALLOW_PRIVATE=${CONCORD_WEBHOOK_ALLOW_PRIVATE:-1}
	# The HTTP tests act as a browser app on this origin (CORS).
	export CONCORD_CORS_ORIGINS=${CONCORD_CORS_ORIGINS-https://app.example.org}
	WORKER_BIN=bin/concord-worker
fi
mkdir -p "$STATE"
export CONCORD_WORKER_HEARTBEAT=${CONCORD_WORKER_HEARTBEAT:-$STATE/worker.heartbeat}
# The worker's metrics, node_exporter textfile style (worker/wmetrics.c).
export CONCORD_WORKER_METRICS_FILE=${CONCORD_WORKER_METRICS_FILE:-$STATE/worker.prom}
PIDS=()
PG_STARTED=
PGDATA=

log() { echo "concord[$mode]: $*"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	if [ -n "${REDIS_STARTED:-}" ]; then
		REDIS_PORT=$REDIS_PORT STATE=$STATE deploy/stackctl.sh redis-stop || true
	fi
	if [ -n "$PG_STARTED" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ "$mode" = test ] || [ "$mode" = dev ]; then
		rm -rf "$STATE" "${PG_FALLBACK:-/nonexistent}"
	fi
	log "stopped"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# PostgreSQL refuses to run as root: use the postgres account then.
PG_USER=
if [ "$(id -u)" -eq 0 ]; then PG_USER=postgres; fi
as_pg() {
	if [ -n "$PG_USER" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

start_postgres() {
	PGDATA="$STATE/pg"
	if [ -n "$PG_USER" ]; then
		mkdir -p "$PGDATA"
		chown "$PG_USER" "$PGDATA"
		chmod 700 "$PGDATA"
		if ! runuser -u "$PG_USER" -- test -w "$PGDATA"; then
			# A parent folder is closed to postgres: keep the
			# cluster beside /tmp and link it from the state folder.
			PG_FALLBACK=/var/tmp/concord-pg-$(echo "$STATE" | sha1sum | cut -c1-12)
			mkdir -p "$PG_FALLBACK"
			chown "$PG_USER" "$PG_FALLBACK"
			chmod 700 "$PG_FALLBACK"
			rmdir "$PGDATA" 2>/dev/null || true
			ln -sfn "$PG_FALLBACK" "$PGDATA"
			PGDATA=$PG_FALLBACK
		fi
	else
		mkdir -p "$PGDATA"
		chmod 700 "$PGDATA"
	fi
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		log "initialising PostgreSQL in $PGDATA"
		as_pg "$PGBIN/initdb" -D "$PGDATA" -U concord --auth=trust \
		    -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 ||
		    { cat "$STATE/initdb.log"; exit 1; }
		{
			echo "listen_addresses = '127.0.0.1'"
			echo "unix_socket_directories = ''"
			echo "max_connections = 300"
			echo "shared_buffers = 256MB"
			echo "logging_collector = off"
			echo "log_min_messages = warning"
			if [ "$mode" = test ]; then
				echo "fsync = off"
				echo "full_page_writes = off"
			fi
		} | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
	fi
	write_pg_hba
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PG_PORT" -l "$PGDATA/server.log" -w -t 60 start >/dev/null ||
	    { as_pg tail -20 "$PGDATA/server.log"; exit 1; }
	PG_STARTED=1
	if ! psql -h 127.0.0.1 -p "$PG_PORT" -U concord -d postgres -tAc \
	    "SELECT 1 FROM pg_database WHERE datname = 'concord'" | grep -q 1; then
		psql -q -h 127.0.0.1 -p "$PG_PORT" -U concord -d postgres -c "CREATE DATABASE concord"
	fi
	log "PostgreSQL on 127.0.0.1:$PG_PORT"
}

# Client authentication of the private cluster, rewritten on every start
# so a cluster made before it (initdb --auth=trust) gets it too. It
# listens on 127.0.0.1 only, without a Unix socket. The owner role
# concord (migrations, concord-admin, the tests' direct checks) is
# trusted on loopback; the API's and the worker's roles must give their
# password (SCRAM); anything else is refused.
write_pg_hba() {
	{
		echo "# Written by deploy/stack.sh on every start; edits are lost."
		echo "host all concord 127.0.0.1/32 trust"
		echo "host concord concord_api,concord_worker 127.0.0.1/32 scram-sha-256"
		echo "host all all 127.0.0.1/32 reject"
	} | as_pg tee "$PGDATA/pg_hba.conf" >/dev/null
}

# The password of a database role, generated once into the state folder
# (readable by its owner only) and kept for later runs.
role_password() {
	local f="$STATE/db_password_$1"
	[ -s "$f" ] || (umask 077; openssl rand -hex 24 > "$f")
	cat "$f"
}

# Set the roles' passwords as the owner, after migrate made the roles:
# works on a fresh cluster and on one from before. The statement reaches
# psql on stdin (printf is a builtin), never on a command line.
set_role_passwords() {
	printf "ALTER ROLE concord_api PASSWORD '%s';\nALTER ROLE concord_worker PASSWORD '%s';\n" \
	    "$API_DB_PASSWORD" "$WORKER_DB_PASSWORD" |
	    psql -q -X -v ON_ERROR_STOP=1 "$CONCORD_ADMIN_DATABASE_URL" >/dev/null
}

start_redis() {
	REDIS_STARTED=1
	REDIS_PORT=$REDIS_PORT STATE=$STATE deploy/stackctl.sh redis-start
	log "Redis on 127.0.0.1:$REDIS_PORT"
}

PRIVATE_PG=
if [ -z "${CONCORD_DATABASE_URL:-}" ]; then
	start_postgres
	PRIVATE_PG=1
	API_DB_PASSWORD=$(role_password api)
	WORKER_DB_PASSWORD=$(role_password worker)
	export CONCORD_DATABASE_URL="postgresql://concord_api:$API_DB_PASSWORD@127.0.0.1:$PG_PORT/concord"
	export CONCORD_WORKER_DATABASE_URL="postgresql://concord_worker:$WORKER_DB_PASSWORD@127.0.0.1:$PG_PORT/concord"
	export CONCORD_ADMIN_DATABASE_URL="postgresql://concord@127.0.0.1:$PG_PORT/concord"
fi
# Where things are, for deploy/stackctl.sh (crash tests restart services).
cat > "$STATE/stack.env" <<ENV
PG_PORT=$PG_PORT
REDIS_PORT=$REDIS_PORT
PGDATA=$PGDATA
PG_USER=$PG_USER
STATE=$STATE
ENV
if [ -z "${CONCORD_REDIS_URL:-}" ]; then
	start_redis
	export CONCORD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

bin/concord-admin migrate
if [ -n "$PRIVATE_PG" ]; then
	set_role_passwords
fi
if [ "$mode" = run ]; then
	# The demo's personal data is sealed with the data key (a connection setting).
	PGOPTIONS="-c concord.data_key=$CONCORD_DATA_KEY" bin/concord-admin sql deploy/demo.sql
	log "demo task force loaded"
fi

if [ "$mode" = test ]; then
	# Keep the test report readable: service logs go to files, shown
	# (their tail) only when something failed.
	kore -f -n -r -c api/kore.conf > "$STATE/api.log" 2>&1 &
	PIDS+=($!)
	"$WORKER_BIN" > "$STATE/worker.log" 2>&1 &
	PIDS+=($!)
else
	kore -f -n -r -c api/kore.conf &
	PIDS+=($!)
	"$WORKER_BIN" &
	PIDS+=($!)
fi

BASE="http://$CONCORD_LISTEN"
for i in $(seq 1 100); do
	if curl -fsS "$BASE/readyz" >/dev/null 2>&1; then break; fi
	if [ "$i" -eq 100 ]; then
		log "API did not become ready"
		curl -sS "$BASE/readyz" || true
		[ -f "$STATE/api.log" ] && tail -n 40 "$STATE/api.log"
		exit 1
	fi
	sleep 0.2
done
log "API ready at $BASE"

if [ "$mode" = dev ]; then
	# A throwaway stack for poking at by hand: its environment, then wait.
	env | grep -E '^CONCORD_' | sed 's/^/export /' > "$STATE/dev.env"
	echo "export CONCORD_TEST_BASE_URL=$BASE" >> "$STATE/dev.env"
	echo "export CONCORD_TEST_STATE=$STATE" >> "$STATE/dev.env"
	log "dev stack up; source $STATE/dev.env"
	wait -n "${PIDS[@]}" || true
	exit 0
fi
if [ "$mode" = test ]; then
	export CONCORD_TEST_BASE_URL="$BASE"
	export CONCORD_TEST_STATE="$STATE"
	export CONCORD_TEST_WORKER_BIN="$ROOT/$WORKER_BIN"
	rc=0
	log "unit tests"
	build/asan/unit || rc=1
	log "API integration tests"
	set +e
	$PY -m pytest -q -p no:cacheprovider tests/api ${PYTEST_ARGS:-}
	prc=$?
	set -e
	if [ $prc -ne 0 ]; then rc=1; fi
	# The worker is the sanitizer build: stop it now, so LeakSanitizer
	# reports at its exit, and fail on any sanitizer report it wrote.
	kill -TERM "${PIDS[1]}" 2>/dev/null || true
	wait "${PIDS[1]}" 2>/dev/null || true
	if grep -q "Sanitizer" "$STATE/worker.log"; then
		echo "---- sanitizer report of the worker ----"
		grep -A40 "Sanitizer" "$STATE/worker.log" | head -80
		rc=1
	fi
	if [ $rc -ne 0 ]; then
		for f in api worker; do
			echo "---- last lines of the $f log ----"
			tail -n 60 "$STATE/$f.log" || true
		done
	fi
	exit $rc
fi

echo
echo "Concord is running at $BASE (Ctrl-C stops it)."
echo "Demo tokens (valid 12 h):"
while read -r role org; do
	tok=$(bin/concord-admin token --role "$role" ${org:+--org "$org"} --sub "demo-$role" --ttl 43200)
	printf '  %-13s %s\n' "$role" "$tok"
	[ "$role" = coordinator ] && COORD=$tok
	[ "$role" = hotline ] && HOTLINE=$tok
	[ "$role" = case_manager ] && CASEMGR=$tok
done < deploy/demo-roles.txt
echo
BASE="$BASE" HOTLINE_TOKEN="$HOTLINE" NOTIFY_TOKEN="${CASEMGR:-}" $PY deploy/demo-referral.py || true
echo
echo "Try:"
echo "  curl -s $BASE/readyz"
echo "  curl -s -H \"Authorization: Bearer $COORD\" $BASE/v1/taxonomy/needs"
echo "  curl -s -H \"Authorization: Bearer $COORD\" $BASE/v1/task-forces/50000000-0000-4000-8000-000000000001/members"
echo "  (with CONCORD_PUBLIC=1: curl -s $BASE/public/v1/task-forces/50000000-0000-4000-8000-000000000001)"
echo
wait -n "${PIDS[@]}" || true
log "a process exited; stopping"
