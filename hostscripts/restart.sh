# shellcheck shell=sh
# Restart a dtable-server so that it drops every base it holds, and wait for
# its /ping/. SIGTERM, SIGKILL after the timeout: whether dtable-server saves
# on SIGTERM is not documented; what it has not saved is replayed from the
# operation log on the next load.
# Header: STEP, SERVER, CONTAINER, STOP_TIMEOUT; those of lib/lease.sh and
# lib/wait-ping.sh.

holds_claim "$STEP"
docker restart -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
wait_ping "$SERVER"
