#!/usr/bin/env python3
"""The test intake's own contract checks (intake.check_upload), offline.

An upload shaped like the ddtrace Python profiler's (runtime-id of 32 hex
digits, a code-provenance.json attachment, no inprof-only fields) passes
with --client any and fails with --client inprof; an inprof-shaped upload
passes strictly, and each inprof field it loses (process_tags, internal's
counters, info's settings, an entity id, a tag) is named as a violation.
"""
import copy
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake  # noqa: E402

BOUNDARY = "XyZboundary"
failures = 0


class Opts:
    path = "/profiling/v1/input"
    api_key = None
    save_pprof = False
    require_tag = []
    go = None          # no go tool pprof: the payloads are not real profiles
    unzstd = "cat"

    def __init__(self, client):
        self.client = client


def body_of(event, attachments):
    out = b""
    parts = [("event", "event.json", "application/json", json.dumps(event).encode())]
    parts += [(name, name, "application/octet-stream", data) for name, data in attachments]
    for name, filename, ctype, data in parts:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: %s\r\n\r\n" % (BOUNDARY, name, filename, ctype)).encode()
        out += data + b"\r\n"
    return out + ("--%s--\r\n" % BOUNDARY).encode()


def check(what, client, event, attachments, headers_extra=None, want=None):
    """want None: no violations; else a substring one violation must hold."""
    global failures
    headers = {"content-type": "multipart/form-data; boundary=" + BOUNDARY,
               "user-agent": "test", "dd-evp-origin": "test", "dd-evp-origin-version": "1"}
    headers.update(headers_extra or {})
    v, _ = intake.check_upload("POST", Opts.path, headers, body_of(event, attachments), Opts(client))
    ok = (not v) if want is None else any(want in x for x in v)
    if not ok:
        failures += 1
        print("FAIL %s (client %s): want %s, got %s" % (what, client, want or "no violations", v))


# Starts with zstd's magic, so the intake sees a zstd attachment; its
# "decoder" is cat (Opts.unzstd), as the payload is not a real profile.
ZSTD_PPROF = intake.ZSTD_MAGIC + b"pprof bytes"
START, END = "2026-12-02T10:00:00.123456Z", "2026-12-02T10:01:00.123456Z"

ddtrace_event = {
    "attachments": ["profile.pprof", "code-provenance.json"],
    "tags_profiler": "service:svc,runtime-id:0123456789abcdef0123456789abcdef,language:python,"
                     "profiler_version:4.16.0,host:h",
    "start": START, "end": END, "family": "python", "version": "4",
    "endpoint_counts": {}, "process_tags": None, "internal": {}, "info": {},
}
ddtrace_parts = [("profile.pprof", gzip.compress(b"pprof bytes")),
                 ("code-provenance.json", b'{"v1":[]}')]
check("ddtrace-shaped upload", "any", ddtrace_event, ddtrace_parts)
check("ddtrace-shaped upload", "inprof", ddtrace_event, ddtrace_parts, want="runtime-id")
check("ddtrace-shaped upload", "inprof", ddtrace_event, ddtrace_parts, want="attachments")

inprof_event = {
    "attachments": ["profile.pprof"],
    "tags_profiler": "service:svc,runtime-id:0f8fad5b-d9cb-469f-a165-70867728950e,language:native,"
                     "profiler_version:0.1.0,host:h,runtime_platform:x86_64-unknown-linux-gnu,"
                     "process_id:1234,profiler_config:cpu_heap_timeline,profile_seq:1",
    "start": "2026-12-02T10:00:00.123456789Z", "end": "2026-12-02T10:01:00.123456789Z",
    "family": "native", "version": "4", "endpoint_counts": None,
    "process_tags": "entrypoint.name:at-daemon,entrypoint.type:executable,entrypoint.workdir:main",
    "internal": {"profiler_version": "0.1.0",
                 "statistics": {"cpu_samples": 10, "cpu_samples_dropped": 0, "heap_samples": 2,
                                "uploads_failed": 0}},
    "info": {"profiler": {"settings": {"INPROF_CPU_HZ": 99, "INPROF_HEAP_SAMPLE_BYTES": 524288,
                                       "DD_PROFILING_UPLOAD_PERIOD": 60000, "DD_API_KEY": None}}},
}
inprof_parts = [("profile.pprof", ZSTD_PPROF)]
entity = {"datadog-entity-id": "in-12345"}
check("inprof upload", "inprof", inprof_event, inprof_parts, entity)
check("inprof upload, bad entity id", "inprof", inprof_event, inprof_parts,
      {"datadog-entity-id": "cid-12"}, want="Datadog-Entity-ID")
check("inprof upload, entity id not the container", "inprof", inprof_event, inprof_parts,
      {"datadog-entity-id": "in-5", "datadog-container-id": "a" * 64}, want="does not name")


def without(path, value=KeyError):
    ev = copy.deepcopy(inprof_event)
    obj = ev
    for k in path[:-1]:
        obj = obj[k]
    if value is KeyError:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return ev


check("no process_tags", "inprof", without(["process_tags"]), inprof_parts, entity,
      want="process_tags")
check("no counters", "inprof", without(["internal", "statistics"]), inprof_parts, entity,
      want="internal.statistics")
check("no settings", "inprof", without(["info", "profiler"]), inprof_parts, entity,
      want="info.profiler.settings")
check("API key shown", "inprof", without(["info", "profiler", "settings", "DD_API_KEY"], "k3y"),
      inprof_parts, entity, want="API key")
ev = copy.deepcopy(inprof_event)
ev["tags_profiler"] = ev["tags_profiler"].replace("process_id:1234,", "")
check("no process_id tag", "inprof", ev, inprof_parts, entity, want="process_id")

if failures:
    print("test_intake: %d failure(s)" % failures)
    sys.exit(1)
print("test_intake: ok")
