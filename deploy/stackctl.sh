#!/usr/bin/env bash
# stackctl.sh ACTION: stop and start the private services of a running
# stack (used by the crash tests). Reads $STATE/stack.env, or REDIS_PORT
# and STATE from the environment.
#   redis-start | redis-stop | pg-stop | pg-start | pg-restart
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-${CONCORD_TEST_STATE:-.run}}
[ -f "$STATE/stack.env" ] && . "$STATE/stack.env"
PGBIN=/usr/lib/postgresql/15/bin
as_pg() {
	if [ -n "${PG_USER:-}" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}
case "${1:-}" in
redis-start)
	mkdir -p "$STATE/redis"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE/redis" \
	    --save '' --appendonly no --protected-mode yes --loglevel warning \
	    --daemonize yes --pidfile "$STATE/redis.pid" \
	    --logfile "$STATE/redis.log"
	for _ in $(seq 1 100); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && exit 0
		sleep 0.05
	done
	echo "redis did not start" >&2
	exit 1
	;;
redis-stop)
	redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	for _ in $(seq 1 100); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || exit 0
		sleep 0.05
	done
	[ -f "$STATE/redis.pid" ] && kill -9 "$(cat "$STATE/redis.pid")" 2>/dev/null || true
	;;
pg-stop)
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
	;;
pg-start)
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PG_PORT" -l "$PGDATA/server.log" -w -t 60 start >/dev/null
	;;
pg-restart)
	"$0" pg-stop
	"$0" pg-start
	;;
*)
	echo "usage: stackctl.sh redis-start|redis-stop|pg-stop|pg-start|pg-restart" >&2
	exit 2
	;;
esac
