#!/bin/sh
# Redis from Debian's packages, as the official image runs it: `redis-server [options]` in /data (a password with
# `--requirepass`, persistence with `--appendonly yes`); any other command runs as given.
set -eu
mkdir -p /data
chown redis:redis /data
if [ "$#" -eq 0 ] || [ "$1" = redis-server ]; then
  [ "$#" -gt 0 ] && shift
  exec setpriv --reuid=redis --regid=redis --init-groups -- redis-server --dir /data --bind 0.0.0.0 \
    --protected-mode no "$@"
fi
exec "$@"
