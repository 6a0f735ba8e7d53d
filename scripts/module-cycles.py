#!/usr/bin/env python3
"""Fails when the top-level modules of a crate depend on each other in a cycle.

For every crate of the workspace (a directory with Cargo.toml and src/), each top-level
module of src/ (a file `m.rs` or a directory `m/`) depends on the modules its non-test code
names as `crate::other` (or in a grouped `use crate::{other, …}`). Comment lines and `tests.rs` files are not read, nor anything after a
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


def names(text):
    """The first segment of every `crate::` path in `text`, grouped imports included
    (`use crate::{a::X, b}` names `a` and `b`); names that are not modules are harmless, as
    they have no node of their own."""
    found = re.findall(r"crate::([a-z_0-9]+)", text)
    for m in re.finditer(r"crate::\{", text):
        depth, i = 1, m.end()
        start = i
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            # Only the group's own items: a comma at depth 1 starts the next one.
            if depth == 1 and text[i] == ",":
                found += re.findall(r"^\s*([a-z_0-9]+)", text[start:i])
                start = i + 1
            i += 1
        found += re.findall(r"^\s*([a-z_0-9]+)", text[start:i - 1])
    return found


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
            node.update(n for n in names(code(p)) if n != parts[0])
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
