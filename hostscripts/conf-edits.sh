# shellcheck shell=sh
# After a node's container runs: the conf edits (lib/edit-conf.sh), and a
# restart of seatable-server if a file changed. A marker survives a lost
# restart, so that running the step again restarts.
# Header: MARKER, CONTAINER, STOP_TIMEOUT; those of lib/edit-conf.sh.

if ! out=$(edit_conf); then printf '%s\n' "$out"; exit 1; fi
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -q '^changed '; then touch "$MARKER"; fi
if [ -e "$MARKER" ]; then
  docker restart -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
  rm -f "$MARKER"
  echo "restarted $CONTAINER"
fi
