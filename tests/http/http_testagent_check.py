#!/usr/bin/env python3
"""Checks what Datadog's APM test agent (ddapm-test-agent) recorded.

  http_testagent_check.py wait URL            waits until the agent answers
  http_testagent_check.py check URL N [TAG..] fetches URL/test/session/requests
      and checks that exactly N profile uploads were recorded, that each one
      decodes (multipart, event.json, zstd pprof read by go tool pprof) and
      passes the test intake's contract checks, with profile_seq 1..N and the
      given tags. With INPROF_EXPECT_ENDPOINT=NAME set, each upload's
      event.json endpoint_counts must be {NAME: its profile_seq}.
Standard library only; reuses tests/intake/intake.py's checks.
"""
import base64
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "intake"))
import intake  # noqa: E402


class Opts:
    client = "inprof"
    path = "/profiling/v1/input"
    api_key = None
    save_pprof = False

    def __init__(self, tags, go, unzstd):
        self.require_tag = tags
        self.go = go
        self.unzstd = unzstd


def main():
    cmd, url = sys.argv[1], sys.argv[2].rstrip("/")
    if cmd == "wait":
        until = time.time() + 60
        while time.time() < until:
            try:
                with urllib.request.urlopen(url + "/info", timeout=2) as r:
                    if r.status == 200:
                        print("test agent up")
                        return 0
            except OSError:
                time.sleep(0.2)
        print("test agent did not start", file=sys.stderr)
        return 1
    n = int(sys.argv[3])
    opts = Opts(sys.argv[4:], os.environ.get("INPROF_GO", "/usr/local/go/bin/go"),
                os.environ.get("INPROF_UNZSTD") or None)
    with urllib.request.urlopen(url + "/test/session/requests", timeout=10) as r:
        reqs = json.load(r)
    ups = [q for q in reqs if q["url"].endswith("/profiling/v1/input")]
    print("test agent recorded %d requests, %d profile uploads" % (len(reqs), len(ups)))
    bad = 0
    seqs = []
    for q in ups:
        headers = {k.lower(): v for k, v in q["headers"].items()}
        body = base64.b64decode(q["body"])
        path = "/" + q["url"].split("://", 1)[1].split("/", 1)[1]
        violations, info = intake.check_upload(q["method"], path, headers, body, opts)
        seq = None
        for t in info.get("tags", []):
            if t.startswith("profile_seq:"):
                seq = int(t.split(":", 1)[1])
                seqs.append(seq)
        endpoint = os.environ.get("INPROF_EXPECT_ENDPOINT")
        if endpoint:
            got = (info.get("event") or {}).get("endpoint_counts")
            if got != {endpoint: seq}:
                violations.append("endpoint_counts %r, expected %r" % (got, {endpoint: seq}))
        print("upload: %d bytes, tags %s, pprof %s" % (
            len(body), info.get("tags"), [(p.get("compression"), p.get("samples"))
                                          for p in info.get("pprof", [])]))
        for v in violations:
            print("  violation: %s" % v)
            bad += 1
    if len(ups) != n:
        print("expected %d uploads" % n)
        bad += 1
    if sorted(seqs) != list(range(1, n + 1)):
        print("profile_seq values %s, expected 1..%d" % (sorted(seqs), n))
        bad += 1
    print("OK" if not bad else "FAILED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
