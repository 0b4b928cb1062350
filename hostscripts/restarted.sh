# shellcheck shell=sh
# After Pulumi's step for the container: the server must have started since
# the mark (mark.sh), whether Pulumi replaced the container, updated it in
# place or found nothing to change. If it did not, it is restarted here,
# inside the quarantine, so that it holds no base it is about to give away.
# Header: STEP, SERVER, CONTAINER, STOP_TIMEOUT, BEFORE_STAGE_FILE; those of
# lib/lease.sh and lib/wait-ping.sh.

holds_claim "$STEP"
now=$(docker inspect -f '{{.Id}} {{.State.StartedAt}}' "$CONTAINER")
if [ -s "$BEFORE_STAGE_FILE" ] && [ "$now" = "$(cat "$BEFORE_STAGE_FILE")" ]; then
  echo "$CONTAINER on $SERVER has run since before its stage's quarantine (Pulumi did not replace it): restarting it inside the quarantine"
  docker restart -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
else
  echo "$CONTAINER on $SERVER started after its stage's quarantine went live"
fi
wait_ping "$SERVER"
