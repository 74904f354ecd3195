#!/bin/bash
# First start of the postgres:15 container (compose.yaml mounts this
# folder at /docker-entrypoint-initdb.d; it runs once, on an empty
# volume). As the superuser (POSTGRES_USER) it creates:
#   concord         owner of database concord (migrations; not a superuser)
#   concord_api     the API's role   (password CONCORD_API_DB_PASSWORD)
#   concord_worker  the worker's role (password CONCORD_WORKER_DB_PASSWORD)
# and the extensions the migrations need that an owner may not create
# itself (earthdistance is not a trusted extension). Migrations then grant
# concord_api and concord_worker exactly what they need.
# Passwords travel through the environment (psql's \getenv), never on a
# command line. Rotating one later: ALTER ROLE ... PASSWORD as a superuser.
set -euo pipefail
for v in CONCORD_OWNER_DB_PASSWORD CONCORD_API_DB_PASSWORD CONCORD_WORKER_DB_PASSWORD; do
	if [ -z "${!v:-}" ]; then
		echo "10-concord-roles.sh: $v is not set" >&2
		exit 1
	fi
done
psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv owner_pw CONCORD_OWNER_DB_PASSWORD
\getenv api_pw CONCORD_API_DB_PASSWORD
\getenv worker_pw CONCORD_WORKER_DB_PASSWORD
CREATE ROLE concord LOGIN PASSWORD :'owner_pw';
CREATE ROLE concord_api LOGIN PASSWORD :'api_pw';
CREATE ROLE concord_worker LOGIN PASSWORD :'worker_pw';
CREATE DATABASE concord OWNER concord ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE concord FROM PUBLIC;
GRANT CONNECT ON DATABASE concord TO concord_api, concord_worker;
\connect concord
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;
SQL
echo "10-concord-roles.sh: roles concord, concord_api, concord_worker and database concord created"
