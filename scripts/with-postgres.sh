#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server on loopback, then stop the server.
#
#   scripts/with-postgres.sh COMMAND [ARGS...]
#
# Installs Debian's PostgreSQL server if it is missing, creates a cluster in a temporary
# directory, starts it on 127.0.0.1 on a free port (trust authentication, loopback only),
# exports DATABASE_URL for COMMAND, and removes everything when COMMAND ends, whatever its
# exit status. The server runs as the `postgres` user when invoked as root, since PostgreSQL
# refuses to run as root.
set -euo pipefail

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

PGBIN=$(find_bin || true)
if [ -z "$PGBIN" ]; then
  echo "with-postgres: installing Debian's postgresql" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PGBIN=$(find_bin)
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

WORK=$(mktemp -d /tmp/wraparound-pg.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
USER_NAME=$([ "$(id -u)" = 0 ] && echo postgres || id -un)

cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

as_pg "$PGBIN/initdb" -D "$WORK/data" -U "$USER_NAME" -A trust -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-h 127.0.0.1 -p $PORT -k $WORK -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" wraparound

export DATABASE_URL="postgres://$USER_NAME@127.0.0.1:$PORT/wraparound"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
"$@"
