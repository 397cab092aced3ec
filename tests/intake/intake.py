#!/usr/bin/env python3
"""A test intake for inprof's Datadog uploads (Python standard library only).

Listens on a loopback TCP port (port 0: the kernel picks one, printed as
"PORT <n>") or a unix socket ("UNIX <path>"), optionally with TLS, and checks
each upload against Datadog's profile intake contract (the README's
"Datadog" section lists what inprof sends):

  POST <path>, multipart/form-data, part "event" (filename event.json,
  application/json) and one part per attachment (profile.pprof), event.json
  fields and formats, required tags, the pprof zstd-compressed and readable
  by `go tool pprof`, the headers, DD-API-KEY only where expected.

--client inprof (the default) checks inprof's own uploads strictly: exact
attachments, nanosecond times, the tags, process_tags, internal and info
inprof sends. --client any accepts what Datadog's own libraries
send too: a runtime-id of 32 hex digits without dashes, attachments that
are not pprof (code-provenance.json), fewer tags.

Every request is recorded in --record DIR as req-NNNN.json (everything) and
req-NNNN.txt ("key=value" lines, easy to read from a C test). A request
that breaks the contract gets HTTP 400 listing the violations, so the
uploader counts it as failed too.

Fault modes (--mode): ok, 500, 413, hang (read the body, never answer),
reset (read a little of the body, then reset the connection), slow (answer
after --slow-ms). "Connection refused" needs no server: the tests use a port
nobody listens on.

The server stops by itself after --max-seconds.
"""
import argparse
import base64
import binascii
import datetime
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# RFC 3339 in UTC. inprof sends nanoseconds; other clients may send fewer digits.
RFC3339_NS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{9})Z$")
RFC3339_ANY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
ENTITY_RE = re.compile(r"^(ci-[0-9a-f]{64}|in-\d+)$")


def rfc3339_to_ns(s, strict):
    m = (RFC3339_NS_RE if strict else RFC3339_ANY_RE).match(s)
    if not m:
        return None
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    try:
        dt = datetime.datetime(y, mo, d, h, mi, se, tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    frac = m.group(7) or ""
    frac = frac.lstrip(".")
    ns = int((frac + "000000000")[:9]) if frac else 0
    if not strict and m.group(8) != "Z":
        sign = 1 if m.group(8)[0] == "+" else -1
        off = int(m.group(8)[1:3]) * 3600 + int(m.group(8)[4:6]) * 60
        dt -= datetime.timedelta(seconds=sign * off)
    return int(dt.timestamp()) * 1_000_000_000 + ns


def parse_content_disposition(value):
    """'form-data; name="event"; filename="event.json"' -> ('form-data', {...})."""
    parts = []
    cur, q = "", False
    for ch in value:
        if ch == '"':
            q = not q
            cur += ch
        elif ch == ";" and not q:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    kind = parts[0].strip().lower()
    params = {}
    for p in parts[1:]:
        if "=" not in p:
            continue
        k, v = p.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1].replace('\\"', '"')
        params[k.strip().lower()] = v
    return kind, params


def parse_multipart(content_type, body, violations):
    """Returns a list of dicts: name, filename, content_type, data."""
    m = re.match(r"^multipart/form-data\s*;\s*boundary=(\"?)([^\";]+)\1\s*$", content_type or "", re.I)
    if not m:
        violations.append("Content-Type is not multipart/form-data with a boundary: %r" % content_type)
        return []
    boundary = m.group(2).encode()
    delim = b"\r\n--" + boundary
    if not body.startswith(delim[2:]):
        violations.append("body does not start with the boundary")
        return []
    body = b"\r\n" + body
    end = body.rfind(delim + b"--")
    if end < 0:
        violations.append("no closing boundary")
        return []
    if body[end + len(delim) + 2:] not in (b"", b"\r\n"):
        violations.append("data after the closing boundary")
    chunks = body[:end].split(delim)
    if chunks[0] != b"":
        violations.append("malformed first boundary")
    parts = []
    for raw in chunks[1:]:
        if not raw.startswith(b"\r\n"):
            violations.append("boundary line not followed by CRLF")
            continue
        raw = raw[2:]
        sep = raw.find(b"\r\n\r\n")
        if sep < 0:
            violations.append("part without header/body separator")
            continue
        headers = {}
        for line in raw[:sep].split(b"\r\n"):
            if b":" not in line:
                violations.append("malformed part header %r" % line[:80])
                continue
            k, v = line.split(b":", 1)
            headers[k.strip().decode("latin-1").lower()] = v.strip().decode("latin-1")
        disp, params = parse_content_disposition(headers.get("content-disposition", ""))
        if disp != "form-data":
            violations.append("part without Content-Disposition: form-data")
        parts.append({
            "name": params.get("name"),
            "filename": params.get("filename"),
            "content_type": headers.get("content-type"),
            "data": raw[sep + 4:],
        })
    return parts


