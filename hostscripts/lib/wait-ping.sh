# shellcheck shell=sh
# Header: CONTAINER (seatable-server), DTABLE_SERVER_PORT. Needs progress.

# wait_ping SERVER: until the host's dtable-server answers /ping/ again (after a restart or a start)
wait_ping() {
  t0=$(date +%s)
  until docker exec "$CONTAINER" curl -fsS -m 5 "http://127.0.0.1:$DTABLE_SERVER_PORT/ping/" >/dev/null 2>&1; do
    if [ $(( $(date +%s) - t0 )) -ge 600 ]; then
      echo "$1 did not answer /ping/ within 600 s of its restart" >&2
      exit 1
    fi
    progress "$t0" "$1 to answer /ping/"
    sleep 2
  done
  echo "$1 answers /ping/ again"
}
