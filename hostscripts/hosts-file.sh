# shellcheck shell=sh
# seatable-server's /etc/hosts where its extra_hosts cannot carry the names
# (IPv6: the docker provider reads them back cut at every colon), from stdin.
# Renamed into place: the container mounts this one file, and a changed file
# carries a new label, so the container is replaced and mounts the new one.
# Header: FILE.

# Docker makes a folder where a mount's source is missing: an up that ran
# before this step existed left one behind
if [ -d "$FILE" ]; then rmdir "$FILE"; fi
cat > "$FILE.next"
chmod 0644 "$FILE.next"
mv -f "$FILE.next" "$FILE"
echo "wrote $FILE"
