#!/usr/bin/env python3
"""The library's source files form layers: no include or call cycle.

Usage: check_layers.py C_SRC_DIR OBJECT...

Builds a graph whose nodes are the library's modules (foo.c and foo.h under
c-src/ are one node, named by their path without extension) and whose edges
are
  - includes: a file's `#include "dir/x.h"` lines that name a file of c-src/;
  - calls and data references: an object's undefined inprof__ symbols
    (nm -u), resolved to the object that defines them (nm --defined-only).
Fails, printing the cycle, if the graph has one. Also fails when a file of
c-src/base/ depends on anything outside base/ (the base layer calls nothing
above it), when a library file includes the old all-in-one internal.h, and
when an object other than api.c's registers fork handlers (there is one
pthread_atfork registration, whose order is the lock order across fork).
"""
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of_source(path, root):
    rel = os.path.relpath(path, root)
    return os.path.splitext(rel)[0]


def module_of_object(obj):
    # CMake names objects <target>.dir/<path of the source>.o
    m = re.search(r"/c-src/(.+)\.c\.o(bj)?$", obj)
    if m:
        return m.group(1)
    return "<" + os.path.basename(obj) + ">"  # generated code (protobuf)


def nm(args, obj):
    out = subprocess.run(["nm"] + args + [obj], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def find_cycle(graph):
    """Returns one cycle as a list of nodes, or None (iterative DFS)."""
    color = {n: 0 for n in graph}  # 0 new, 1 on stack, 2 done
    for start in sorted(graph):
        if color[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        color[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                path.pop()
                continue
            if color.get(nxt, 0) == 1:
                return path[path.index(nxt):] + [nxt]
            if color.get(nxt, 0) == 0:
                color[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
    return None


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    root = os.path.abspath(sys.argv[1])
    # CMake may pass $<TARGET_OBJECTS> as one ;-separated argument.
    objs = [o for a in sys.argv[2:] for o in a.split(";") if o]
    graph = {}
    why = {}
    problems = []

    def edge(a, b, reason):
        if a == b:
            return
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
        why.setdefault((a, b), reason)

    # Include edges. c-src/zerocode/ is a separate target, not the library.
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(dirpath, d) != os.path.join(root, "zerocode")]
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            src = module_of_source(path, root)
            graph.setdefault(src, set())
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                if inc == "internal.h":
                    problems.append(f"{src}: includes internal.h")
                target = os.path.join(root, inc)
                if os.path.isfile(target):
                    edge(src, module_of_source(target, root), f'#include "{inc}"')

    # Symbol edges.
    defined_by = {}
    undefined = {}
    for obj in objs:
        mod = module_of_object(obj)
        for line in nm(["--defined-only"], obj):
            parts = line.split()
            if len(parts) == 3 and parts[2].startswith("inprof__"):
                defined_by[parts[2]] = mod
        und = [l.split()[-1] for l in nm(["-u"], obj)]
        undefined[mod] = [u for u in und if u.startswith("inprof__")]
        if mod != "api" and any(u in ("pthread_atfork", "__register_atfork") for u in und):
            problems.append(f"{mod}: registers fork handlers; only api.c may (one fork path)")
    for mod, syms in undefined.items():
        for s in syms:
            if s in defined_by:
                edge(mod, defined_by[s], f"uses {s}")

    for (a, b), reason in sorted(why.items()):
        if a.startswith("base/") and not b.startswith("base/"):
            problems.append(f"{a} -> {b} ({reason}): base/ must not depend on upper layers")

    cycle = find_cycle(graph)
    if cycle:
        problems.append("cycle between library files:\n" + "\n".join(
            f"  {a} -> {b}   ({why[(a, b)]})" for a, b in zip(cycle, cycle[1:])))
    if problems:
        for p in problems:
            print("check_layers:", p)
        return 1
    print(f"check_layers: ok ({len(graph)} modules, "
          f"{sum(len(v) for v in graph.values())} dependencies, no cycle)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
