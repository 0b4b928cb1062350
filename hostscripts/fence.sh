# shellcheck shell=sh
# An evicted server whose host answers again may still hold bases that live
# elsewhere now: killed before anything else changes (SIGKILL: a save of its
# stale copies would overwrite newer ones), and kept from starting again.
# Runs after claim.sh. Header: HOST, CONTAINER.

if [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" = true ]; then
  docker kill "$CONTAINER" >/dev/null
  echo "killed $CONTAINER on $HOST"
fi
if docker inspect -f '{{.State.Running}}' "$CONTAINER" >/dev/null 2>&1; then
  docker update --restart=no "$CONTAINER" >/dev/null
  echo "$CONTAINER on $HOST stays stopped (restart policy no)"
else
  echo "$HOST has no $CONTAINER container"
fi
