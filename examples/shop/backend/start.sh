#!/bin/sh
# Starts the backend: busybox httpd on :8080 serving /www, where
#   /                      200 "ok" (the readiness probe's path)
#   /cgi-bin/products      the products' names, one a line (text/plain)
#   /cgi-bin/visit         records a visit, answers how many visits there were (text/plain)
set -eu
# the database's URL: Qovery's built-in QOVERY_POSTGRESQL_Z<first 8 hex of its id>_DATABASE_URL_INTERNAL
DB=$(env | sed -n 's/^QOVERY_POSTGRESQL_Z[A-Z0-9]*_DATABASE_URL_INTERNAL=//p' | head -1)
if [ -z "$DB" ]; then
  echo "backend: no QOVERY_POSTGRESQL_Z…_DATABASE_URL_INTERNAL: is there a PostgreSQL database in this environment?" >&2
  exit 1
fi
# busybox httpd runs each CGI script with its own environment (plus the request's variables): the scripts read these
export DB PGCONNECT_TIMEOUT=5
echo "backend: listening on :8080"
# httpd as PID 1 would ignore SIGTERM (and each replaced container would wait out its stop timeout): stop it here
busybox httpd -f -p 8080 -h /www &
httpd=$!
trap 'kill "$httpd"; wait "$httpd" || :; exit 0' TERM INT
wait "$httpd"
