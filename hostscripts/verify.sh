# shellcheck shell=sh
# Every server answers; the proxy runs this step's config; and a base of each
# server's buckets reaches that server: the proxy names it and the answer came
# from its address, whatever the status. RELEASE=yes: the change is done,
# drop the lease (only this run's own, checked again right before it goes).
# Header: STEP, CONF_FILE, CONF_SHA, P, WEB_PING (dtable-web's /api2/ping/ URL)
# and WEB_PORT, SERVERS ("NAME HOST:PORT" per line), DEFAULT_SERVER,
# DEFAULT_UPSTREAM, PROBES ("SERVER UUID PATH UPSTREAM" per line), RELEASE,
# VERIFIED_FILE; those of
# lib/probe.sh, lib/lease.sh and lib/done-step.sh.

holds_lease "$STEP"
failed=0
check() {
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1 (got '$2', expected '$3')" >&2; failed=1; fi
}
check "the proxy runs this step's config" "$(sha256sum < "$CONF_FILE" | cut -c1-64)" "$CONF_SHA"
while read -r name upstream; do
  [ -n "$name" ] || continue
  check "$name answers /ping/ directly" "$(probe "http://$upstream/ping/" | cut -d' ' -f1)" 200
done <<EOF_SERVERS
$SERVERS
EOF_SERVERS
check "dtable-web answers /api2/ping/ on $WEB_PORT" "$(probe "$WEB_PING" | cut -d' ' -f1)" 200
check "the proxy sends requests without a base to $DEFAULT_SERVER" "$(answers "$P/ping/" "$DEFAULT_SERVER" "$DEFAULT_UPSTREAM" "*" && echo yes)" yes
while read -r server uuid probe_path upstream; do
  [ -n "$server" ] || continue
  check "a base of $server ($uuid) reaches $server through the proxy" "$(answers "$P$probe_path" "$server" "$upstream" "*" && echo yes)" yes
done <<EOF_PROBES
$PROBES
EOF_PROBES
[ "$failed" = 0 ]
done_step "$STEP"
if [ "$RELEASE" = yes ]; then
  holds_lease "$STEP"
  printf '%s\n' "$LEASE" > "$VERIFIED_FILE"
  rm -f "$LEASE_FILE"
  echo "verified; lease released"
fi
