# shellcheck shell=sh
# Pulumi leaves an existing container it finds unchanged as it is, also when
# it is stopped (a server stopped by an up that stopped half-way, then kept by
# the config): bases may only move to a dtable-server that runs, so it is
# started here, before any stage, and waited for. WAIT_PING=no: its stage
# restarts it (it is stopped or unhealthy: a hung server never answers /ping/)
# and waits there. Header: HOST, CONTAINER, WAIT_PING; those of
# lib/wait-ping.sh.

if [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" != true ]; then
  docker start "$CONTAINER" >/dev/null
  echo "started $CONTAINER on $HOST: it was not running"
fi
if [ "$WAIT_PING" = yes ]; then
  wait_ping "$HOST"
else
  echo "$CONTAINER on $HOST: its stage restarts it and waits for /ping/"
fi
