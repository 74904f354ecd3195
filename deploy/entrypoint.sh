#!/bin/bash
# Container entry point (deploy/Dockerfile): entrypoint.sh api|worker|migrate|admin ARGS...
#   api      Kore in the foreground, no chroot, no privilege drop (the
#            container already runs as an unprivileged user)
#   worker   the job worker (SIGTERM finishes the current job)
#   migrate  concord-admin migrate (migrations and SQL code; idempotent)
#   admin    any concord-admin command (token, sql FILE, audit-verify)
# Anything else is run as given (a shell for debugging).
set -euo pipefail
APP=${CONCORD_APP_DIR:-/app}
cd "$APP"
# The placeholders of compose.env.example and k8s/secret.example.yaml
# must never reach a running service.
for name in $(compgen -e); do
	case "$name" in
	CONCORD_* | POSTGRES_PASSWORD)
		if [[ "${!name}" == *CHANGE_ME* ]]; then
			echo "entrypoint: $name still holds a CHANGE_ME placeholder" >&2
			exit 64
		fi
		;;
	esac
done
cmd=${1:-api}
[ $# -gt 0 ] && shift
case "$cmd" in
api)		exec kore -f -n -r -c api/kore.conf "$@" ;;
worker)		exec bin/concord-worker "$@" ;;
migrate)	exec bin/concord-admin migrate --dir sql "$@" ;;
admin)		exec bin/concord-admin "$@" ;;
healthcheck)	exec deploy/healthcheck.sh "$@" ;;
*)		exec "$cmd" "$@" ;;
esac