def decompress(data, unzstd):
    """(kind, bytes or None, error)."""
    if data.startswith(ZSTD_MAGIC):
        tool = [unzstd] if unzstd else [shutil.which("zstd") or "zstd", "-d", "-c", "-q"]
        try:
            r = subprocess.run(tool, input=data, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "zstd", None, "cannot run %s: %s" % (tool[0], e)
        if r.returncode != 0:
            return "zstd", None, "zstd decoding failed: %s" % r.stderr.decode(errors="replace")[:200]
        return "zstd", r.stdout, None
    if data.startswith(GZIP_MAGIC):
        import gzip
        try:
            return "gzip", gzip.decompress(data), None
        except OSError as e:
            return "gzip", None, "gzip decoding failed: %s" % e
    return "none", data, None


def pprof_check(raw, go):
    """Runs `go tool pprof -raw` (go: a go binary, or a pprof binary built
    from go's cmd/pprof, which starts 40x faster); returns (info, error)."""
    with tempfile.NamedTemporaryFile(suffix=".pprof", delete=False) as f:
        f.write(raw)
        path = f.name
    try:
        env = dict(os.environ)
        env.setdefault("HOME", tempfile.gettempdir())
        env["PPROF_BINARY_PATH"] = "/nonexistent"
        cmd = [go] if os.path.basename(go).startswith("pprof") else [go, "tool", "pprof"]
        r = subprocess.run(cmd + ["-symbolize=none", "-raw", path],
                           capture_output=True, timeout=120, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {}, "cannot run go tool pprof: %s" % e
    finally:
        os.unlink(path)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0 or "Samples:" not in out:
        return {}, "go tool pprof rejected the profile: %s" % (r.stderr.decode(errors="replace")[:300])
    lines = out.splitlines()
    i = lines.index("Samples:")
    types = lines[i + 1].strip() if i + 1 < len(lines) else ""
    n = 0
    for line in lines[i + 2:]:
        if line.startswith("Locations") or line.startswith("Mappings"):
            break
        if re.match(r"^\s*\d+(\s+\d+)*:", line):
            n += 1
    return {"sample_types": types, "samples": n}, None


def check_upload(method, path, headers, body, opts):
    """Checks one upload; returns (violations, info). headers: lower-case keys."""
    v = []
    info = {"method": method, "path": path, "body_bytes": len(body)}
    strict = opts.client == "inprof"
    if method != "POST":
        v.append("method %s, expected POST" % method)
    if path != opts.path:
        v.append("path %s, expected %s" % (path, opts.path))
    for h in ("user-agent", "dd-evp-origin", "dd-evp-origin-version"):
        info[h] = headers.get(h)
        if strict and not headers.get(h):
            v.append("missing header %s" % h)
    cid = headers.get("datadog-container-id")
    info["container_id"] = cid
    if cid is not None and strict and not HEX64_RE.match(cid):
        v.append("Datadog-Container-ID is not 64 hex characters: %r" % cid)
    eid = headers.get("datadog-entity-id")
    info["entity_id"] = eid
    if eid is not None and not ENTITY_RE.match(eid):
        v.append("Datadog-Entity-ID is neither ci-<64 hex> nor in-<inode>: %r" % eid)
    if strict and cid is not None and eid != "ci-" + cid:
        v.append("Datadog-Entity-ID %r does not name the container %s" % (eid, cid))
    key = headers.get("dd-api-key")
    if opts.api_key is not None:
        info["api_key"] = "absent" if key is None else ("match" if key == opts.api_key else "mismatch")
        if key != opts.api_key:
            v.append("DD-API-KEY %s" % info["api_key"])
    else:
        info["api_key"] = "absent" if key is None else "present"
        if key is not None:
            v.append("DD-API-KEY sent to the agent")

    parts = parse_multipart(headers.get("content-type"), body, v)
    info["parts"] = [{"name": p["name"], "filename": p["filename"],
                      "content_type": p["content_type"], "bytes": len(p["data"])} for p in parts]
    names = [p["name"] for p in parts]
    if len(set(names)) != len(names):
        v.append("duplicate part names %s" % names)
    byname = {p["name"]: p for p in parts}
    ev = byname.get("event")
    event = None
    if ev is None:
        v.append("no part named event")
    else:
        if ev["filename"] != "event.json":
            v.append("event part filename %r, expected event.json" % ev["filename"])
        ct = (ev["content_type"] or "").split(";")[0].strip().lower()
        if ct != "application/json":
            v.append("event part content type %r, expected application/json" % ev["content_type"])
        try:
            event = json.loads(ev["data"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            v.append("event.json is not valid UTF-8 JSON: %s" % e)
    info["event"] = event
    if event is not None and not isinstance(event, dict):
        v.append("event.json is not an object")
        event = None
    attachments = []
    if event is not None:
        attachments = event.get("attachments")
        if not isinstance(attachments, list) or not attachments or \
                not all(isinstance(a, str) for a in attachments):
            v.append("attachments must be a non-empty list of strings: %r" % attachments)
            attachments = []
        if strict and attachments != ["profile.pprof"]:
            v.append("attachments %r, expected [\"profile.pprof\"]" % attachments)
        for field, want in (("version", "4"),) + ((("family", "native"),) if strict else ()):
            if event.get(field) != want:
                v.append("%s %r, expected %r" % (field, event.get(field), want))
        if not isinstance(event.get("family"), str) or not event.get("family"):
            v.append("family missing")
        start = event.get("start")
        end = event.get("end")
        s_ns = rfc3339_to_ns(start, strict) if isinstance(start, str) else None
        e_ns = rfc3339_to_ns(end, strict) if isinstance(end, str) else None
        if s_ns is None:
            v.append("start %r is not RFC 3339%s" % (start, " with nanoseconds, UTC" if strict else ""))
        if e_ns is None:
            v.append("end %r is not RFC 3339%s" % (end, " with nanoseconds, UTC" if strict else ""))
        if s_ns is not None and e_ns is not None and s_ns > e_ns:
            v.append("start after end")
        info["start_ns"], info["end_ns"] = s_ns, e_ns
        if strict:
            if "endpoint_counts" not in event:
                v.append("endpoint_counts missing")
        # Datadog's shape: null (no endpoints this period) or a flat
        # {endpoint: count} object of positive integer counts.
        ec = event.get("endpoint_counts")
        if ec is not None:
            if not isinstance(ec, dict):
                v.append("endpoint_counts %r is neither null nor an object" % (ec,))
            else:
                if strict and not ec:
                    v.append("endpoint_counts is an empty object (null expected)")
                for k, n in ec.items():
                    if not k:
                        v.append("endpoint_counts has an empty endpoint name")
                    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                        v.append("endpoint_counts[%r] = %r is not a positive integer" % (k, n))
        for obj in ("internal", "info"):
            if strict and not isinstance(event.get(obj), dict):
                v.append("%s missing or not an object" % obj)
        if strict:
            check_inprof_metadata(event, opts, v)
        known = {"attachments", "tags_profiler", "start", "end", "family", "version",
                 "endpoint_counts", "process_tags", "internal", "info"}
        info["unknown_fields"] = sorted(set(event) - known)
        tags_s = event.get("tags_profiler")
        tags = []
        if not isinstance(tags_s, str):
            v.append("tags_profiler missing or not a string")
        else:
            for t in tags_s.split(","):
                if not t:
                    v.append("empty tag in tags_profiler")
                    continue
                if ":" not in t or t.startswith(":"):
                    v.append("tag %r is not key:value" % t)
                tags.append(t)
        info["tags"] = tags
        tagmap = {}
        for t in tags:
            k, _, val = t.partition(":")
            tagmap.setdefault(k, []).append(val)
        for k in ("service", "runtime-id", "language", "profiler_version") + \
                (("host", "profile_seq") if strict else ()):
            if k not in tagmap:
                v.append("required tag %s missing" % k)
            elif len(tagmap[k]) != 1:
                v.append("tag %s given %d times" % (k, len(tagmap[k])))
        if "runtime-id" in tagmap and not UUID4_RE.match(tagmap["runtime-id"][0]):
            if strict or not re.match(r"^([0-9a-f-]{36}|[0-9a-f]{32})$", tagmap["runtime-id"][0]):
                v.append("runtime-id %r is not a UUID%s" % (tagmap["runtime-id"][0], " v4" if strict else ""))
        if strict and tagmap.get("language") != ["native"]:
            v.append("language tag %r, expected native" % tagmap.get("language"))
        if strict:
            for k, pat in (("runtime_platform", r"^[a-z0-9_]+-[a-z0-9_]+-linux-gnu$|^unknown-linux-gnu$"),
                           ("process_id", r"^[1-9]\d*$"),
                           ("profiler_config", r"^[a-z_]+$")):
                if len(tagmap.get(k, [])) != 1 or not re.match(pat, tagmap[k][0]):
                    v.append("tag %s %r, expected one matching %s" % (k, tagmap.get(k), pat))
        if "profile_seq" in tagmap and not re.match(r"^\d+$", tagmap["profile_seq"][0]):
            v.append("profile_seq %r is not an integer" % tagmap["profile_seq"][0])
        for t in opts.require_tag:
            if t not in tags:
                v.append("required tag %s missing" % t)
    for name in set(names) - {"event"} - set(attachments):
        v.append("part %r is not listed in attachments" % name)
    pprofs = []
    for a in attachments:
        p = byname.get(a)
        if p is None:
            v.append("attachment %s has no part" % a)
            continue
        if p["filename"] != a:
            v.append("part %s filename %r, expected %r" % (a, p["filename"], a))
        if not strict and not a.endswith(".pprof"):
            # Another client's extra attachment (code-provenance.json...):
            # present and listed is all the intake asks of it.
            pprofs.append({"name": a, "compression": "n/a", "bytes": len(p["data"])})
            continue
        kind, raw, err = decompress(p["data"], opts.unzstd)
        pi = {"name": a, "compression": kind, "bytes": len(p["data"])}
        if strict and kind != "zstd":
            v.append("%s is %s-compressed, expected zstd" % (a, kind))
        if err:
            v.append("%s: %s" % (a, err))
        elif opts.go:
            res, err = pprof_check(raw, opts.go)
            pi.update(res)
            pi["raw_bytes"] = len(raw)
            if err:
                v.append("%s: %s" % (a, err))
            if opts.save_pprof:
                pi["raw_b64"] = base64.b64encode(raw).decode()
        pprofs.append(pi)
    info["pprof"] = pprofs
    return v, info


def check_inprof_metadata(event, opts, v):
    """process_tags, internal and info as inprof sends them."""
    pt = event.get("process_tags")
    if not isinstance(pt, str) or not pt:
        v.append("process_tags %r, expected a k:v,k:v string" % (pt,))
    else:
        keys = []
        for t in pt.split(","):
            k, sep, val = t.partition(":")
            if not sep or not k or not val or " " in t:
                v.append("process tag %r is not key:value" % t)
            keys.append(k)
        if "entrypoint.name" not in keys:
            v.append("process_tags without entrypoint.name: %r" % pt)
    internal = event.get("internal")
    if isinstance(internal, dict):
        if not isinstance(internal.get("profiler_version"), str):
            v.append("internal.profiler_version missing")
        stats = internal.get("statistics")
        if not isinstance(stats, dict) or not stats or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in stats.values()):
            v.append("internal.statistics %r is not an object of counters" % (stats,))
        else:
            for k in ("cpu_samples", "cpu_samples_dropped", "heap_samples", "uploads_failed"):
                if k not in stats:
                    v.append("internal.statistics.%s missing" % k)
    info = event.get("info")
    settings = info.get("profiler", {}).get("settings") if isinstance(info, dict) and \
        isinstance(info.get("profiler"), dict) else None
    if not isinstance(settings, dict):
        v.append("info.profiler.settings missing or not an object")
    else:
        for k in ("INPROF_CPU_HZ", "INPROF_HEAP_SAMPLE_BYTES", "DD_PROFILING_UPLOAD_PERIOD"):
            if not isinstance(settings.get(k), int):
                v.append("info.profiler.settings.%s %r is not a number" % (k, settings.get(k)))
        if settings.get("DD_API_KEY") not in (None, "<set>"):
            v.append("info.profiler.settings shows the API key")
    if opts.api_key and opts.api_key in json.dumps(event):
        v.append("the API key appears in event.json")


def flat_lines(rec):
    """The key=value summary the C tests read."""
    info = rec["info"]
    out = ["status=%d" % rec["status"], "mode=%s" % rec["mode"],
           "method=%s" % info.get("method"), "path=%s" % info.get("path"),
           "violations=%d" % len(rec["violations"])]
    out += ["violation=%s" % x.replace("\n", " ") for x in rec["violations"]]
    for k in ("user-agent", "dd-evp-origin", "dd-evp-origin-version", "container_id",
              "entity_id", "api_key"):
        if info.get(k) is not None:
            out.append("%s=%s" % (k, info[k]))
    ev = info.get("event") or {}
    for k in ("start", "end", "family", "version"):
        if k in ev:
            out.append("%s=%s" % (k, ev[k]))
    for k in ("start_ns", "end_ns"):
        if info.get(k) is not None:
            out.append("%s=%d" % (k, info[k]))
    # One line per endpoint ("endpoint_count=<count> <name>"), names escaped
    # as JSON strings so that a line stays one line.
    ec = ev.get("endpoint_counts")
    if isinstance(ec, dict):
        for k in sorted(ec):
            out.append("endpoint_count=%s %s" % (ec[k], json.dumps(k)))
    if isinstance(ev.get("process_tags"), str):
        out.append("process_tags=%s" % ev["process_tags"])
    out += ["tag=%s" % t for t in info.get("tags", [])]
    for p in info.get("pprof", []):
        out.append("pprof=%s compression=%s samples=%s types=%s" % (
            p["name"], p["compression"], p.get("samples", "?"), p.get("sample_types", "?")))
    return "\n".join(out) + "\n"


class Recorder:
    def __init__(self, directory):
        self.dir = directory
        self.n = 0
        self.lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)

    def save(self, rec):
        with self.lock:
            self.n += 1
            n = self.n
        base = os.path.join(self.dir, "req-%04d" % n)
        for ext, text in ((".json", json.dumps(rec, indent=1, default=str)), (".txt", flat_lines(rec))):
            tmp = base + ext + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, base + ext)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "inprof-test-intake/1"

    def address_string(self):
        return "unix" if not isinstance(self.client_address, tuple) else self.client_address[0]

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("intake: " + (fmt % args) + "\n")

    def read_body(self, limit=None):
        """The whole body (Content-Length or chunked); at most limit bytes if given."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            self.transfer = "chunked"
            data = b""
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("EOF in chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                chunk = self.rfile.read(size)
                self.rfile.readline(8)
                data += chunk
                if limit and len(data) >= limit:
                    return data[:limit]
        self.transfer = "length"
        n = int(self.headers.get("Content-Length") or 0)
        if limit:
            n = min(n, limit)
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                raise ConnectionError("EOF after %d of %d body bytes" % (len(data), n))
            data += chunk
        return data

    def respond(self, status, body, content_type="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def record(self, status, violations, info):
        rec = {"time": time.time(), "mode": self.server.opts.mode, "status": status,
               "violations": violations, "info": info,
               "transfer": getattr(self, "transfer", None),
               "headers": {k: ("<redacted>" if k.lower() == "dd-api-key" else v)
                           for k, v in self.headers.items()}}
        self.server.recorder.save(rec)

    def do_GET(self):
        # Liveness probe (and the agent's /info that some clients read
        # first); not part of the contract.
        self.respond(200, "{}", "application/json")

    def do_POST(self):
        opts = self.server.opts
        mode = opts.mode
        if mode == "reset":
            try:
                self.read_body(limit=64)
            except (ConnectionError, ValueError):
                pass
            self.record(0, [], {"method": "POST", "path": self.path})
            sock = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            try:
                sock.close()
            except OSError:
                pass
            return
        try:
            body = self.read_body()
        except (ConnectionError, ValueError) as e:
            self.record(0, ["body: %s" % e], {"method": "POST", "path": self.path})
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        violations, info = check_upload("POST", self.path, headers, body, opts)
        info["transfer"] = self.transfer
        if mode == "hang":
            self.record(-1, violations, info)
            deadline = time.time() + opts.max_seconds
            while time.time() < deadline and not self.server.stopping:
                time.sleep(0.1)
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(opts.slow_ms / 1000.0)
        if mode == "500":
            status, text = 500, "simulated internal error\n"
        elif mode == "413":
            status, text = 413, "simulated: request entity too large\n"
        elif violations:
            status, text = 400, "contract violations:\n" + "\n".join(violations) + "\n"
        else:
            status, text = 202, "{}"
        self.record(status, violations, info)
        try:
            self.respond(status, text, "application/json" if status == 202 else "text/plain")
        except OSError:
            pass


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    stopping = False


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    stopping = False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", required=True, help="directory for req-NNNN.{json,txt}")
    ap.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1 (0: any)")
    ap.add_argument("--unix", help="unix socket path")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--mode", default="ok", choices=["ok", "500", "413", "hang", "reset", "slow"])
    ap.add_argument("--slow-ms", type=int, default=3000)
    ap.add_argument("--path", default="/profiling/v1/input")
    ap.add_argument("--api-key", default=None, help="expected DD-API-KEY (else: must be absent)")
    ap.add_argument("--require-tag", action="append", default=[])
    ap.add_argument("--client", default="inprof", choices=["inprof", "any"],
                    help="inprof: also inprof's exact choices (zstd, ns timestamps, native)")
    ap.add_argument("--unzstd", default=None, help="zstd decoder reading stdin (default: zstd -d)")
    ap.add_argument("--go", default=shutil.which("go") or "/usr/local/go/bin/go",
                    help="go binary for `go tool pprof`, or a pprof binary (go build cmd/pprof)")
    ap.add_argument("--no-pprof-check", action="store_true")
    ap.add_argument("--save-pprof", action="store_true")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args(argv)
    if opts.no_pprof_check:
        opts.go = None
    elif not (opts.go and os.access(opts.go, os.X_OK)):
        ap.error("go not found (needed for the pprof check): --go PATH or --no-pprof-check")

    if opts.unix:
        if os.path.exists(opts.unix):
            os.unlink(opts.unix)
        srv = UnixServer(opts.unix, Handler)
        announce = "UNIX %s" % opts.unix
    else:
        srv = TCPServer(("127.0.0.1", opts.port or 0), Handler)
        announce = "PORT %d" % srv.server_address[1]
    if opts.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.opts = opts
    srv.recorder = Recorder(opts.record)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    print(announce, flush=True)
    try:
        end = time.time() + opts.max_seconds
        while time.time() < end:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    srv.stopping = True
    srv.shutdown()
    return 0


if __name__ == "__main__":
    import signal

    def on_term(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
