# shellcheck shell=sh
# The first step of a change, on dtable-web: take the lease, after checking the
# proxy's live files and that every server this run evicts is down.
# Header: D (the proxy's folder), VERIFIED_FILE; EVICTED ("NAME ADDRESS" per
# line: servers this run evicts as dead), DTABLE_SERVER_PORT; and those of
# lib/lease.sh, lib/done-step.sh and lib/live-guard.sh.

[ -d "$D" ] || install -d -m 755 "$D"
# checked before the lease is taken: a refusal leaves the host as it was
live_guard

# From dtable-web, the proxy's own vantage: an evicted server's port must not
# answer, or it is not dead and may hold bases.
connects() {
  python3 -c 'import socket, sys; a = sys.argv[1]; s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET); s.settimeout(3); sys.exit(0 if s.connect_ex((a, int(sys.argv[2]))) == 0 else 1)' "$1" "$2"
}
down=
while read -r name address; do
  [ -n "$name" ] || continue
  if connects "$address" "$DTABLE_SERVER_PORT"; then
    echo "$name ($address) answers on port $DTABLE_SERVER_PORT from dtable-web: it runs and may hold bases, so it cannot be evicted. Nothing was changed. Remove it from rollout.evict: pulumi up then stops it before its buckets move." >&2
    exit 1
  fi
  down="${down:+$down, }$name"
done <<EOF_EVICTED
$EVICTED
EOF_EVICTED
if [ -n "$down" ]; then echo "$down (rollout.evict): no answer on port $DTABLE_SERVER_PORT from dtable-web"; fi

if ! ( set -C; printf '%s\n' "$LEASE" > "$LEASE_FILE" ) 2>/dev/null && [ "$(cat "$LEASE_FILE")" != "$LEASE" ]; then
  echo "another change holds the lease $LEASE_FILE on dtable-web: $(cat "$LEASE_FILE"). If that pulumi up is still running, wait for it. If it stopped, remove the lease (rm $LEASE_FILE on dtable-web) and run pulumi up again: it starts from what the proxy runs." >&2
  exit 1
fi
# from here until this run's final verification, the hosts may differ from any record
rm -f "$VERIFIED_FILE"
done_step lease
echo "lease taken: $LEASE"
