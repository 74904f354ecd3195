#!/usr/bin/env bash
# Throughput and latency of /livez and authenticated /v1/taxonomy/needs
# and /v1/me (one database round trip) on loopback, with wrk.
# Start the service first (`make run`), then: tests/bench/foundation.sh
# Env: BASE (default http://127.0.0.1:8080), DURATION (10s), CONNS (64).
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${BASE:-http://127.0.0.1:8080}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
if [ -z "${TOKEN:-}" ]; then
	CONCORD_JWT_HS256_SECRET=${CONCORD_JWT_HS256_SECRET:-$(cat .run/jwt_secret)}
	export CONCORD_JWT_HS256_SECRET
	TOKEN=$(bin/concord-admin token --role coordinator \
	    --org 10000000-0000-4000-8000-00000000000c --ttl 3600)
fi
for path in /livez /v1/taxonomy/needs /v1/me; do
	echo "== GET $path ($CONNS connections, $DURATION, 2 threads)"
	hdr=()
	[ "$path" != /livez ] && hdr=(-H "Authorization: Bearer $TOKEN")
	wrk -t2 -c"$CONNS" -d"$DURATION" --latency "${hdr[@]}" "$BASE$path" |
	    grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors'
done
