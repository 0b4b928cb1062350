# shellcheck shell=sh
# progress START WHAT: a line every 10 s while waiting, so that no SSH session
# is silent long enough for a NAT to drop it.
progress() {
  n=$(( $(date +%s) - $1 ))
  if [ $(( n - ${last:-0} )) -ge 10 ]; then
    last=$n
    echo "still waiting for $2 ($n s)"
  fi
}
