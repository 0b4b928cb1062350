# shellcheck shell=sh
# Stop a dtable-server that leaves the cluster (SIGTERM, SIGKILL after the
# timeout; no claim that a stop saves). Header: STEP, SERVER, CONTAINER,
# STOP_TIMEOUT; those of lib/lease.sh.

holds_claim "$STEP"
# a server added by an up that stopped before its container was made has none
if docker inspect -f '{{.State.Running}}' "$CONTAINER" >/dev/null 2>&1; then
  docker stop -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
  echo "stopped $SERVER"
else
  echo "$SERVER has no $CONTAINER container: nothing to stop"
fi
