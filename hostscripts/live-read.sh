# shellcheck shell=sh
# What the program reads on dtable-web before it plans; it changes nothing.
# Parsed by pure/plan/live.ts. Header: CONF_FILE, HOSTS_FILE, ROUTING_FILE,
# SERVERS_FILE, QUARANTINE_FILE, INSTALLED_FILE, LEASE_FILE, PROGRESS_FILE,
# VERIFIED_FILE, LIMIT (bytes read of a file at most).

echo "now $(date +%s)"
hashed() { if [ -e "$2" ]; then echo "$1 $(sha256sum < "$2" | cut -c1-64)"; fi; }
hashed conf "$CONF_FILE"
hashed hosts "$HOSTS_FILE"
hashed routing "$ROUTING_FILE"
contents() { if [ -e "$2" ]; then echo "$1 $(head -c "$LIMIT" "$2" | base64 -w0)"; fi; }
contents routing-file "$ROUTING_FILE"
contents servers-file "$SERVERS_FILE"
contents quarantine-file "$QUARANTINE_FILE"
if [ -e "$INSTALLED_FILE" ]; then head -n 8 "$INSTALLED_FILE" | sed 's/^/installed /'; fi
line() { printf '%s %s\n' "$1" "$(head -c 300 "$2" | tr -d '\n')"; }
if [ -e "$LEASE_FILE" ]; then line lease "$LEASE_FILE"; echo "lease-since $(stat -c %Y "$LEASE_FILE")"; fi
if [ -e "$PROGRESS_FILE" ]; then line progress "$PROGRESS_FILE"; fi
if [ -e "$VERIFIED_FILE" ]; then line verified "$VERIFIED_FILE"; fi
