# shellcheck shell=sh
# What the plan checks on a node besides its containers; it changes nothing:
# "memory-kib N" (MemTotal), "controller-conf present|absent" (a file older
# manuals had admins create, which overrides the role switches). Parsed by
# pure/plan/node-facts.ts. Header: CONF_DIR.

kib=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9][0-9]*\) kB$/\1/p' /proc/meminfo 2>/dev/null || :)
[ -n "$kib" ] && echo "memory-kib $kib"
if [ -e "$CONF_DIR/seatable-controller.conf" ]; then echo "controller-conf present"; else echo "controller-conf absent"; fi
