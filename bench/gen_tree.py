#!/usr/bin/env python3
"""Generate a deterministic Lambda layer tree: python/ (site-packages) and nodejs/node_modules/.

Same arguments -> byte-identical files. Everything comes from one random.Random(seed): no
clock, no OS randomness, no set/dict iteration whose order could vary.

About 60% of the bytes are source-like text (.py/.js/.json... built from an identifier
vocabulary, compressing ~3-5x like real code) in many small and some medium files; about
40% are random bytes (.so/.whl-like, incompressible) in a few larger files.

`--small` makes a small-file tree instead, the shape of a node_modules or a pure-Python
dependency set: 95% of the bytes in text files of about 1 KB (lognormal, 40 B to 64 KB) and
one binary file in 1,000, of 2 KB to 200 KB.
"""
import argparse
import math
import os
import random
import shutil

TEXT_SHARE = 0.60

WORDS = (
    "account action adapter address agent alias allow array async attr auth backend base batch "
    "bind block body bucket buffer build bytes cache call callback channel check child client "
    "close codec column commit config connect context convert count create cursor data decode "
    "default delete depth detail dict digest dispatch document driver dump encode engine entry "
    "error event expire export field filter finish flag flush format frame handler hash header "
    "index input item iter join json key layer limit line list load lock logger lookup manager "
    "mapping message meta method model module name node number object offset option output "
    "parse path payload pending plugin policy pool prefix process query queue range reader "
    "record region registry remove render request resolve resource response result retry route "
    "schema scope select session setting shape signal size source split state status stream "
    "string table target task token total trace transform type update upload value version "
    "view wait window worker writer"
).split()
PY_KW = "if elif for while return yield with try except raise assert del pass".split()


def ident(rng, parts=(1, 3)):
    return "_".join(rng.choice(WORDS) for _ in range(rng.randint(*parts)))


def camel(rng):
    return "".join(w.capitalize() for w in ident(rng).split("_"))


def py_line(rng):
    ind = "    " * rng.randint(0, 3)
    kind = rng.randrange(8)
    if kind == 0:
        return f"{ind}def {ident(rng)}(self, {ident(rng)}, {ident(rng)}=None):"
    if kind == 1:
        return f"{ind}{ident(rng)} = self.{ident(rng)}.{ident(rng)}({ident(rng)}, {rng.randint(0, 999)})"
    if kind == 2:
        return f"{ind}{rng.choice(PY_KW)} {ident(rng)} is not None and {ident(rng)}:"
    if kind == 3:
        return f'{ind}raise {camel(rng)}Error("{ident(rng)} {rng.choice(WORDS)} {rng.choice(WORDS)}")'
    if kind == 4:
        return f"{ind}# {' '.join(rng.choice(WORDS) for _ in range(rng.randint(4, 10)))}"
    if kind == 5:
        return f"{ind}return {ident(rng)}[{ident(rng)!r}]"
    if kind == 6:
        return f"from .{ident(rng)} import {camel(rng)}, {ident(rng)}"
    return ""


def js_line(rng):
    ind = "  " * rng.randint(0, 3)
    kind = rng.randrange(7)
    if kind == 0:
        return f"{ind}function {camel(rng)}({ident(rng)}, {ident(rng)}) {{"
    if kind == 1:
        return f"{ind}const {camel(rng)} = require('./{ident(rng)}');"
    if kind == 2:
        return f"{ind}if (!{ident(rng)}.{camel(rng)}) return {ident(rng)}({rng.randint(0, 99)});"
    if kind == 3:
        return f"{ind}this.{camel(rng)} = {ident(rng)} || {{}};"
    if kind == 4:
        return f"{ind}// {' '.join(rng.choice(WORDS) for _ in range(rng.randint(4, 10)))}"
    if kind == 5:
        return f"{ind}}});" if rng.random() < 0.3 else f"{ind}}}"
    return f"{ind}module.exports.{camel(rng)} = {camel(rng)};"


def json_line(rng):
    ind = "  " * rng.randint(1, 3)
    value = rng.choice(
        [f'"{ident(rng)}"', str(rng.randint(0, 100000)), "true", "null", f'"^{rng.randint(0, 9)}.{rng.randint(0, 30)}.0"']
    )
    return f'{ind}"{ident(rng)}": {value},'


