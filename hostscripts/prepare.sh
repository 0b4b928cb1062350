# shellcheck shell=sh
# Before a node's container is created or changed: the folders it needs.
# Header: DIRS (one path per line). A folder that exists keeps its mode
# (`install -d -m 755` alone would loosen one the admin tightened, every run).

while read -r dir; do
  [ -n "$dir" ] || continue
  [ -d "$dir" ] || install -d -m 755 "$dir"
done <<EOF_DIRS
$DIRS
EOF_DIRS
