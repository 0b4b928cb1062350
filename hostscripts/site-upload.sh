# shellcheck shell=sh
# dtable-web's seatable-nginx.conf (on stdin): tested with nginx -t inside
# seatable-server, then reloaded; a failed test leaves the live file and the
# running nginx as they were. Header: SITE_DIR, SITE_FILE, CONTAINER.

[ -d "$SITE_DIR" ] || install -d -m 755 "$SITE_DIR"
F=$SITE_FILE
cat > "$F.next"
if [ -f "$F" ] && [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" = true ]; then
  # Written in place, as the container mounts this one file (it would not see
  # a renamed one), so nginx inside can test it. What nginx runs stays in
  # $F.prev until the reload: a run that stopped half-way left it there, and
  # it is the one to come back to.
  [ -e "$F.prev" ] || cp -p "$F" "$F.prev"
  cat "$F.next" > "$F"
  if ! out=$(docker exec "$CONTAINER" nginx -t 2>&1); then
    cat "$F.prev" > "$F"
    rm -f "$F.prev" "$F.next"
    printf '%s\n' "$out" >&2
    echo "nginx -t in seatable-server failed for the new $F; the live file and the running nginx are unchanged" >&2
    exit 1
  fi
  docker exec "$CONTAINER" nginx -s reload
else
  # no nginx runs this file yet: the container starts with it
  cat "$F.next" > "$F"
fi
rm -f "$F.next" "$F.prev"
