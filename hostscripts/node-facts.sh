# shellcheck shell=sh
# What the plan checks on a node besides its containers; it changes nothing:
# "memory-kib N" (MemTotal); "controller-conf present|absent" (a file older
# manuals had admins create, which overrides the role switches);
# "secret-key-sha256 HEX" or "secret-key absent": the sha256 of the SECRET_KEY
# value in dtable_web_settings.py, which 6.2 takes from the environment (the
# value itself never leaves the host). Parsed by pure/plan/node-facts.ts.
# Header: CONF_DIR.

kib=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9][0-9]*\) kB$/\1/p' /proc/meminfo 2>/dev/null || :)
[ -n "$kib" ] && echo "memory-kib $kib"
if [ -e "$CONF_DIR/seatable-controller.conf" ]; then echo "controller-conf present"; else echo "controller-conf absent"; fi
key=$(sed -n "s/^SECRET_KEY[[:space:]]*=[[:space:]]*[\"']\\(.*\\)[\"'][[:space:]]*\$/\\1/p" "$CONF_DIR/dtable_web_settings.py" 2>/dev/null | head -n 1 || :)
if [ -n "$key" ]; then echo "secret-key-sha256 $(printf '%s' "$key" | sha256sum | cut -d ' ' -f 1)"; else echo "secret-key absent"; fi
