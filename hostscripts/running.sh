# shellcheck shell=sh
# Pulumi leaves an existing container it finds unchanged as it is, also when
# it is stopped (a server stopped by an up that stopped half-way, then kept by
# the config): bases may only move to a dtable-server that runs, so it is
# started here, before any stage. Header: HOST, CONTAINER; those of
# lib/wait-ping.sh.

if [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" != true ]; then
  docker start "$CONTAINER" >/dev/null
  echo "started $CONTAINER on $HOST: it was not running"
fi
wait_ping "$HOST"