# extension -> (line maker, weight among text files)
TEXT_KINDS = [(".py", py_line, 45), (".js", js_line, 25), (".json", json_line, 10),
              (".pyi", py_line, 8), (".ts", js_line, 7), (".map", json_line, 5)]
BIN_EXTS = [".so", ".so", ".so", ".whl", ".node", ".bin"]


def scaled_sizes(rng, count, median, sigma, total, lo, hi):
    """`count` lognormal sizes, clipped to [lo, hi], scaled to sum to about `total`."""
    raw = [min(max(rng.lognormvariate(math.log(median), sigma), lo), hi) for _ in range(count)]
    k = total / sum(raw)
    return [max(1, int(s * k)) for s in raw]


def make_dirs(rng, packages):
    """Nested package folders; returns a list of relative dirs (repeats act as weights)."""
    dirs, names = [], set()
    for _ in range(packages):
        name = ident(rng, (1, 2))
        while name in names:
            name += "_" + rng.choice(WORDS)
        names.add(name)
        # Lambda's layer layout: Python packages under python/, Node ones under nodejs/node_modules/.
        top = f"python/{name}" if rng.random() < 0.7 else f"nodejs/node_modules/{name.replace('_', '-')}"
        level = [top]
        dirs.append(top)
        for _depth in range(rng.randint(0, 3)):
            level = [f"{d}/{ident(rng, (1, 1))}" for d in level for _ in range(rng.randint(1, 3))]
            dirs.extend(level)
        if top.startswith("python/"):
            dirs.append(f"python/{name}-{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}.dist-info")
    return dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--files", type=int, default=7000)
    ap.add_argument("--mb", type=float, default=150, help="total size in MB (10^6 bytes)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="small files only (see above)")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    total = int(a.mb * 1_000_000)
    # (text share, binary files, text median/sigma/min/max, binary median/sigma/min/max)
    if a.small:
        share, n_bin = 0.95, max(1, a.files // 1000)
        text_shape, bin_shape = (1000, 1.0, 40, 64_000), (20_000, 1.0, 2_000, 200_000)
    else:
        share, n_bin = TEXT_SHARE, max(4, a.files // 200)
        text_shape, bin_shape = (4000, 1.3, 64, 2_000_000), (500_000, 1.5, 20_000, 30_000_000)
    n_text = a.files - n_bin

    # Pools of pre-made lines keep generation fast; files draw lines from them.
    pools = {ext: [make(rng) for _ in range(6000)] for ext, make, _ in TEXT_KINDS}
    dirs = make_dirs(rng, packages=max(1, a.files // 60))
    exts = [k[0] for k in TEXT_KINDS]
    weights = [k[2] for k in TEXT_KINDS]

    files = []  # (relpath, kind, size)
    median, sigma, lo, hi = text_shape
    text_sizes = scaled_sizes(rng, n_text, median, sigma, total * share, lo, hi)
    for size in text_sizes:
        files.append((rng.choice(dirs), rng.choices(exts, weights)[0], size))
    median, sigma, lo, hi = bin_shape
    for size in scaled_sizes(rng, n_bin, median, sigma, total * (1 - share), lo, hi):
        files.append((rng.choice(dirs), rng.choice(BIN_EXTS), size))

    if os.path.exists(a.outdir):
        shutil.rmtree(a.outdir)
    used = set()
    for d, ext, size in files:
        stem = "__init__" if ext == ".py" and f"{d}/__init__.py" not in used else ident(rng, (1, 2))
        rel = f"{d}/{stem}{ext}"
        n = 1
        while rel in used:
            rel, n = f"{d}/{stem}_{n}{ext}", n + 1
        used.add(rel)
        path = os.path.join(a.outdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if ext in pools:
            pool, out, got = pools[ext], [], 0
            while got < size:
                chunk = rng.choices(pool, k=64)
                out.extend(chunk)
                got += sum(map(len, chunk)) + len(chunk)
            data = ("\n".join(out) + "\n").encode()[:size]
        else:
            data = rng.randbytes(size)
        with open(path, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
