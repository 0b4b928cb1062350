# shellcheck shell=sh
# After a node's container runs: the conf edits (lib/edit-conf.sh), then, if a
# file changed, a reload of dtable-web (gunicorn HUP, AD FAQ: sessions and
# WebSockets stay) when only files it alone reads changed, else a restart of
# seatable-server. A marker with the changed files survives a lost reload or
# restart, so that running the step again does it.
# Header: MARKER, CONTAINER, STOP_TIMEOUT, RELOAD_FILES (one file name per
# line), WEB_PID_FILE; those of lib/edit-conf.sh.

if ! out=$(edit_conf); then printf '%s\n' "$out"; exit 1; fi
printf '%s\n' "$out"
changed=$(printf '%s\n' "$out" | sed -n 's/^changed //p')
if [ -n "$changed" ]; then printf '%s\n' "$changed" >> "$MARKER"; fi

# every file the marker names is one a reload takes (an empty marker, written by an older version: a restart)
reload_only() {
  [ -s "$MARKER" ] || return 1
  while read -r f; do
    [ -n "$f" ] || continue
    printf '%s\n' "$RELOAD_FILES" | grep -Fqx -- "$f" || return 1
  done < "$MARKER"
}

if [ -e "$MARKER" ]; then
  if reload_only; then
    docker exec "$CONTAINER" sh -c 'kill -HUP "$(cat "$1")"' sh "$WEB_PID_FILE"
    echo "reloaded dtable-web in $CONTAINER (gunicorn HUP): only $(sort -u "$MARKER" | paste -sd ' ' -) changed"
  else
    docker restart -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
    echo "restarted $CONTAINER"
  fi
  rm -f "$MARKER"
fi
