# shellcheck shell=sh
# Stop here unless this run holds the lease (on dtable-web, ON_WEB=yes) or its
# claim (any other host). Header: ON_WEB, WHAT; those of lib/lease.sh.

if [ "$ON_WEB" = yes ]; then holds_lease "$WHAT"; else holds_claim "$WHAT"; fi
