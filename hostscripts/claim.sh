# shellcheck shell=sh
# On a host other than dtable-web, right after the lease: this run's claim,
# which every later step there checks. Header: HOST, COMPOSE_DIR, LEASE,
# HOST_LEASE_FILE.

[ -d "$COMPOSE_DIR" ] || install -d -m 755 "$COMPOSE_DIR"
printf '%s\n' "$LEASE" > "$HOST_LEASE_FILE.next"
mv -f "$HOST_LEASE_FILE.next" "$HOST_LEASE_FILE"
echo "claimed $HOST: $LEASE"
