#!/bin/sh
# Seeds the shop's PostgreSQL (idempotent: run on every deployment) and reports how many products there are as
# the job's output PRODUCTS, which becomes the environment-wide built-in QOVERY_OUTPUT_JOB_Z<job>_PRODUCTS that
# the services of the next stages (the applications) see.
set -eu
# the database's URL: Qovery's built-in QOVERY_POSTGRESQL_Z<first 8 hex of its id>_DATABASE_URL_INTERNAL
pg=$(env | sed -n 's/^QOVERY_POSTGRESQL_Z[A-Z0-9]*_DATABASE_URL_INTERNAL=//p' | head -1)
if [ -z "$pg" ]; then
  echo "seed: no QOVERY_POSTGRESQL_Z…_DATABASE_URL_INTERNAL: is there a PostgreSQL database in this environment?" >&2
  exit 1
fi
export PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning'  # no NOTICE when the tables exist
tries=0
until psql "$pg" -X -q -tA -c 'SELECT 1' > /dev/null; do  # the database may still be opening its connections
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then echo "seed: the database does not answer" >&2; exit 1; fi
  sleep 2
done
psql "$pg" -X -q -v ON_ERROR_STOP=1 \
  -c 'CREATE TABLE IF NOT EXISTS products (name text PRIMARY KEY)' \
  -c 'CREATE TABLE IF NOT EXISTS visits (at timestamptz NOT NULL DEFAULT now())' \
  -c "INSERT INTO products (name) VALUES ('kettle'), ('mug'), ('teapot'), ('tea towel') ON CONFLICT DO NOTHING"
n=$(psql "$pg" -X -q -tA -v ON_ERROR_STOP=1 -c 'SELECT count(*) FROM products')
mkdir -p /qovery-output
printf '{"PRODUCTS": {"value": "%s", "sensitive": false}}\n' "$n" > /qovery-output/qovery-output.json
echo "seed: $n product(s)"
