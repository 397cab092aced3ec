#!/usr/bin/env python3
"""bench.py - runs inprof's benchmark suite and writes BENCHMARKS.md.

Called by bench/run.sh after it has built everything (see there). Each
comparison runs its variants as separate processes, interleaved A B C A B C
with the order rotated every round, and reports the median over rounds of
the per-round ratios, because the machines are shared and noisy. The suite
fails (non-zero exit) only when a benchmark itself breaks: a missed target is
a result, not an error.

Standard library only.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBPROFILER = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"
LIBTCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"


class SuiteError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, timeout=300, results=True):
    """Runs cmd; returns the RESULT lines as dicts (all of them)."""
    full_env = dict(os.environ)
    # Never let a developer's profiler settings leak into a measured run.
    for k in list(full_env):
        if k.startswith(("INPROF_", "DD_", "CPUPROFILE", "HEAPPROFILE", "TCMALLOC_", "_RJEM_",
                         "MALLOC_CONF", "BENCH_")) or k == "LD_PRELOAD":
            del full_env[k]
    full_env.update(env or {})
    try:
        p = subprocess.run(cmd, env=full_env, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SuiteError(f"timed out after {timeout}s: {' '.join(cmd)}")
    if p.returncode != 0:
        raise SuiteError(f"exit {p.returncode}: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    if not results:
        return p.stdout
    out = []
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            d = {}
            for tok in line.split()[1:]:
                k, _, v = tok.partition("=")
                d[k] = num(v)
            out.append(d)
    if not out:
        raise SuiteError(f"no RESULT line from {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return out


def num(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def iqr(xs):
    """(first quartile, third quartile) of xs, or None with fewer than 3 values."""
    xs = sorted(x for x in xs if x is not None)
    if len(xs) < 3:
        return None
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return (q[0], q[2])


def pct_iqr(m, spread):
    """A ratio as a percentage change with its interquartile range across rounds."""
    if m is None:
        return "n/a"
    if not spread:
        return pct(m - 1)
    return f"{pct(m - 1)} <sub>[{(spread[0] - 1) * 100:+.1f}, {(spread[1] - 1) * 100:+.1f}]</sub>"


def summarize(tool, files):
    """pprof_summary over files -> {'total': {type: v}, 'threads': [...], 'funcs': {name: {type: v}}, 'bytes': n}"""
    if not files:
        raise SuiteError("no profile written")
    out = run([tool] + files, results=False)
    s = {"total": {}, "threads": [], "funcs": {}, "bytes": 0, "files": 0}
    for line in out.splitlines():
        kind, _, rest = line.partition(" ")
        kv = dict(t.partition("=")[::2] for t in rest.split())
        kv = {k: num(v) for k, v in kv.items()}
        if kind == "TOTAL":
            s["total"][kv["type"]] = kv["value"]
        elif kind == "THREAD":
            s["threads"].append(kv)
        elif kind == "FUNC":
            s["funcs"][str(kv.pop("name"))] = kv
        elif kind == "FILES":
            s["bytes"], s["files"] = kv["bytes"], kv["count"]
    return s


def fresh_dir(base, name):
    d = os.path.join(base, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def rotate(xs, r):
    r %= len(xs)
    return xs[r:] + xs[:r]


def pct(x, digits=2):
    return "n/a" if x is None else f"{x * 100:+.{digits}f}%"


def fmt(x, digits=2, unit=""):
    if x is None:
        return "n/a"
    return f"{x:.{digits}f}{unit}"


class Suite:
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.bin = args.c_bin
        self.tmp = os.path.join(args.build, "tmp")
        os.makedirs(self.tmp, exist_ok=True)
        self.summary_tool = os.path.join(self.bin, "pprof_summary")
        self.sections = {}     # name -> dict of results
        self.targets = []      # (target, measured text, met bool or None, where)
        self.timings = {}
        self.raw = {}          # per-run results, saved in results.json

    def c(self, name):
        return os.path.join(self.bin, name)

    # ------------------------------------------------ 1, 6, 7: C workload
    def c_cpu(self):
        iters_per_ms = run([self.c("bench_cpu"), "--calibrate"])[0]["iters_per_ms"]
        total_cpu_ms = 200 if self.quick else 2000
        rounds = {2: 1, 8: 1} if self.quick else {2: 7, 8: 5}
        configs = [("off", "off", 0, {}),
                   ("inprof 99 Hz", "inprof", 99, {}),
                   ("inprof 999 Hz", "inprof", 999, {}),
                   ("gperftools 99 Hz", "gperf", 99, {}),
                   ("gperftools 99 Hz per-thread", "gperf", 99, {"CPUPROFILE_PER_THREAD_TIMERS": "1"}),
                   ("gperftools 999 Hz", "gperf", 999, {}),
                   ("gperftools 999 Hz per-thread", "gperf", 999, {"CPUPROFILE_PER_THREAD_TIMERS": "1"})]
        res = {}
        for threads in (2, 8):
            iters = max(1000, iters_per_ms * total_cpu_ms // threads)
            rows = {c[0]: [] for c in configs}
            for r in range(rounds[threads]):
                for name, mode, hz, extra in rotate(configs, r):
                    cmd = [self.c("bench_cpu"), "--threads", str(threads), "--iters", str(iters),
                           "--mode", mode]
                    env = {}
                    outdir = None
                    if mode == "inprof":
                        outdir = fresh_dir(self.tmp, "cpu")
                        cmd += ["--hz", str(hz), "--outdir", outdir]
                    elif mode == "gperf":
                        prof = os.path.join(self.tmp, "gperf.prof")
                        if os.path.exists(prof):
                            os.unlink(prof)
                        env = {"LD_PRELOAD": LIBPROFILER, "CPUPROFILE": prof,
                               "CPUPROFILE_FREQUENCY": str(hz), **extra}
                        cmd += ["--hz", str(hz)]
                    d = run(cmd, env)[0]
                    d["round"] = r
                    if mode == "inprof":
                        s = summarize(self.summary_tool, sorted(glob.glob(os.path.join(outdir, "*.pprof.gz"))))
                        per = [s["funcs"].get(f"bench_work_{i}", {}) for i in range(threads)]
                        d["captured_ns"] = sum(p.get("cpu-time", 0) for p in per)
                        d["per_samples"] = [p.get("cpu-samples", 0) for p in per]
                        d["per_cputime"] = [p.get("cpu-time", 0) for p in per]
                        d["samples"] = s["total"].get("cpu-samples", 0)
                    elif mode == "gperf":
                        per = [d.get(f"gperf_t{i}", 0) for i in range(threads)]
                        d["captured_ns"] = sum(per) * d["gperf_period_us"] * 1000
                        d["per_samples"] = per
                        d["samples"] = d["gperf_samples"]
                    rows[name].append(d)
            out = {}
            base = {d["round"]: d for d in rows["off"]}
            for name, mode, hz, _ in configs:
                runs = rows[name]
                o = {"runs": len(runs), "hz": hz, "mode": mode}
                rl = [d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in runs]
                o["cpu_ratio"], o["cpu_iqr"] = med(rl), iqr(rl)
                # CPU of threads other than the workers (the collector, the
                # profiler's own threads), over the same in the unprofiled run,
                # per worker CPU: measured exactly, whatever the noise.
                o["other_cpu"] = med([((d["cpu_ns"] - d["workers_cpu_ns"]) -
                                       (base[d["round"]]["cpu_ns"] - base[d["round"]]["workers_cpu_ns"]))
                                      / d["workers_cpu_ns"] for d in runs])
                o["wall_ratio"] = med([d["wall_ns"] / base[d["round"]]["wall_ns"] for d in runs])
                o["cpu_s"] = med([d["cpu_ns"] / 1e9 for d in runs])
                if mode != "off":
                    o["capture"] = med([d["captured_ns"] / d["workers_cpu_ns"] for d in runs])
                    o["samples_per_cpu_s"] = med([d["samples"] / (d["workers_cpu_ns"] / 1e9) for d in runs])
                    # Fairness: what each thread got per CPU-second it really used
                    # (its own getrusage), max/min over the equal threads, so
                    # that a thread slowed by the machine does not count against
                    # the profiler. The threads' own CPU spread is shown apart.
                    def spread(d, key):
                        v = [d[key][i] / max(1, d[f"cpu_t{i}"]) for i in range(threads)]
                        return max(v) / max(min(v), 1e-12)
                    o["fair_samples"] = med([spread(d, "per_samples") for d in runs])
                    o["raw_spread"] = med([max(d[f"cpu_t{i}"] for i in range(threads)) /
                                           max(1, min(d[f"cpu_t{i}"] for i in range(threads))) for d in runs])
                    if mode == "inprof":
                        o["fair_cputime"] = med([spread(d, "per_cputime") for d in runs])
                        o["dropped"] = sum(d.get("inprof_dropped", 0) for d in runs)
                        o["overruns"] = med([d.get("inprof_overruns", 0) for d in runs])
                out[name] = o
            res[threads] = out
            self.raw.setdefault("c_cpu", {})[threads] = rows
        self.sections["c_cpu"] = {"results": res, "total_cpu_ms": total_cpu_ms, "iters_per_ms": iters_per_ms}

        two, eight = res[2], res[8]
        for threads, r in ((2, two), (8, eight)):
            c = r["inprof 99 Hz"]["capture"]
            self.targets.append((f"captured cpu-time within 5% of the OS at 99 Hz ({threads} threads)",
                                 f"{c * 100:.2f}%", abs(c - 1) <= 0.05, "C workload"))
        c999 = eight["inprof 999 Hz"]["capture"]
        self.targets.append(("captured cpu-time ≥ 95% at 999 Hz, 8 threads on 2 cores",
                             f"{c999 * 100:.2f}%", c999 >= 0.95, "C workload"))
        for hz in (99, 999):
            f = eight[f"inprof {hz} Hz"]["fair_cputime"]
            fs = eight[f"inprof {hz} Hz"]["fair_samples"]
            self.targets.append((f"equal threads within 10% (8 threads, {hz} Hz, max/min of profile cpu-time ÷ thread's CPU)",
                                 f"{f:.3f} (samples {fs:.3f})", f <= 1.10, "C workload"))

    # ------------------------------------------------ 2: cost per sample
    def handler(self):
        reps = 1 if self.quick else 3
        samples = 2000 if self.quick else 10000
        allr = []
        for _ in range(reps):
            allr.append(run([self.c("bench_handler"), "--samples", str(samples)]))
        out = {}
        for i, d in enumerate(allr[0]):
            depth = d["depth"]
            rs = [a[i] for a in allr]
            o = {k: med([r[k] for r in rs]) for k in d if k != "depth"}
            o["signal_extra_p50"] = med([r["signal_p50_ns"] - r["empty_p50_ns"] for r in rs])
            o["signal_extra_p99"] = med([r["signal_p99_ns"] - r["empty_p99_ns"] for r in rs])
            out[depth] = o
        self.sections["handler"] = {"results": out, "reps": reps, "samples": samples}
        p50 = out[32]["path_p50_ns"]
        self.targets.append(("median cost per sample at 32 frames ≤ 2 µs (handler path)",
                             f"{p50 / 1000:.2f} µs", p50 <= 2000, "bench_handler"))

    # ------------------------------------------------ 3: heap hooks
    def heap(self):
        out = {}
        # The heap developer's micro-benchmark, when it was built.
        hh = self.c("heap_hooks")
        out["heap_hooks"] = {}
        if os.path.exists(hh):
            for rate in (524288, 65536):
                text = run([hh, str(rate), "3" if self.quick else "11"], results=False, timeout=600)
                m1 = re.search(r"hooks add ([0-9.]+) ns per pair", text)
                m2 = re.search(r"throughput ratio ([0-9.]+)", text)
                out["heap_hooks"][rate] = {"text": text.strip(),
                                           "added_ns": float(m1.group(1)) if m1 else None,
                                           "ratio": float(m2.group(1)) if m2 else None}
        fp = run([self.c("bench_heap"), "--fastpath", "--pairs", "2000000" if self.quick else "10000000"])[0]
        out["fastpath"] = fp
        ops = 100000 if self.quick else 1500000
        rounds = 1 if self.quick else 7
        configs = [("malloc, no hooks", ["--mode", "none"], {}),
                   ("hooks, profiler not started", ["--mode", "hooks-off"], {}),
                   ("inprof 512 KiB", ["--mode", "inprof", "--rate", "524288"], {}),
                   ("inprof 64 KiB", ["--mode", "inprof", "--rate", "65536"], {}),
                   ("tcmalloc, sampling off", ["--mode", "none"],
                    {"LD_PRELOAD": LIBTCMALLOC, "TCMALLOC_SAMPLE_PARAMETER": "0"}),
                   ("tcmalloc, sampling 512 KiB", ["--mode", "none"],
                    {"LD_PRELOAD": LIBTCMALLOC, "TCMALLOC_SAMPLE_PARAMETER": "524288"})]
        rows = {c[0]: [] for c in configs}
        for r in range(rounds):
            for name, args, env in rotate(configs, r):
                d = run([self.c("bench_heap"), "--threads", "2", "--ops", str(ops)] + args, env)[0]
                d["round"] = r
                rows[name].append(d)
        tp = {}
        hoff = {d["round"]: d for d in rows["hooks, profiler not started"]}
        for name, _, _ in configs:
            base_name = "tcmalloc, sampling off" if name.startswith("tcmalloc") else "malloc, no hooks"
            base = {d["round"]: d for d in rows[base_name]}
            tp[name] = {
                "base": base_name,
                "cpu_ratio": med([d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in rows[name]]),
                "cpu_iqr": iqr([d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in rows[name]]),
                "wall_ratio": med([d["wall_ns"] / base[d["round"]]["wall_ns"] for d in rows[name]]),
                "ns_per_op": med([d["cpu_ns"] / d["ops"] for d in rows[name]]),
                "heap_samples": med([d["heap_samples"] for d in rows[name]]),
                # CPU added per sampled allocation, over the hooks' fast path alone.
                "ns_per_sample": med([(d["cpu_ns"] - hoff[d["round"]]["cpu_ns"]) / d["heap_samples"]
                                      for d in rows[name] if d["heap_samples"]]) if "inprof" in name else None,
                "expected_samples": med([d["bytes"] / d["rate"] for d in rows[name]]) if "inprof" in name else None,
            }
        out["throughput"] = tp
        out["ops"] = ops
        out["rounds"] = rounds
        self.sections["heap"] = out
        fast = fp["added_ns_per_pair"]
        self.targets.append(("heap fast path ≤ 5 ns per alloc/free pair (512 KiB)",
                             f"{fast:.2f} ns", fast <= 5, "bench_heap --fastpath"))
        loss = tp["inprof 512 KiB"]["cpu_ratio"] - 1
        self.targets.append(("≤ 1% throughput loss at 512 KiB (allocation-heavy, 2 threads, CPU time)",
                             pct(loss), loss <= 0.01, "bench_heap"))

    # ------------------------------------------------ 4: memory (C)
    def c_rss(self):
        iters_per_ms = run([self.c("bench_cpu"), "--calibrate"])[0]["iters_per_ms"]
        per_thread_ms = 300 if self.quick else 1500
        rounds = 1 if self.quick else 3
        configs = [("off", ["--mode", "off", "--period-ms", "250"]),
                   ("inprof", ["--mode", "inprof", "--hz", "99", "--period-ms", "250"]),
                   ("inprof, no export yet", ["--mode", "inprof", "--hz", "99", "--period-ms", "3600000"])]
        rows = {c[0]: [] for c in configs}
        sizes = []
        for r in range(rounds):
            for name, args in rotate(configs, r):
                outdir = fresh_dir(self.tmp, "rss")
                d = run([self.c("bench_cpu"), "--threads", "2", "--iters", str(iters_per_ms * per_thread_ms),
                         "--rss", "--outdir", outdir] + args)[0]
                d["round"] = r
                rows[name].append(d)
                if name == "inprof":
                    files = sorted(glob.glob(os.path.join(outdir, "*.pprof.gz")),
                                   key=lambda f: int(re.search(r"-(\d+)\.pprof\.gz$", f).group(1)))
                    # The last file is the partial period written at stop.
                    sizes += [os.path.getsize(f) for f in files[:-1]]
        # What the profiler costs with nothing to sample: 2 threads asleep.
        idle_ms = 500 if self.quick else 2000
        idle = {"off": [], "inprof": []}
        for r in range(rounds):
            for name, args in rotate([("off", ["--mode", "off"]), ("inprof", ["--mode", "inprof", "--hz", "99"])], r):
                idle[name].append(run([self.c("bench_cpu"), "--threads", "2", "--idle-ms", str(idle_ms),
                                       "--outdir", fresh_dir(self.tmp, "idle")] + args)[0])
        idle_cpu_ms_per_s = med([(a["cpu_ns"] - b["cpu_ns"]) / 1e6 / (a["wall_ns"] / 1e9)
                                 for a, b in zip(idle["inprof"], idle["off"])])
        base = {d["round"]: d for d in rows["off"]}
        delta = med([d["rss_kib"] - base[d["round"]]["rss_kib"] for d in rows["inprof"]])
        delta_noexp = med([d["rss_kib"] - base[d["round"]]["rss_kib"] for d in rows["inprof, no export yet"]])
        self.sections["c_rss"] = {"delta_kib": delta, "idle_cpu_ms_per_s": idle_cpu_ms_per_s, "delta_noexport_kib": delta_noexp,
                                  "off_kib": med([d["rss_kib"] for d in rows["off"]]),
                                  "on_kib": med([d["rss_kib"] for d in rows["inprof"]]),
                                  "file_bytes": med(sizes), "periods": len(sizes)}
        self.targets.append(("profiler RSS ≤ 8 MiB at steady state (C workload, 99 Hz)",
                             f"{delta / 1024:.2f} MiB", delta <= 8 * 1024, "bench_cpu --rss"))

    # ------------------------------------------------ 1, 6: at-daemon
    def at_daemon(self):
        duration = "0.5" if self.quick else "3"
        rounds = 1 if self.quick else 5
        configs = [("off", 0), ("inprof 99 Hz", 99), ("inprof 999 Hz", 999)]
        rows = {c[0]: [] for c in configs}
        for r in range(rounds):
            for name, hz in rotate(configs, r):
                if hz == 0:
                    binary, env, outdir = self.a.at_daemon_off, {}, None
                else:
                    outdir = fresh_dir(self.tmp, "atd")
                    binary = self.a.at_daemon_prof
                    env = {"INPROF_CPU_HZ": str(hz), "INPROF_HEAP_SAMPLE_BYTES": "0", "INPROF_OUTPUT_DIR": outdir,
                           "INPROF_UPLOAD": "false", "DD_PROFILING_UPLOAD_PERIOD": "3600", "DD_SERVICE": "at-daemon"}
                text = run([binary, "--threads", "2", "--duration", duration], env, results=False)
                d = {"round": r, "jobs": {}}
                for line in text.splitlines():
                    kv = {k: num(v) for k, _, v in (t.partition("=") for t in line.split()[1:])}
                    if line.startswith("JOB "):
                        d["jobs"][kv["name"]] = kv
                    elif line.startswith("at-daemon:"):
                        d.update(kv)
                if len(d["jobs"]) != 4 or "process_cpu_ms" not in d:
                    raise SuiteError(f"unexpected at-daemon output:\n{text}")
                if outdir:
                    s = summarize(self.summary_tool, sorted(glob.glob(os.path.join(outdir, "*.pprof.gz"))))
                    d["profile"] = s
                rows[name].append(d)
        base = {d["round"]: d for d in rows["off"]}

        def cost(d, b):
            # CPU per unit of work: work = sum over kinds of jobs * the kind's
            # cost per job in the round's unprofiled run.
            work = sum(j["jobs"] * b["jobs"][k]["cpu_ns"] / b["jobs"][k]["jobs"] for k, j in d["jobs"].items())
            return (sum(j["cpu_ns"] for j in d["jobs"].values()) / work,
                    d["process_cpu_ms"] * 1e6 / work, float(str(d["wall"]).rstrip("s")) / work)

        out = {}
        for name, hz in configs:
            o = {"runs": len(rows[name])}
            ratios = []
            for d in rows[name]:
                b = base[d["round"]]
                c, bc = cost(d, b), cost(b, b)
                ratios.append((c[0] / bc[0], c[1] / bc[1], c[2] / bc[2]))
            o["job_cpu_ratio"] = med([x[0] for x in ratios])
            o["job_cpu_iqr"] = iqr([x[0] for x in ratios])
            o["process_cpu_ratio"] = med([x[1] for x in ratios])
            o["wall_per_work_ratio"] = med([x[2] for x in ratios])
            if hz:
                errs, errs_self, caps, sizes = [], [], [], []
                for d in rows[name]:
                    f = d["profile"]["funcs"]
                    ct = {k: f.get(f"at_daemon::jobs::{k}", {}).get("cpu-time", 0) for k in d["jobs"]}
                    tot = sum(ct.values()) or 1
                    errs.append(max(abs(ct[k] / tot - j["design"]) for k, j in d["jobs"].items()))
                    errs_self.append(max(abs(ct[k] / tot - j["share"]) for k, j in d["jobs"].items()))
                    caps.append(tot / sum(j["cpu_ns"] for j in d["jobs"].values()))
                    sizes.append(d["profile"]["bytes"])
                o["share_err_pp"] = med(errs) * 100
                o["share_err_self_pp"] = med(errs_self) * 100
                o["capture_jobs"] = med(caps)
                o["samples_per_cpu_s"] = med([d["profile"]["total"].get("cpu-samples", 0) /
                                              (sum(j["cpu_ns"] for j in d["jobs"].values()) / 1e9)
                                              for d in rows[name]])
                o["other_cpu"] = med([((d["process_cpu_ms"] * 1e6 - sum(j["cpu_ns"] for j in d["jobs"].values())) -
                                       (base[d["round"]]["process_cpu_ms"] * 1e6 -
                                        sum(j["cpu_ns"] for j in base[d["round"]]["jobs"].values())))
                                      / sum(j["cpu_ns"] for j in d["jobs"].values()) for d in rows[name]])
                o["profile_bytes"] = med(sizes)
                last = rows[name][-1]
                f = last["profile"]["funcs"]
                ct = {k: f.get(f"at_daemon::jobs::{k}", {}).get("cpu-time", 0) for k in last["jobs"]}
                tot = sum(ct.values()) or 1
                o["example"] = {k: (ct[k] / tot, j["share"], j["design"]) for k, j in last["jobs"].items()}
            out[name] = o
        self.sections["at_daemon"] = {"results": out, "duration": duration, "rounds": rounds}

    # ------------------------------------------------ 8: Rust side by side
    def rust(self):
        rb = self.a.rustbench
        cal = run([rb, "run", "--profiler", "off", "--rounds", "20"])[0]
        per_round_ms = cal["workers_cpu_ns"] / 2 / 20 / 1e6
        target_ms = 150 if self.quick else 1000
        rounds_n = max(5, int(target_ms / max(per_round_ms, 0.1)))
        nrounds = 1 if self.quick else 5
        configs = [("off", ["--profiler", "off"], {}),
                   ("inprof 99 Hz", ["--profiler", "inprof", "--hz", "99"], {}),
                   ("inprof 999 Hz", ["--profiler", "inprof", "--hz", "999"], {}),
                   ("pprof-rs 99 Hz", ["--profiler", "pprof", "--hz", "99"], {}),
                   ("pprof-rs 999 Hz", ["--profiler", "pprof", "--hz", "999"], {})]
        rows = {c[0]: [] for c in configs}
        for r in range(nrounds):
            for name, args, env in rotate(configs, r):
                cmd = [rb, "run", "--threads", "2", "--rounds", str(rounds_n)] + args
                outdir = None
                if "inprof" in name:
                    outdir = fresh_dir(self.tmp, "rs")
                    cmd += ["--outdir", outdir]
                d = run(cmd, env)[0]
                d["round"] = r
                hz = d["hz"]
                if outdir:
                    s = summarize(self.summary_tool, sorted(glob.glob(os.path.join(outdir, "*.pprof.gz"))))
                    wt = [t for t in s["threads"] if str(t["name"]).startswith("bw-")]
                    d["captured_ns"] = sum(t.get("cpu-time", 0) for t in wt)
                    d["worker_samples"] = sum(t.get("cpu-samples", 0) for t in wt)
                elif name.startswith("pprof"):
                    d["captured_ns"] = d["pprof_worker_samples"] * 1e9 / hz
                    d["worker_samples"] = d["pprof_worker_samples"]
                rows[name].append(d)
        base = {d["round"]: d for d in rows["off"]}
        cpu = {}
        for name, _, _ in configs:
            rs = rows[name]
            o = {"cpu_ratio": med([d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in rs]),
                 "cpu_iqr": iqr([d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in rs]),
                 "other_cpu": med([((d["cpu_ns"] - d["workers_cpu_ns"]) -
                                    (base[d["round"]]["cpu_ns"] - base[d["round"]]["workers_cpu_ns"]))
                                   / d["workers_cpu_ns"] for d in rs]),
                 "wall_ratio": med([d["wall_ns"] / base[d["round"]]["wall_ns"] for d in rs]),
                 "rss_kib": med([d["rss_kib"] for d in rs])}
            if name != "off":
                hz = rs[0]["hz"]
                o["capture"] = med([d["captured_ns"] / d["workers_cpu_ns"] for d in rs])
                o["samples_vs_expected"] = med([d["worker_samples"] / (d["workers_cpu_ns"] / 1e9 * hz) for d in rs])
                if "inprof" in name:
                    o["dropped"] = sum(d.get("inprof_dropped", 0) for d in rs)
            cpu[name] = o
        # Heap: the same jobs through each allocator, at the same mean rate.
        hconfigs = [("system allocator", ["--profiler", "off"], {"BENCH_ALLOC": "system"}),
                    ("inprof 512 KiB (ProfiledAllocator)", ["--profiler", "inprof", "--hz", "0",
                                                            "--heap-bytes", "524288"], {"BENCH_ALLOC": "inprof"}),
                    ("jemalloc, profiling off", ["--profiler", "off"], {"BENCH_ALLOC": "jemalloc"}),
                    ("jemalloc prof, lg_prof_sample:19", ["--profiler", "off"],
                     {"BENCH_ALLOC": "jemalloc", "_RJEM_MALLOC_CONF": "prof:true,lg_prof_sample:19"})]
        hrows = {c[0]: [] for c in hconfigs}
        for r in range(nrounds):
            for name, args, env in rotate(hconfigs, r):
                d = run([rb, "run", "--threads", "2", "--rounds", str(rounds_n)] + args, env)[0]
                d["round"] = r
                hrows[name].append(d)
        heap = {}
        for name, _, _ in hconfigs:
            bname = "jemalloc, profiling off" if name.startswith("jemalloc") else "system allocator"
            base = {d["round"]: d for d in hrows[bname]}
            rs = hrows[name]
            heap[name] = {"base": bname,
                          "cpu_ratio": med([d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in rs]),
                          "cpu_iqr": iqr([d["cpu_ns"] / base[d["round"]]["cpu_ns"] for d in rs]),
                          "wall_ratio": med([d["wall_ns"] / base[d["round"]]["wall_ns"] for d in rs]),
                          "rss_kib": med([d["rss_kib"] for d in rs]),
                          "heap_samples": med([d.get("heap_samples") for d in rs]),
                          "jemalloc_prof": rs[0].get("jemalloc_prof"),
                          "jemalloc_lg": rs[0].get("jemalloc_lg_prof_sample")}
        # Export time, RSS at steady state, profile size per period.
        periods = 1 if self.quick else 4
        period_ms = 300 if self.quick else 1000
        erows = {"off": [], "inprof 99 Hz": [], "inprof 999 Hz": []}
        efiles = {"inprof 99 Hz": [], "inprof 999 Hz": []}
        econfigs = [("off", "off", 99), ("inprof 99 Hz", "inprof", 99), ("inprof 999 Hz", "inprof", 999)]
        for r in range(1 if self.quick else 3):
            for name, prof, hz in rotate(econfigs, r):
                outdir = fresh_dir(self.tmp, "exp")
                d = run([rb, "export", "--profiler", prof, "--hz", str(hz), "--threads", "2",
                         "--periods", str(periods), "--period-ms", str(period_ms), "--outdir", outdir],
                        {"BENCH_ALLOC": "inprof"})[0]
                d["round"] = r
                erows[name].append(d)
                if prof == "inprof":
                    files = sorted(glob.glob(os.path.join(outdir, "*.pprof.gz")),
                                   key=lambda f: int(re.search(r"-(\d+)\.pprof\.gz$", f).group(1)))
                    efiles[name] += [os.path.getsize(f) for f in files[:periods]]
        base = {d["round"]: d for d in erows["off"]}
        export = {}
        for name in ("inprof 99 Hz", "inprof 999 Hz"):
            rs = erows[name]
            fl = [[int(x) for x in str(d["flush_ns"]).split(",")] for d in rs]
            export[name] = {"first_ms": med([f[0] / 1e6 for f in fl]),
                            "later_ms": med([x / 1e6 for f in fl for x in f[1:]]) if periods > 1 else None,
                            "rss_delta_kib": med([d["rss_kib"] - base[d["round"]]["rss_kib"] for d in rs]),
                            "file_bytes": med(efiles[name])}
        self.sections["rust"] = {"cpu": cpu, "heap": heap, "export": export, "rounds_n": rounds_n,
                                 "nrounds": nrounds, "per_round_ms": per_round_ms,
                                 "period_ms": period_ms, "periods": periods}
        d99 = export["inprof 99 Hz"]["rss_delta_kib"]
        self.targets.append(("profiler RSS ≤ 8 MiB at steady state (Rust jobs, 99 Hz + heap 512 KiB)",
                             f"{d99 / 1024:.2f} MiB", d99 <= 8 * 1024, "rustbench export"))

    # ------------------------------------------------ bottom-up overhead
    def finish(self):
        """The CPU-overhead target, bottom-up: samples per CPU-second x the
        measured cost of one sample (signal round trip with inprof's handler,
        32 frames) + the CPU of the profiler's own threads. On a shared
        2-core machine the direct A/B ratio has an interquartile range of a
        few percent, wider than the 0.5% target; both are shown."""
        if "handler" not in self.sections:
            return
        per_sample_ns = self.sections["handler"]["results"][32]["signal_p50_ns"]
        self.sections["handler"]["per_sample_ns"] = per_sample_ns
        rows = []
        if "c_cpu" in self.sections:
            o = self.sections["c_cpu"]["results"][2]["inprof 99 Hz"]
            rows.append(("C workload, 2 threads", o["samples_per_cpu_s"], o["other_cpu"],
                         pct_iqr(o["cpu_ratio"], o["cpu_iqr"])))
        if "at_daemon" in self.sections:
            o = self.sections["at_daemon"]["results"]["inprof 99 Hz"]
            rows.append(("at-daemon, 2 workers", o["samples_per_cpu_s"], o["other_cpu"],
                         pct_iqr(o["job_cpu_ratio"], o["job_cpu_iqr"])))
        est = {}
        for where, sps, other, direct in rows:
            handler = sps * per_sample_ns / 1e9
            total = handler + max(other, 0)
            est[where] = {"handler": handler, "other": other, "total": total}
            self.targets.insert(0, (f"CPU overhead at 99 Hz ≤ 0.5% ({where})",
                                    f"{total * 100:.2f}% bottom-up ({sps:.0f} samples/CPU-s × "
                                    f"{per_sample_ns / 1000:.1f} µs = {handler * 100:.2f}%, + profiler threads "
                                    f"{other * 100:+.2f}%); direct A/B median {direct}",
                                    total <= 0.005, where.split(",")[0]))
        self.sections["overhead_estimate"] = est

    # ------------------------------------------------ report
    def machine(self):
        model = ""
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass

        def cmd_out(c):
            try:
                return subprocess.run(c, capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return "?"
        return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "gcc": cmd_out(["gcc", "-dumpfullversion"]), "rustc": cmd_out(["rustc", "--version"]),
                "gperftools": cmd_out(["dpkg-query", "-W", "-f=${Version}", "libgoogle-perftools4"]),
                "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def write_markdown(s, path, mach, load_end, elapsed, build_s):
    L = []
    w = L.append
    w("# inprof benchmarks\n")
    w(f"Written by `bench/run.sh{' --quick' if s.quick else ''}` on {mach['date']}. "
      "Every comparison runs its variants as separate processes interleaved "
      "(A B C, A B C, … with the order rotated each round) and reports the **median over rounds of "
      "the per-round ratio**, because this machine is shared and noisy. Ratios use CPU time "
      "(getrusage) unless they say wall; wall ratios are shown but are at the mercy of the other "
      "tenants of the machine.\n")
    if s.quick:
        w("> **Quick mode**: tiny runs, one round. These numbers only show that the suite works; "
          "they are not results.\n")
    w("## Machine\n")
    w("| | |\n|---|---|")
    w(f"| CPUs (`nproc`) | {mach['nproc']} |")
    w(f"| CPU model | {mach['cpu']} |")
    w(f"| kernel | {mach['kernel']} |")
    w(f"| date | {mach['date']} |")
    w(f"| load average at start / end | {mach['load']} / {load_end} |")
    w(f"| compilers | gcc {mach['gcc']} (C: Release, -O3), {mach['rustc']} (release) |")
    w(f"| peers | gperftools {mach['gperftools']} (Debian), pprof-rs and tikv-jemallocator (versions in bench/rust/Cargo.lock) |")
    w(f"| suite run time | {elapsed:.0f} s measuring" + (f", {build_s:.0f} s building" if build_s else "") + " |")
    w("")

    w("## Targets\n")
    w("| target | measured | met? | from |\n|---|---|---|---|")
    for t, m, ok, where in s.targets:
        w(f"| {t} | {m} | {'**met**' if ok else '**missed**'} | {where} |")
    w("")

    if "c_cpu" in s.sections:
        sec = s.sections["c_cpu"]
        w("## 1, 6, 7. C workload: overhead, capture, fairness; gperftools side by side\n")
        w(f"`bench_cpu`: T threads each do the same fixed work ({sec['total_cpu_ms']} ms of CPU in total, "
          "split evenly) in their own function `bench_work_<i>` about 26 frames deep; the profile says which "
          "thread a sample belongs to through that function (gperftools' profile has no thread labels). "
          "*captured* = cpu-time in the profile for the workers' functions ÷ the workers' own "
          "`getrusage(RUSAGE_THREAD)`; for gperftools a sample is worth one period (1/Hz). *fairness* = "
          "max/min over the equal threads of what each got (samples, or profile cpu-time) per CPU-second it "
          "used by its own `getrusage`; *threads' own CPU spread* is max/min of that CPU, i.e. how unequal the "
          "machine made equal work. inprof's profiles are read back with `pprof_summary` (the same "
          "schema as the library); gperftools' legacy profile is decoded in-process and symbolized with `dladdr`.\n")
        for threads, res in sec["results"].items():
            w(f"**{threads} threads on {mach['nproc']} cores**\n")
            w("| profiler | runs | CPU time ratio [IQR] | CPU of other threads | wall ratio | captured cpu-time | samples per CPU-second | fairness (samples) | fairness (cpu-time) | threads' own CPU spread |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for name, o in res.items():
                if o["mode"] == "off":
                    w(f"| off | {o['runs']} | 1 (median {o['cpu_s']:.2f} s) | | 1 | | | | | |")
                    continue
                w(f"| {name} | {o['runs']} | {pct_iqr(o['cpu_ratio'], o['cpu_iqr'])} | {pct(o['other_cpu'])} | "
                  f"{pct(o['wall_ratio'] - 1)} | {o['capture'] * 100:.1f}% | {o['samples_per_cpu_s']:.0f} | {o['fair_samples']:.3f} | "
                  f"{fmt(o.get('fair_cputime'), 3)} | {o['raw_spread']:.3f} |")
            w("")
        w("inprof's samples per CPU-second stay near the kernel tick (not 999) at 999 Hz because the "
          "kernel checks CPU-time timers at its tick and merges expirations (counted as overruns); each "
          "sample is weighted by the thread's CPU-clock delta, so cpu-time is still captured in full. "
          "gperftools weights every sample by one period, so merged or lost expirations are lost time. "
          "Without `CPUPROFILE_PER_THREAD_TIMERS` gperftools uses one process-wide `ITIMER_PROF`, whose "
          "signal goes to whichever thread is running: equal threads get unequal samples (fairness "
          "columns). *CPU of other threads* is the CPU of every thread but the workers (inprof's collector) "
          "over the same in the unprofiled run, per worker CPU; it is measured exactly and is not subject to "
          "the noise of the ratio column.\n")

    if "handler" in s.sections:
        sec = s.sections["handler"]
        w("## 2. Cost per CPU sample\n")
        w(f"`bench_handler`, {sec['samples']} samples per depth, median of {sec['reps']} runs. *handler path*: "
          "what inprof's handler does (ring reserve, two clock reads, the unwind from the signal's "
          "ucontext, record, commit), timed inside a real signal handler (excluding the kernel's delivery) "
          "by calling the library's internal functions. *signal round trip*: `tgkill(SIGPROF)` to the running thread with inprof started, "
          "delivery, handler, `sigreturn`, minus the same round trip to an empty handler (`SIGUSR1`).\n")
        w("| depth (frames above main) | frames recorded | handler path p50 | handler path p99 | signal round trip extra p50 | p99 | empty-handler round trip p50 |")
        w("|---|---|---|---|---|---|---|")
        for depth, o in sec["results"].items():
            w(f"| {depth} | {o['frames']:.0f} | {o['path_p50_ns'] / 1000:.2f} µs | {o['path_p99_ns'] / 1000:.2f} µs | "
              f"{o['signal_extra_p50'] / 1000:.2f} µs | {o['signal_extra_p99'] / 1000:.2f} µs | "
              f"{o['empty_p50_ns'] / 1000:.2f} µs |")
        w("")

    if "heap" in s.sections:
        sec = s.sections["heap"]
        fp = sec["fastpath"]
        w("## 3. Heap hooks\n")
        w(f"Fast path (`bench_heap --fastpath`): malloc(64) + free in a loop with and without "
          f"`inprof_record_alloc`/`inprof_record_free`, heap profiling running at 512 KiB, median of 15 "
          f"alternating pairs: **{fp['added_ns_per_pair']:.2f} ns added per pair** "
          f"({fp['with_ns_per_pair']:.2f} ns vs {fp['without_ns_per_pair']:.2f} ns per iteration; the rare "
          f"sampled allocation included, {fp['heap_samples']} samples).\n")
        w(f"Throughput (`bench_heap`, 2 threads × {sec['ops']} ops: replace a random block of a 256-block "
          "working set by a new one of 16 B–64 KiB, mostly small; "
          f"{sec['rounds']} interleaved rounds):\n")
        w("| variant | vs | CPU time ratio [IQR] | wall ratio | CPU ns per op | heap samples (expected) | CPU per sample over hooks alone |")
        w("|---|---|---|---|---|---|---|")
        for name, o in sec["throughput"].items():
            exp = f" ({o['expected_samples']:.0f})" if o["expected_samples"] else ""
            w(f"| {name} | {o['base']} | {pct_iqr(o['cpu_ratio'], o['cpu_iqr'])} | {pct(o['wall_ratio'] - 1)} | "
              f"{o['ns_per_op']:.1f} | {o['heap_samples']:.0f}{exp} | "
              f"{fmt(o['ns_per_sample'] / 1000 if o['ns_per_sample'] is not None else None, 1, ' µs')} |")
        w("")
        w("tcmalloc's sampling (`TCMALLOC_SAMPLE_PARAMETER`, the mechanism behind its heap profiles) is the "
          "comparable gperftools feature: a per-thread byte countdown like inprof's, inside the allocator. "
          "gperftools' `HEAPPROFILE` records every allocation, not a sample, so it is not compared.\n")
        if sec["heap_hooks"]:
            w("The heap developer's micro-benchmark (`bench/heap_hooks.c`, single thread, interleaved "
              "in-process), as printed:\n")
            for rate, o in sec["heap_hooks"].items():
                w(f"rate {rate}:\n\n```\n{o['text']}\n```\n")

    if "c_rss" in s.sections:
        sec = s.sections["c_rss"]
        w("## 4. Memory and profile size\n")
        w(f"C workload, 2 threads, 99 Hz, exporting every 250 ms, RSS at the end of the work (after "
          f"several exports): {sec['off_kib'] / 1024:.1f} MiB without, {sec['on_kib'] / 1024:.1f} MiB with: "
          f"**{sec['delta_kib'] / 1024:.2f} MiB** for the profiler (median of per-round differences), of which "
          f"{sec['delta_noexport_kib'] / 1024:.2f} MiB is there before the first export (same run with a one-hour "
          "period: the preallocated sample ring, 1024 slots of 128 frames, the aggregate and the thread table) "
          "and the rest comes with exporting (symbol tables of every loaded object, pprof encoder, gzip). "
          f"Profile size for a 250 ms period of that workload: {fmt(sec['file_bytes'], 0)} bytes (gzip).\n")
        w(f"With nothing to sample (inprof at 99 Hz, 2 threads asleep, no export during the run) the "
          f"profiler uses **{sec['idle_cpu_ms_per_s']:.1f} ms of CPU per second** over the same idle program "
          "without it: the collector wakes every 20 ms to drain the ring and rescan `/proc/self/task`, and "
          "each wakeup of a sleeping thread costs tens of µs of CPU in this VM. On a 2-core machine kept busy that is most of the *CPU of other threads* column in "
          "section 1.\n")
        if "rust" in s.sections:
            ex = s.sections["rust"]["export"]
            w(f"Rust jobs (`rustbench export`, 2 threads, CPU profiling plus heap at 512 KiB through "
              f"ProfiledAllocator, {s.sections['rust']['periods']} periods of {s.sections['rust']['period_ms']} ms):\n")
            w("| | RSS over unprofiled | profile size per period (gzip) |\n|---|---|---|")
            for name, o in ex.items():
                w(f"| {name} | {o['rss_delta_kib'] / 1024:.2f} MiB | {fmt(o['file_bytes'], 0)} bytes |")
            w("")

    if "rust" in s.sections:
        ex = s.sections["rust"]["export"]
        w("## 5. Export time\n")
        w("Time for `inprof_flush` (through the Rust crate) to return, in at-daemon's jobs: the collector "
          "drains, adds the heap, symbolizes, encodes pprof, gzips and writes the file. The first export "
          "also loads the symbol tables of every mapped object.\n")
        w("| | first export | later exports (median) |\n|---|---|---|")
        for name, o in ex.items():
            w(f"| {name} | {o['first_ms']:.1f} ms | {fmt(o['later_ms'], 1, ' ms')} |")
        w("")

    if "at_daemon" in s.sections:
        sec = s.sections["at_daemon"]
        w("## 1, 6. at-daemon\n")
        w(f"at-daemon (rust-test-host) built without profiling (*off*) and with `--features profiling` "
          f"(heap off: `INPROF_HEAP_SAMPLE_BYTES=0`), 2 workers, {sec['duration']} s runs, {sec['rounds']} rounds. "
          "The daemon runs for a fixed time, so overhead is CPU per unit of work: work = Σ jobs × that kind's "
          "cost per job in the same round's unprofiled run. *share error* = the largest absolute difference, "
          "in percentage points, between a job's share of cpu-time in the profile and its designed share "
          "(40/30/20/10), and in brackets against the share the daemon measured itself.\n")
        w("| | job CPU per work [IQR] | CPU of other threads | process CPU per work | wall per work | share error vs design (vs measured) | profile cpu-time ÷ job CPU | profile size |")
        w("|---|---|---|---|---|---|---|---|")
        for name, o in sec["results"].items():
            if name == "off":
                continue
            w(f"| {name} | {pct_iqr(o['job_cpu_ratio'], o['job_cpu_iqr'])} | {pct(o['other_cpu'])} | {pct(o['process_cpu_ratio'] - 1)} | "
              f"{pct(o['wall_per_work_ratio'] - 1)} | {o['share_err_pp']:.2f} pp ({o['share_err_self_pp']:.2f} pp) | "
              f"{o['capture_jobs'] * 100:.1f}% | {o['profile_bytes']:.0f} B per {sec['duration']} s |")
        w("")
        ex = sec["results"]["inprof 99 Hz"].get("example")
        if ex:
            w("Last 99 Hz run: " + ", ".join(f"`{k}` {p * 100:.1f}% (measured {m * 100:.1f}%, design {d * 100:.0f}%)"
                                              for k, (p, m, d) in ex.items()) + ".\n")

    if "rust" in s.sections:
        sec = s.sections["rust"]
        w("## 8. Rust side by side: pprof-rs and jemalloc\n")
        w(f"`rustbench` (bench/rust): 2 threads each run {sec['rounds_n']} rounds of at-daemon's jobs "
          f"(pattern PPPPHHHSSC, ~{sec['per_round_ms']:.1f} ms of CPU per round), {sec['nrounds']} interleaved "
          "rounds. pprof-rs: `ProfilerGuardBuilder::frequency(hz)` with its usual blocklist (libc, libgcc, "
          "pthread, vdso); its sample is worth 1/Hz. *samples vs expected* = samples ÷ (workers' CPU × Hz): "
          "below 1 means expirations merged by the kernel or samples lost (pprof-rs drops a sample when "
          "its lock is busy). pprof-rs's RSS includes its preallocated table of sample slots; it uses "
          "the process-wide `ITIMER_PROF`.\n")
        w("| profiler | CPU time ratio [IQR] | CPU of other threads | wall ratio | captured cpu-time | samples vs expected | RSS |")
        w("|---|---|---|---|---|---|---|")
        for name, o in sec["cpu"].items():
            if name == "off":
                w(f"| off | 1 | | 1 | | | {o['rss_kib'] / 1024:.1f} MiB |")
                continue
            w(f"| {name} | {pct_iqr(o['cpu_ratio'], o['cpu_iqr'])} | {pct(o['other_cpu'])} | {pct(o['wall_ratio'] - 1)} | {o['capture'] * 100:.1f}% | "
              f"{o['samples_vs_expected']:.3f} | {o['rss_kib'] / 1024:.1f} MiB |")
        w("")
        w("Heap, same jobs, same mean sampling rate (512 KiB = jemalloc `lg_prof_sample:19`):\n")
        w("| allocator | vs | CPU time ratio | wall ratio | RSS | notes |\n|---|---|---|---|---|---|")
        for name, o in sec["heap"].items():
            note = ""
            if o.get("jemalloc_prof") is not None:
                note = f"jemalloc reports opt.prof={o['jemalloc_prof']}, lg_prof_sample={o['jemalloc_lg']}"
            if o.get("heap_samples"):
                note = f"{o['heap_samples']:.0f} heap samples"
            w(f"| {name} | {o['base']} | {pct_iqr(o['cpu_ratio'], o['cpu_iqr'])} | {pct(o['wall_ratio'] - 1)} | "
              f"{o['rss_kib'] / 1024:.1f} MiB | {note} |")
        w("")

    w("## Notes on missed targets\n")
    missed = [t for t in s.targets if not t[2]]
    if not missed:
        w("None missed in this run.\n")
    else:
        for t, m, _, where in missed:
            w(f"- **{t}**: measured {m} ({where}). " + NOTES.get(note_key(t), "See the section above."))
        w("")
    w("## Reproduce\n")
    w("```sh\nbench/run.sh            # full suite: ~5 minutes of measuring on 2 cores (the first run also builds\n                        # the Rust peers, a few minutes more); writes BENCHMARKS.md\n"
      "bench/run.sh --quick    # seconds; CI runs it so that the suite cannot rot\n```\n")
    w("Per-run raw results go to `build-bench/results.json` (not committed).\n")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def note_key(t):
    for k in NOTES:
        if k in t:
            return k
    return ""


# Why a target can be missed and what would close it; filled in from what
# the full runs showed (see BENCHMARKS.md).
NOTES = {
    "CPU overhead at 99 Hz": "Two parts, both measured: the handler (samples per CPU-second × the cost per sample of section 2) and the profiler's own threads (section 4: the collector wakes every 20 ms to drain the ring and rescan /proc/self/task, and in this VM each wakeup costs tens of µs). A longer scan interval while the thread set is stable, or draining on a ring high-water mark, would lower the second. The direct A/B ratio is shown too, but its interquartile range on this shared machine (a few percent) is wider than the target.",
    "cost per sample": "The fast walk (libunwind's per-thread trace cache) costs tens of ns per frame once warm; a sample that misses the cache falls back to libunwind's cursor walk, which blocks signals around every frame's unwind-info lookup (two system calls per frame). Deeper stacks or many distinct PCs make that fallback more frequent.",
    "heap fast path": "The hooks are out-of-line calls into the library; an inline countdown in the caller's allocator wrapper (a header-only fast path) would remove the call cost.",
    "throughput loss": "The fast path costs ≈2 ns per pair (row above), which is already several percent of a 45–70 ns malloc+free (the *hooks, profiler not started* row): the hooks are two out-of-line calls, and the free check loads one bit of an 8 KiB filter that this workload's memory traffic keeps evicting from L1 (`perf annotate`: that load is most of `inprof_record_free`'s time). Sampling adds the rest: this workload allocates ~1.2 KiB per operation (2% of blocks are 4–64 KiB), ~4 GB/s on 2 threads, so at 512 KiB it samples every ~420 operations, and a sampled allocation costs a few µs with cold caches (the table's last column: stack walk, stack-table and live-table inserts, two threads sharing the stack table's lock). On at-daemon's jobs (section 8) the heap profilers' costs, inprof's and jemalloc's alike, are within this machine's noise. Closing the gap on an allocator-bound microbenchmark needs an inlined countdown in the caller's allocator wrapper and a sampled path without the shared lock; on real programs, where allocation is a fraction of the work, the same per-allocation cost is a far smaller share.",
    "captured cpu-time": "The CPU a thread uses after its last sample is not in the profile until its next sample; at stop (or thread exit) that tail is lost. Charging the tail at stop and at thread exit would close it.",
    "equal threads": "Threads that get few samples in a short run differ by ±1 sample; longer runs or a higher rate close it.",
    "RSS": "Section 4 splits it: part is there before the first export (the preallocated sample ring, 1024 slots × 128 frames ≈ 1.1 MiB touched as it cycles, the aggregate, the thread table); exporting adds the symbol tables of the objects that appear in samples and the encoder's buffers, and the Rust run also has heap profiling's tables. Variable-length ring records and releasing the encoder's buffers between periods would lower it.",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build", required=True)
    ap.add_argument("--c-bin", required=True)
    ap.add_argument("--rustbench")
    ap.add_argument("--at-daemon-off")
    ap.add_argument("--at-daemon-prof")
    ap.add_argument("--out", required=True)
    ap.add_argument("--build-seconds", type=float, default=0)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    s = Suite(a)
    mach = s.machine()
    t0 = time.time()
    steps = [("c_cpu", s.c_cpu), ("handler", s.handler), ("heap", s.heap), ("c_rss", s.c_rss)]
    if a.at_daemon_off and a.at_daemon_prof:
        steps.append(("at_daemon", s.at_daemon))
    if a.rustbench:
        steps.append(("rust", s.rust))
    only = set(x for x in a.only.split(",") if x)
    for name, fn in steps:
        if only and name not in only:
            continue
        t = time.time()
        log(f"{name} ...")
        fn()
        s.timings[name] = time.time() - t
        log(f"{name} done in {s.timings[name]:.0f} s")
    s.finish()
    elapsed = time.time() - t0
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with open(os.path.join(a.build, "results.json"), "w") as f:
        json.dump({"machine": mach, "sections": s.sections, "targets": s.targets, "timings": s.timings,
                   "raw": s.raw},
                  f, indent=1, default=str)
    write_markdown(s, a.out, mach, load_end, elapsed, a.build_seconds)
    log(f"wrote {a.out} ({elapsed:.0f} s)")
    for t, m, ok, _ in s.targets:
        log(f"  {'met   ' if ok else 'MISSED'} {t}: {m}")


if __name__ == "__main__":
    try:
        main()
    except SuiteError as e:
        print(f"bench: the suite broke: {e}", file=sys.stderr)
        sys.exit(1)
