# shellcheck shell=sh
# The lease of the run that changes the cluster. Header: LEASE (this run's
# lease line), LEASE_FILE (on dtable-web), HOST_LEASE_FILE (the claim on any
# other host).

# holds_lease WHAT: on dtable-web, stop unless this run holds the lease.
holds_lease() {
  if [ "$(cat "$LEASE_FILE" 2>/dev/null)" != "$LEASE" ]; then
    echo "$1: this run does not hold the lease $LEASE_FILE (it holds: $(cat "$LEASE_FILE" 2>/dev/null || echo nothing)); another run took over or the lease was removed by hand. Nothing was changed." >&2
    exit 1
  fi
}

# holds_claim WHAT: on any other host, stop unless this run's claim is there
# (a run that lost the lease changes nothing more on it).
holds_claim() {
  if [ "$(cat "$HOST_LEASE_FILE" 2>/dev/null)" != "$LEASE" ]; then
    echo "$1: this run does not hold the lease on this host ($HOST_LEASE_FILE holds: $(cat "$HOST_LEASE_FILE" 2>/dev/null || echo nothing)); another run took over. Nothing was changed." >&2
    exit 1
  fi
}
