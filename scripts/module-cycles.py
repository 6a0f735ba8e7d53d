#!/usr/bin/env python3
"""Fails when the top-level modules of a crate depend on each other in a cycle.

For every crate of the workspace (a directory with Cargo.toml and src/), each top-level
module of src/ (a file `m.rs` or a directory `m/`) depends on the modules its non-test code
names as `crate::other`. Comment lines and `tests.rs` files are not read, nor anything after a
line starting `#[cfg(test)]`. A strongly connected component of two or more modules is a
cycle: printed, and the exit code is 1. A module and its own submodules (`super::`) are one
node, so a parent and its child may refer to each other.

    python3 scripts/module-cycles.py     # from the workspace root
"""
import os
import re
import sys


def code(path):
    text = open(path, encoding="utf-8").read().split("\n#[cfg(test)]")[0]
    return "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("//"))


def graph(crate):
    src = os.path.join(crate, "src")
    g = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            p = os.path.join(root, f)
            parts = os.path.relpath(p, src)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if not parts or parts[0] == "bin":
                continue
            node = g.setdefault(parts[0], set())
            for m in re.finditer(r"crate::([a-z_0-9]+)", code(p)):
                if m.group(1) != parts[0]:
                    node.add(m.group(1))
    return g


def cycles(g):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main():
    found = False
    crates = sorted(
        d for d in os.listdir(".")
        if os.path.isfile(os.path.join(d, "Cargo.toml")) and os.path.isdir(os.path.join(d, "src"))
    )
    for crate in crates:
        for comp in cycles(graph(crate)):
            found = True
            print(f"{crate}: the modules {', '.join(comp)} depend on each other in a cycle")
    if found:
        return 1
    print(f"no module cycles in {len(crates)} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
