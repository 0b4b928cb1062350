# shellcheck shell=sh
# MariaDB's innodb_snapshot_isolation as dtable-web's seatable-server sees it
# (SeaTable fails writes with error 1020 while it is ON): hostscripts/mariadb-check.py,
# run inside the container on stdin. Read-only; prints one line for
# pure/plan/node-facts.ts: "mariadb-no-container" before the container first
# runs, "mariadb-unchecked REASON" where it cannot look.
# Header: CONTAINER, MARIADB_CHECK (the text of mariadb-check.py).

if [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null || :)" != true ]; then
  echo "mariadb-no-container"
elif ! checked=$(printf '%s\n' "$MARIADB_CHECK" | timeout 12 docker exec -i "$CONTAINER" python3 - 2>&1); then
  echo "mariadb-unchecked python3 in $CONTAINER failed: $(printf '%s' "$checked" | tail -n 1)"
else
  printf '%s\n' "$checked" | tail -n 1
fi
