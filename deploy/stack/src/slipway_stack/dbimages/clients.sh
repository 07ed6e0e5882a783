#!/bin/sh
# Database clients (psql, mariadb, redis-cli) and busybox: runs the command it is given.
exec "$@"
