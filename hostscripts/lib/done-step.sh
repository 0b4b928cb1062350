# shellcheck shell=sh
# Header: LEASE, PROGRESS_FILE (on dtable-web).

# done_step STEP: the last step this run completed on dtable-web (read before planning).
done_step() {
  printf '%s %s %s\n' "$1" "$(date +%s)" "$LEASE" > "$PROGRESS_FILE"
}
