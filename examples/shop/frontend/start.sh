#!/bin/sh
# Starts the frontend: busybox httpd on :8080 serving /www, where
#   /          the shop's page: /www has no index.html, so httpd runs /cgi-bin/index.cgi for it
#   /healthz   200 "ok" (the readiness probe's path: probing / would record a visit every second)
set -eu
# BACKEND_HOST: an alias examples/shop/deploy.sh creates on this application for the backend's built-in
# QOVERY_APPLICATION_Z<first 8 hex of the backend's id>_HOST_INTERNAL, so its value is whatever internal name the
# cluster gives the backend (docker engine or Kubernetes). Matching QOVERY_APPLICATION_Z*_HOST_INTERNAL here
# would not do: this application has one too.
: "${BACKEND_HOST:?no BACKEND_HOST: create it as examples/shop/deploy.sh does (an alias of the backend HOST_INTERNAL)}"
# the seeding job's output: the environment-wide built-in QOVERY_OUTPUT_JOB_Z<job>_PRODUCTS (the only job here)
PRODUCTS_SEEDED=$(env | sed -n 's/^QOVERY_OUTPUT_JOB_Z[A-Z0-9]*_PRODUCTS=//p' | head -1)
# busybox httpd runs each CGI script with its own environment (plus the request's variables): index.cgi reads these
export BACKEND_HOST PRODUCTS_SEEDED
echo "frontend: listening on :8080, backend at $BACKEND_HOST:8080, seeded products: ${PRODUCTS_SEEDED:-none}"
# httpd as PID 1 would ignore SIGTERM (and each replaced container would wait out its stop timeout): stop it here
busybox httpd -f -p 8080 -h /www &
httpd=$!
trap 'kill "$httpd"; wait "$httpd" || :; exit 0' TERM INT
wait "$httpd"
