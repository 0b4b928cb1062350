# shellcheck shell=sh
# Writes the proxy's next files into a private folder, checks them against
# their hashes (a cut-off upload never goes live) and with `nginx -t` in the
# proxy's image, installs them, and reloads the proxy when they changed. Only a
# switch (ROUTING_JSON) installs a table, and it does so before its config
# goes live; a quarantine (PAUSED_JSON) leaves quarantine.json, which its
# switch removes. INSTALLED_FILE names both the old and the new files until
# the new ones answer. A marker survives a failed reload, so that running the
# step again reloads.
# Header: STEP; D, CONF_FILE, HOSTS_FILE, ROUTING_FILE, SERVERS_FILE,
# QUARANTINE_FILE, INSTALLED_FILE; IMAGE, PROXY_CONTAINER, DIR_IN_CONTAINER;
# HOSTS_TEXT, SERVERS_JSON, ROUTING_JSON and PAUSED_JSON (empty: none);
# CONF_SHA, HOSTS_SHA; P (the proxy's URL); EXPECT ("PATH SERVER UPSTREAM
# STATUS" per line, "*" for any: what the proxy must answer after a reload);
# and those of lib/probe.sh, lib/lease.sh, lib/done-step.sh and lib/live-guard.sh.
# The config comes on stdin.

holds_lease "$STEP"
live_guard
T=$(mktemp -d "$D/.incoming.XXXXXX")
trap 'rm -rf "$T"' EXIT
cat > "$T/nginx-proxy.conf"
printf %s "$HOSTS_TEXT" > "$T/hosts"
printf %s "$SERVERS_JSON" > "$T/servers.json"
if [ -n "$ROUTING_JSON" ]; then printf %s "$ROUTING_JSON" > "$T/routing.json"; fi
if [ -n "$PAUSED_JSON" ]; then printf '%s\n' "$PAUSED_JSON" > "$T/quarantine.json"; fi
[ "$(sha256sum < "$T/nginx-proxy.conf" | cut -c1-64)" = "$CONF_SHA" ] || { echo "the uploaded config is not the one this step rendered (cut off?); nothing changed" >&2; exit 1; }
[ "$(sha256sum < "$T/hosts" | cut -c1-64)" = "$HOSTS_SHA" ] || { echo "the hosts file is not the one this step rendered; nothing changed" >&2; exit 1; }
# a failed test leaves the running proxy alone and fails with nginx's message
docker run --rm --network none -v "$T:$DIR_IN_CONTAINER:ro" -v "$T/hosts:/etc/hosts:ro" "$IMAGE" nginx -t -c "$DIR_IN_CONTAINER/nginx-proxy.conf"
if ! cmp -s "$T/nginx-proxy.conf" "$CONF_FILE" || ! cmp -s "$T/hosts" "$HOSTS_FILE"; then touch "$D/reload-pending"; fi
# the files about to go live, beside those live now: a step cut off in between leaves both known
{
  if [ -e "$CONF_FILE" ]; then echo "conf $(sha256sum < "$CONF_FILE" | cut -c1-64)"; fi
  if [ -e "$HOSTS_FILE" ]; then echo "hosts $(sha256sum < "$HOSTS_FILE" | cut -c1-64)"; fi
  echo "conf $CONF_SHA"
  echo "hosts $HOSTS_SHA"
} > "$T/installed"
mv -f "$T/installed" "$INSTALLED_FILE"
mv -f "$T/servers.json" "$SERVERS_FILE"
if [ -n "$ROUTING_JSON" ]; then mv -f "$T/routing.json" "$ROUTING_FILE"; fi
if [ -n "$PAUSED_JSON" ]; then mv -f "$T/quarantine.json" "$QUARANTINE_FILE"; fi
# in place: the container mounts this one file
cat "$T/hosts" > "$HOSTS_FILE"
mv -f "$T/nginx-proxy.conf" "$CONF_FILE"
running=$(docker inspect -f '{{.State.Running}}' "$PROXY_CONTAINER" 2>/dev/null || :)
if [ "$running" = false ]; then
  # a stopped proxy routes nothing: it starts with the files just installed
  docker start "$PROXY_CONTAINER" >/dev/null
  echo "started $PROXY_CONTAINER: it was not running"
  running=started
fi
if [ "$running" = started ] || { [ -e "$D/reload-pending" ] && [ "$running" = true ]; }; then
  if [ "$running" = true ]; then docker exec "$PROXY_CONTAINER" nginx -s reload -c "$DIR_IN_CONTAINER/nginx-proxy.conf"; fi
  while read -r probe_path server upstream status; do
    [ -n "$probe_path" ] || continue
    wait_answers "$P$probe_path" "$server" "$upstream" "$status" 60
  done <<EOF_EXPECT
$EXPECT
EOF_EXPECT
fi
rm -f "$D/reload-pending"
if [ -z "$PAUSED_JSON" ]; then rm -f "$QUARANTINE_FILE"; fi
printf 'conf %s\nhosts %s\n' "$CONF_SHA" "$HOSTS_SHA" > "$D/.installed.next" && mv -f "$D/.installed.next" "$INSTALLED_FILE"
done_step "$STEP"
echo "the proxy runs $STEP: config $(printf %s "$CONF_SHA" | cut -c1-12), hosts $(printf %s "$HOSTS_SHA" | cut -c1-12)"
