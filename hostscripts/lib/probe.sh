# shellcheck shell=sh
# Probing the proxy from dtable-web with its python3 (a prerequisite there).
# Header: SERVER_HEADER, UPSTREAM_HEADER. Needs progress.

# probe URL: "STATUS SERVER UPSTREAM" for any answer, "000 - -" for none
# (busybox wget in the proxy's image shows the headers of 2xx answers only).
probe() {
  python3 - "$1" "$SERVER_HEADER" "$UPSTREAM_HEADER" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as e:
    r = e
except Exception:
    print('000 - -'); sys.exit(0)
print(r.status, r.headers.get(sys.argv[2]) or '-', r.headers.get(sys.argv[3]) or '-')
PY
}

# answers URL SERVER UPSTREAM STATUS: the proxy chose SERVER, and UPSTREAM (or "*")
# answered with STATUS (or "*").
answers() {
  r=$(probe "$1")
  st=${r%% *}
  rest=${r#* }
  sv=${rest%% *}
  up=${rest#* }
  [ "$sv" = "$2" ] && { [ "$3" = "*" ] || [ "$up" = "$3" ]; } && { [ "$4" = "*" ] || [ "$st" = "$4" ]; }
}

# wait_answers URL SERVER UPSTREAM STATUS SECONDS: until answers, or fail with the last answer.
wait_answers() {
  t0=$(date +%s)
  until answers "$1" "$2" "$3" "$4"; do
    if [ $(( $(date +%s) - t0 )) -ge "$5" ]; then
      echo "the proxy did not answer $1 from $2 ($3, status $4) within $5 s; last answer: $(probe "$1")" >&2
      exit 1
    fi
    progress "$t0" "$1"
    sleep 0.2
  done
}
