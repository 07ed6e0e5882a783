#!/bin/sh
# MariaDB from Debian's packages (Slipway's stand-in for MySQL), started the way the official mysql/mariadb images
# start: MYSQL_ROOT_PASSWORD (required unless MYSQL_ALLOW_EMPTY_PASSWORD), MYSQL_DATABASE, MYSQL_USER and
# MYSQL_PASSWORD (the MARIADB_* names too); data in /var/lib/mysql; *.sql in /docker-entrypoint-initdb.d run once.
set -eu
ROOT_PASSWORD="${MYSQL_ROOT_PASSWORD:-${MARIADB_ROOT_PASSWORD:-}}"
DATABASE="${MYSQL_DATABASE:-${MARIADB_DATABASE:-}}"
USER_NAME="${MYSQL_USER:-${MARIADB_USER:-}}"
USER_PASSWORD="${MYSQL_PASSWORD:-${MARIADB_PASSWORD:-}}"
DATADIR=/var/lib/mysql
if [ "$#" -gt 0 ] && [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then exec "$@"; fi
[ "$#" -gt 0 ] && shift
mkdir -p "$DATADIR" /run/mysqld
chown -R mysql:mysql "$DATADIR" /run/mysqld
if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "$ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
    echo "error: MYSQL_ROOT_PASSWORD is not set (or set MYSQL_ALLOW_EMPTY_PASSWORD=yes)" >&2
    exit 1
  fi
  mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db >/dev/null
  mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  for _ in $(seq 60); do
    mariadb --socket=/run/mysqld/init.sock -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  sql() { mariadb --socket=/run/mysqld/init.sock -uroot "$@"; }
  quote() { printf '%s' "$1" | sed "s/'/''/g"; }
  {
    echo "DELETE FROM mysql.global_priv WHERE User = '';"
    echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$(quote "$ROOT_PASSWORD")';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(quote "$ROOT_PASSWORD")';"
    if [ -n "$DATABASE" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$DATABASE\`;"; fi
    if [ -n "$USER_NAME" ] && [ "$USER_NAME" != root ]; then
      echo "CREATE USER '$(quote "$USER_NAME")'@'%' IDENTIFIED BY '$(quote "$USER_PASSWORD")';"
      if [ -n "$DATABASE" ]; then echo "GRANT ALL ON \`$DATABASE\`.* TO '$(quote "$USER_NAME")'@'%';"; fi
    fi
    echo "FLUSH PRIVILEGES;"
    for f in /docker-entrypoint-initdb.d/*.sql; do
      if [ -e "$f" ]; then echo "USE \`${DATABASE:-mysql}\`;"; cat "$f"; fi
    done
  } | sql || {
    # a half-made data directory would be taken for a finished one at the next start
    echo "error: initialising the data directory failed" >&2
    kill "$pid"
    wait "$pid" || true
    find "$DATADIR" -mindepth 1 -delete
    exit 1
  }
  kill "$pid"
  wait "$pid" || true
  echo "MariaDB init process done. Ready for start up."
fi
exec mariadbd --user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306 "$@"
