# shellcheck shell=sh
# SeaTable 6.2 takes SECRET_KEY from the environment; its migration removes
# the old line from dtable_web_settings.py, and so does this step (the plan
# compared the two before: they are equal). The file before is kept beside it
# as <file>.before-seatable-cluster-<UTC time>. Header: SETTINGS.

if ! grep -q '^SECRET_KEY[[:space:]]*=' "$SETTINGS" 2>/dev/null; then
  echo "no SECRET_KEY line in $SETTINGS"
  exit 0
fi
keep="$SETTINGS.before-seatable-cluster-$(date -u +%Y%m%dT%H%M%SZ)"
if [ -e "$keep" ]; then echo "$keep exists already; $SETTINGS left as it is" >&2; exit 1; fi
cp -p "$SETTINGS" "$keep"
sed '/^SECRET_KEY[[:space:]]*=/d' "$keep" > "$SETTINGS.new-by-seatable-cluster"
# SeaTable's own owner and mode, not root's umask
chown --reference="$keep" "$SETTINGS.new-by-seatable-cluster"
chmod --reference="$keep" "$SETTINGS.new-by-seatable-cluster"
mv "$SETTINGS.new-by-seatable-cluster" "$SETTINGS"
echo "removed the SECRET_KEY line from $SETTINGS (SeaTable 6.2 reads it from the environment); the file before is $keep"
