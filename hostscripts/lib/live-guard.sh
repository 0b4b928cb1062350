# shellcheck shell=sh
# The proxy's live files must be ones this program installed (INSTALLED_FILE),
# the ones this stack recorded, or one of this run's own: a hand edit or another
# tool would otherwise have the next reload open a base on a second server.
# Header: CONF_FILE, HOSTS_FILE, ROUTING_FILE, INSTALLED_FILE; ALLOWED_CONF and
# ALLOWED_HOSTS (sha256 hashes, one per line); ALLOWED_ROUTING (hashes of the
# tables that vouch for any file, for a stack recorded without file hashes;
# empty otherwise).

# one_of VALUE LINES: VALUE is one of the lines
one_of() {
  printf '%s\n' "$2" | grep -qxF -e "$1"
}

installed() {
  [ -e "$INSTALLED_FILE" ] && grep -qx "$1 $2" "$INSTALLED_FILE"
}

routing_recorded() {
  [ -n "$ALLOWED_ROUTING" ] && [ -e "$ROUTING_FILE" ] && one_of "$(sha256sum < "$ROUTING_FILE" | cut -c1-64)" "$ALLOWED_ROUTING"
}

# guard_file FILE KEY WHAT ALLOWED
guard_file() {
  [ -e "$1" ] || return 0
  h=$(sha256sum < "$1" | cut -c1-64)
  if one_of "$h" "$4" || installed "$2" "$h" || routing_recorded; then return 0; fi
  echo "the proxy's $3 ($1) is not one this program installed ($INSTALLED_FILE), nor the one this stack recorded, nor one this run writes: it was edited by hand or another tool or stack manages this host. Nothing was changed. Undo the edit (routing.json says what the installed config routes), restart every dtable-server the edited file sent a base to that routing.json gives to another server, and run pulumi up again." >&2
  exit 1
}

live_guard() {
  guard_file "$CONF_FILE" conf config "$ALLOWED_CONF"
  guard_file "$HOSTS_FILE" hosts "hosts file" "$ALLOWED_HOSTS"
}
