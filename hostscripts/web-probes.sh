# shellcheck shell=sh
# What dtable-web sees, for `npm run status`; it changes nothing: each
# dtable-server's /ping/ (its status and how long it took) and the proxy's
# stub_status page, asked side by side with dtable-web's python3 (a
# prerequisite there), never through a proxy of the environment.
# Parsed by pure/plan/status.ts. Prints "ping NAME STATUS MS [WHY]" per server
# and "stub STATUS MS BODY [WHY]" (BODY in base64, "-" when empty); STATUS
# 000: no answer, WHY says why.
# Header: PINGS ("NAME URL" per line), STATUS_URL, TIMEOUT (seconds a request
# may take).

python3 - "$PINGS" "$STATUS_URL" "$TIMEOUT" <<'PY'
import base64, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

pings = [line.split(' ', 1) for line in sys.argv[1].splitlines() if line.strip()]
status_url, timeout = sys.argv[2], float(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def get(url):
    t0 = time.monotonic()
    status, body, why = 0, b'', ''
    try:
        with opener.open(url, timeout=timeout) as r:
            status, body = r.status, r.read(4096)
    except urllib.error.HTTPError as e:
        status = e.code
    except Exception as e:
        reason = getattr(e, 'reason', e)
        why = ' '.join(str(reason).split())[:200] or type(reason).__name__
    return status, int((time.monotonic() - t0) * 1000), body, why

with ThreadPoolExecutor(max_workers=min(32, len(pings) + 1)) as pool:
    stub = pool.submit(get, status_url)
    answers = [pool.submit(get, url) for _, url in pings]
    for (name, _), answer in zip(pings, answers):
        status, ms, _, why = answer.result()
        print(' '.join(x for x in ['ping', name, '%03d' % status, str(ms), why] if x))
    status, ms, body, why = stub.result()
    print(' '.join(x for x in ['stub', '%03d' % status, str(ms), base64.b64encode(body).decode() or '-', why] if x))
PY
