#!/usr/bin/env python3
"""Compares two C headers as ABIs: the hand-written include/inprof.h and the
header cbindgen generates from the Rust declarations (rust-test-host/inprof-sys/src/lib.rs).

Both are reduced to the same normal form: macro constants with their values,
typedefs, structs with their fields in order, and function prototypes with
parameter types and names. Comments, blank lines, include guards, `extern`,
the INPROF_EXPORT visibility macro, C++ guards and spelling differences such as
`struct inprof_config *` versus `inprof_config *` do not count.

Usage: abi_compare.py C_HEADER GENERATED_HEADER    (exit 0 when they agree)
"""
import re
import sys

# Macros that are plumbing, not ABI.
IGNORED_DEFINES = {"INPROF_H", "INPROF_EXPORT"}
IGNORED_TOKENS = {"extern", "INPROF_EXPORT", "struct"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def normalize_value(v):
    v = v.strip()
    # (type)123, (123), 123u / 123UL all denote the same constant.
    v = re.sub(r"^\(\s*\w+\s*\)\s*", "", v)
    while v.startswith("(") and v.endswith(")"):
        v = v[1:-1].strip()
    m = re.fullmatch(r"(-?(?:0x[0-9a-fA-F]+|\d+))[uUlL]*", v)
    if m:
        return str(int(m.group(1), 0))
    return re.sub(r"\s+", " ", v)


def norm_decl(decl):
    """'const char *name' -> ('const char *', 'name'); spacing made canonical."""
    decl = re.sub(r"\*", " * ", decl)
    toks = [t for t in decl.split() if t not in IGNORED_TOKENS]
    if not toks:
        return ("", "")
    if toks == ["void"]:
        return ("void", "")
    name = toks[-1]
    typ = " ".join(toks[:-1]).replace(" *", "*").replace("* ", "*")
    return (typ, name)


def parse(path):
    text = strip_comments(open(path, encoding="utf-8").read())
    # C++ guards carry `extern "C" {` and its closing brace.
    text = re.sub(r"#\s*ifdef\s+__cplusplus.*?#\s*endif", " ", text, flags=re.S)
    defines, typedefs, structs, functions = {}, {}, {}, {}
    body = []
    for line in text.splitlines():
        m = re.match(r"\s*#\s*define\s+(\w+)(?:\s+(.*\S))?\s*$", line)
        if m:
            name, value = m.group(1), m.group(2)
            if name not in IGNORED_DEFINES and value is not None:
                if name in defines:
                    raise SystemExit(f"{path}: {name} defined twice")
                defines[name] = normalize_value(value)
            continue
        if re.match(r"\s*#", line):
            continue  # includes, conditionals: not ABI
        body.append(line)
    text = " ".join(body)
    # Split into top-level statements, keeping struct bodies whole.
    stmts, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == ";" and depth == 0:
            stmts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    rest = "".join(cur).strip()
    if rest:
        raise SystemExit(f"{path}: unparsed trailing text: {rest[:80]!r}")
    for s in stmts:
        s = re.sub(r"\s+", " ", s)
        m = re.fullmatch(r"typedef struct (\w+) \{(.*)\} (\w+)", s)
        if m:
            tag, inner, alias = m.groups()
            if tag != alias:
                raise SystemExit(f"{path}: struct tag {tag} != typedef {alias}")
            fields = []
            for f in inner.split(";"):
                f = f.strip()
                if not f:
                    continue
                # 'uint32_t a, b' declares two fields of one type.
                first, *more = [x.strip() for x in f.split(",")]
                typ, name = norm_decl(first)
                fields.append((typ, name))
                base = typ.rstrip("*")
                for extra in more:
                    t2, n2 = norm_decl(base + " " + extra)
                    fields.append((t2, n2))
            structs[alias] = fields
            continue
        m = re.fullmatch(r"typedef (.+)", s)
        if m and "(" not in s:
            typ, name = norm_decl(m.group(1))
            typedefs[name] = typ
            continue
        m = re.fullmatch(r"(.+?)\((.*)\)", s)
        if m:
            ret, name = norm_decl(m.group(1))
            params = [] if m.group(2).strip() in ("", "void") else [
                norm_decl(p) for p in m.group(2).split(",")]
            if name in functions:
                raise SystemExit(f"{path}: {name} declared twice")
            functions[name] = (ret, params)
            continue
        raise SystemExit(f"{path}: statement not understood: {s[:100]!r}")
    return {"constants": defines, "typedefs": typedefs, "structs": structs,
            "functions": functions}


def fmt_fn(name, sig):
    ret, params = sig
    ps = ", ".join(f"{t} {n}" for t, n in params) or "void"
    return f"{ret} {name}({ps})"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    a_path, b_path = sys.argv[1], sys.argv[2]
    a, b = parse(a_path), parse(b_path)
    problems = []
    for kind in ("constants", "typedefs", "structs", "functions"):
        da, db = a[kind], b[kind]
        for name in sorted(set(da) | set(db)):
            if name not in db:
                problems.append(f"{kind}: {name} only in {a_path}")
            elif name not in da:
                problems.append(f"{kind}: {name} only in {b_path}")
            elif da[name] != db[name]:
                if kind == "functions":
                    problems.append(f"functions: {fmt_fn(name, da[name])}  vs  "
                                    f"{fmt_fn(name, db[name])}")
                elif kind == "structs":
                    fa, fb = da[name], db[name]
                    for i in range(max(len(fa), len(fb))):
                        x = fa[i] if i < len(fa) else None
                        y = fb[i] if i < len(fb) else None
                        if x != y:
                            problems.append(f"structs: {name} field #{i}: {x} vs {y}")
                            break
                else:
                    problems.append(f"{kind}: {name}: {da[name]!r} vs {db[name]!r}")
    counts = ", ".join(f"{len(a[k])} {k}" for k in a)
    if problems:
        print(f"ABI MISMATCH between {a_path} and {b_path}:")
        for p in problems:
            print("  " + p)
        return 1
    if not a["functions"] or not a["structs"] or not a["constants"]:
        print(f"ABI check parsed nothing useful ({counts}): refusing to pass")
        return 1
    print(f"ABI OK: {counts} agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
