# shellcheck shell=sh
# Once its stage's quarantine is live, before Pulumi touches its container:
# which container runs on the server, and since when.
# Header: STEP, SERVER, CONTAINER, BEFORE_STAGE_FILE; those of lib/lease.sh.

holds_claim "$STEP"
# no container yet: whatever runs later started after the quarantine
docker inspect -f '{{.Id}} {{.State.StartedAt}}' "$CONTAINER" > "$BEFORE_STAGE_FILE.next" 2>/dev/null || : > "$BEFORE_STAGE_FILE.next"
mv -f "$BEFORE_STAGE_FILE.next" "$BEFORE_STAGE_FILE"
echo "$SERVER before its stage: $(cat "$BEFORE_STAGE_FILE")"
