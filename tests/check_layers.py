#!/usr/bin/python3
"""The layering of src/, checked from its #include "..." lines.

A module is a file name without .c/.h (conn.c and conn.h are module conn);
session_int.h is part of module session, store_int.h of module store. The test fails when
  - the modules' includes form a cycle (the arrows must point one way:
    network -> protocol -> server -> session domain -> store/backup, with
    conn/frame/envelope below the domain; see README "Development"),
  - a file in src/ is longer than MAX_LINES lines,
  - any file but net.c includes libwebsockets.h.

Run:  /usr/bin/python3 tests/check_layers.py [SRC_DIR]
(SRC_DIR defaults to the src/ next to this tests/ directory.)
"""

import os
import re
import sys

MAX_LINES = 900
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
# Files that belong to another module than their name says.
MODULE_OF = {"session_int": "session", "store_int": "store"}


def module(name):
    base = os.path.splitext(name)[0]
    return MODULE_OF.get(base, base)


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def read_sources(src):
    files = {}
    for name in sorted(os.listdir(src)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(src, name), encoding="utf-8") as f:
                files[name] = f.read()
    return files


def module_graph(files):
    """module -> {module it includes: [(file, header), ...]}"""
    graph = {}
    for name, text in files.items():
        m = module(name)
        graph.setdefault(m, {})
        for kind, header in INCLUDE_RE.findall(strip_comments(text)):
            if kind != '"' or header not in files:
                continue            # system headers, generated version.h
            dep = module(header)
            if dep != m:
                graph[m].setdefault(dep, []).append((name, header))
    return graph


def find_cycles(graph):
    """Every elementary cycle is reported through its strongly connected
    component (Tarjan); one example path per component."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def cycle_path(graph, comp):
    """One cycle inside a strongly connected component, as a list."""
    members = set(comp)
    start = comp[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(d for d in graph[path[-1]] if d in members)
        back = [d for d in nxt if d == start]
        if back and len(path) > 1:
            return path + [start]
        step = next((d for d in nxt if d not in seen), None)
        if step is None:
            # every neighbour seen: close the loop where it repeats
            d = nxt[0]
            return path[path.index(d):] + [d]
        path.append(step)
        seen.add(step)


def check(src):
    files = read_sources(src)
    errors = []
    if not files:
        return [f"no .c or .h files in {src}"]
    for name, text in files.items():
        lines = text.count("\n")
        if lines > MAX_LINES:
            errors.append(f"{name}: {lines} lines, more than {MAX_LINES}")
        for kind, header in INCLUDE_RE.findall(strip_comments(text)):
            if os.path.basename(header) == "libwebsockets.h" and name != "net.c":
                errors.append(f"{name}: includes libwebsockets.h (only net.c may)")
    graph = module_graph(files)
    for comp in find_cycles(graph):
        path = cycle_path(graph, comp)
        steps = []
        for a, b in zip(path, path[1:]):
            f, h = graph[a][b][0]
            steps.append(f"{a} -> {b} ({f} includes {h})")
        errors.append("include cycle between modules " + ", ".join(comp) + ":\n    "
                      + "\n    ".join(steps))
    return errors


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    errors = check(src)
    for e in errors:
        print(f"check_layers: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_layers: {len(read_sources(src))} files in {os.path.normpath(src)}: "
          f"no include cycle, none over {MAX_LINES} lines, libwebsockets only in net.c")
    return 0


if __name__ == "__main__":
    sys.exit(main())
