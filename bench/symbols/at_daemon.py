#!/usr/bin/env python3
"""at_daemon.py AT_DAEMON_PROF [seconds] - what symbolization costs at-daemon's
exports (issue 11), measured from outside: at-daemon built with its
`profiling` feature runs with 1 s periods at 99 Hz (2 threads), writing
profiles to a temporary directory. The collector thread's CPU time
(/proc/<pid>/task/<tid>/schedstat) is read each time a new profile file
appears (polled every 2 ms): the CPU between two files is one period's
draining plus its export, so the first period minus the median of the later
ones is what the first export's symbolization costs. VmRSS is read before the
first file and after it.

Two ways side by side: the binary as built (line tables; debug dirs as
default, so libc6-dbg when installed) and a copy stripped of its debug info
with no debug directory (symbol tables only). Prints one "key value" line per
mode and measure, or a Markdown table with --markdown."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def collector_tid(pid):
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if "collect" in f.read():
                    return t
        except OSError:
            pass
    return None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ms(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e6


def measure(binary, seconds, env_extra):
    out = tempfile.mkdtemp(prefix="inprof-bench-sym-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "INPROF_"))}
    env.update({"INPROF_OUTPUT_DIR": out, "INPROF_UPLOAD": "false", "INPROF_CPU_HZ": "99",
                "DD_PROFILING_UPLOAD_PERIOD": "1", "DD_SERVICE": "bench-sym"})
    env.update(env_extra)
    p = subprocess.Popen([binary, "--threads", "2", "--duration", str(seconds)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tid = None
    deadline = time.time() + 10
    while tid is None and time.time() < deadline and p.poll() is None:
        try:
            tid = collector_tid(p.pid)
        except OSError:
            pass
        time.sleep(0.002)
    if tid is None:
        p.kill()
        sys.exit(f"at_daemon.py: no collector thread in {binary}")
    marks, rss = [(0, cpu_ms(p.pid, tid))], []
    seen = 0
    rss_before = rss_kib(p.pid)
    while p.poll() is None:
        try:
            n = len([f for f in os.listdir(out) if f.endswith(".pprof.gz")])
            if n > seen:
                seen = n
                marks.append((n, cpu_ms(p.pid, tid)))
                rss.append(rss_kib(p.pid))
        except OSError:
            break
        time.sleep(0.002)
    p.wait()
    shutil.rmtree(out, ignore_errors=True)
    per = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
    if len(per) < 3:
        sys.exit(f"at_daemon.py: only {len(per)} periods seen")
    later = statistics.median(per[1:])
    return {"first_period_cpu_ms": per[0], "later_period_cpu_ms": later,
            "first_export_extra_ms": per[0] - later,
            "rss_growth_kib": (rss[0] - rss_before) if rss else 0, "periods": len(per)}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    md = "--markdown" in sys.argv
    binary = os.path.abspath(args[0])
    seconds = int(args[1]) if len(args) > 1 else 6
    tmp = tempfile.mkdtemp(prefix="inprof-bench-sym-bin-")
    stripped = os.path.join(tmp, "at-daemon-nodebug")
    subprocess.run(["objcopy", "--strip-debug", binary, stripped], check=True)
    rows = [("symbol tables only (debug info stripped, no debug directory)",
             measure(stripped, seconds, {"INPROF_DEBUG_DIRS": "/nonexistent-inprof-bench"})),
            ("line tables, default debug directories, 16 MiB cap",
             measure(binary, seconds, {})),
            ("line tables, 64 MiB cap", measure(binary, seconds, {"INPROF_SYMBOLIZER_MAX_MB": "64"}))]
    shutil.rmtree(tmp, ignore_errors=True)
    if md:
        print(f"at-daemon (`bench/symbols/at_daemon.py AT_DAEMON {seconds}`: 2 threads, 99 Hz, "
              "1 s periods; the collector thread's CPU per period, read from schedstat when each "
              "profile file appears; RSS growth is VmRSS after the first file minus before it):\n")
        print("| mode | first period | later periods (median) | first export's extra | RSS growth at first export | periods |")
        print("|---|---|---|---|---|---|")
        for name, r in rows:
            print(f"| {name} | {r['first_period_cpu_ms']:.1f} ms | {r['later_period_cpu_ms']:.1f} ms | "
                  f"{r['first_export_extra_ms']:.1f} ms | {r['rss_growth_kib'] / 1024:.1f} MiB | {r['periods']} |")
        print()
    else:
        for name, r in rows:
            print(name)
            for k, v in r.items():
                print(f"  {k} {v:.2f}" if isinstance(v, float) else f"  {k} {v}")


if __name__ == "__main__":
    main()
