#!/bin/sh
# PostgreSQL from Debian's packages, started the way the official image starts: POSTGRES_USER (default postgres),
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the user), PGDATA
# (default /var/lib/postgresql/data); *.sql and *.sh in /docker-entrypoint-initdb.d run once, on a new data directory.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
BIN=/usr/lib/postgresql/15/bin
if [ "$#" -gt 0 ] && [ "$1" != postgres ]; then exec "$@"; fi
[ "$#" -gt 0 ] && shift
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
    echo "error: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > /run/postgresql/pwfile
  chown postgres /run/postgresql/pwfile
  as_postgres "$BIN/initdb" -D "$PGDATA" --username="$POSTGRES_USER" --pwfile=/run/postgresql/pwfile \
    --auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >/dev/null
  rm -f /run/postgresql/pwfile
  echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    as_postgres psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) as_postgres psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sh) . "$f" ;;
    esac
  done
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$BIN/postgres" -D "$PGDATA" \
  -c listen_addresses='*' "$@"
