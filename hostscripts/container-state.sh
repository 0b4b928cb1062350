# shellcheck shell=sh
# What runs on this host, read before planning; it changes nothing. For each
# container: "container NAME STATUS STARTED IMAGE [HEALTH]", or "container NAME
# missing", or "container NAME unreadable WHY" (docker did not answer).
# Parsed by pure/plan/live.ts. Header: CONTAINERS (one name per line).

while read -r name; do
  [ -n "$name" ] || continue
  if state=$(docker inspect -f '{{.State.Status}} {{.State.StartedAt}} {{.Config.Image}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$name" 2>&1); then
    echo "container $name $state"
  elif printf '%s\n' "$state" | grep -q 'No such object'; then
    echo "container $name missing"
  else
    echo "container $name unreadable $(printf '%s\n' "$state" | grep -v '^[[:space:]]*$' | head -n 1 | cut -c1-200)"
  fi
done <<EOF_CONTAINERS
$CONTAINERS
EOF_CONTAINERS
