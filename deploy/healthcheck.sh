#!/bin/bash
# healthcheck.sh [api|worker-live|worker-ready] [MAX_AGE_S]
# Container probes without curl (bash's /dev/tcp):
#   api           GET /livez on CONCORD_LISTEN's port answers 200
#   worker-live   line 1 of CONCORD_WORKER_HEARTBEAT (Unix time of the
#                 worker's last loop) is at most MAX_AGE_S old (default
#                 120: a loop may spend CONCORD_WORKER_STATEMENT_TIMEOUT_MS
#                 on one statement)
#   worker-ready  worker-live, and line 2 is "ready"
# Without an argument it probes what PID 1 runs (kore: api, else worker),
# so one image-wide HEALTHCHECK serves both. Exit 0 healthy, 1 not.
set -uo pipefail
mode=${1:-}
max_age=${2:-120}
if [ -z "$mode" ]; then
	case "$(cat /proc/1/comm 2>/dev/null)" in
	kore) mode=api ;;
	*) mode=worker-live ;;
	esac
fi

api() {
	local listen=${CONCORD_LISTEN:-127.0.0.1:8080} host port status
	port=${listen##*:}
	host=${listen%:*}
	host=${host#[}
	host=${host%]}
	case "$host" in
	0.0.0.0 | '*' | '') host=127.0.0.1 ;;
	::) host=::1 ;;
	esac
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
	IFS= read -r -t 2 status <&3 || return 1
	exec 3<&-
	case "$status" in
	"HTTP/1.1 200"*) return 0 ;;
	*) echo "livez: ${status%$'\r'}" >&2; return 1 ;;
	esac
}

worker() {
	local f=${CONCORD_WORKER_HEARTBEAT:-} ts state now
	[ -n "$f" ] || { echo "CONCORD_WORKER_HEARTBEAT is not set" >&2; return 1; }
	{ IFS= read -r ts && IFS= read -r state; } < "$f" 2>/dev/null ||
	    { echo "no heartbeat in $f" >&2; return 1; }
	[[ "$ts" =~ ^[0-9]+$ ]] || { echo "heartbeat: bad time" >&2; return 1; }
	now=$(date +%s)
	if [ $((now - ts)) -gt "$max_age" ]; then
		echo "heartbeat $((now - ts)) s old" >&2
		return 1
	fi
	if [ "$1" = ready ] && [ "$state" != ready ]; then
		echo "worker $state" >&2
		return 1
	fi
	return 0
}

case "$mode" in
api) api ;;
worker-live) worker live ;;
worker-ready) worker ready ;;
*) echo "usage: healthcheck.sh [api|worker-live|worker-ready] [MAX_AGE_S]" >&2; exit 2 ;;
esac
