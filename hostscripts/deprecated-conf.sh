# shellcheck shell=sh
# Prints the conf files SeaTable 6.2 no longer reads, so that their settings can
# be moved to the environment before the upgrade; it changes nothing. Parsed by
# pure/plan/conf-migration.ts (parseDeprecatedConfRead). Header: CONF_DIR, FILES
# (one file name per line), LIMIT (bytes of a file read at most).

while read -r f; do
  [ -n "$f" ] || continue
  p="$CONF_DIR/$f"
  if [ ! -e "$p" ]; then echo "missing $f"; continue; fi
  if [ ! -f "$p" ] || [ ! -r "$p" ]; then echo "unreadable $f"; continue; fi
  size=$(wc -c < "$p")
  size=$((size + 0))
  # a cut-off file would read as fewer settings than it has: none are guessed
  if [ "$size" -gt "$LIMIT" ]; then echo "too-large $f $size $LIMIT"; continue; fi
  echo "begin $f $size"
  head -c "$LIMIT" "$p" | base64
  echo "end $f"
done <<EOF_FILES
$FILES
EOF_FILES
