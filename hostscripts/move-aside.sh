# shellcheck shell=sh
# Renames each conf file SeaTable 6.2 no longer reads to
# <file>.moved-by-seatable-cluster-<UTC time> (never deletes, never
# overwrites) and prints what it moved; where none is left it changes nothing.
# Header: CONF_DIR, UNREAD_FILES (one file name per line).

T=$(date -u +%Y%m%dT%H%M%SZ)
n=0
while read -r f; do
  [ -n "$f" ] || continue
  [ -e "$CONF_DIR/$f" ] || [ -L "$CONF_DIR/$f" ] || continue
  to="$CONF_DIR/$f.moved-by-seatable-cluster-$T"
  if [ -e "$to" ] || [ -L "$to" ]; then echo "$to exists already; $CONF_DIR/$f left where it is" >&2; exit 1; fi
  mv "$CONF_DIR/$f" "$to"
  echo "moved $CONF_DIR/$f to $to (SeaTable 6.2 no longer reads it)"
  n=$((n + 1))
done <<EOF_FILES
$UNREAD_FILES
EOF_FILES
if [ "$n" = 0 ]; then echo "no conf file that SeaTable 6.2 no longer reads in $CONF_DIR"; fi
