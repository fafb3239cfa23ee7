#!/usr/bin/python3
"""The layering of src/, checked from its #include "..." lines: what the
compiler cannot see.

The build already refuses an #include that points up a layer (each layer's
library is compiled with only its own and the lower layers' include
directories; src/README.md). This adds what the compiler does not check:
  - no include cycle between the modules inside a layer (a module is a file
    name without .c/.h: conn.c and conn.h are module conn; session_int.h is
    part of module session, store_int.h of module store),
  - no #include "dir/file.h" (a path would step around the include
    directories),
  - every file in one of the known folders, and each layer including only
    its own and lower layers (the same rule the build enforces, here with a
    sentence that names the files),
  - no file in src/ longer than MAX_LINES lines,
  - libwebsockets.h only in net/net.c.

With --python PACKAGE_DIR it checks a Python package instead (the Blender
add-on): no cycle between its modules' relative imports ("from . import x",
"from .x import y", at any indentation), no module over MAX_LINES lines.

Run:  /usr/bin/python3 tests/check_layers.py [SRC_DIR]
      /usr/bin/python3 tests/check_layers.py --python clients/blender/sessiond_blender
(SRC_DIR defaults to the src/ next to this tests/ directory.)
"""

import os
import re
import sys

MAX_LINES = 900
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
# Files that belong to another module than their name says.
MODULE_OF = {"session_int": "session", "store_int": "store"}
# Each layer (a folder of src/; "." is main.c) and the layers it may include.
LAYERS = {
    "base": {"base"},
    "store": {"store", "base"},
    "session": {"session", "store", "base"},
    "net": {"net", "session", "store", "base"},
    "ctl": {"ctl", "store", "base"},
    ".": {"net", "session", "store", "base"},
}
LWS_FILE = "net/net.c"


def module(name):
    base = os.path.splitext(name)[0]
    return MODULE_OF.get(base, base)


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def read_sources(src):
    """{relative path: text} of every .c and .h under src."""
    files = {}
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            if name.endswith((".c", ".h")):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    files[os.path.relpath(path, src)] = f.read()
    return files


def layer(path):
    return os.path.dirname(path) or "."


def header_paths(files):
    """header file name -> its relative path (names are unique in src/)."""
    return {os.path.basename(p): p for p in files if p.endswith(".h")}


def module_graph(files):
    """module -> {module it includes: [(file, header), ...]}"""
    graph = {}
    headers = header_paths(files)
    for path, text in files.items():
        name = os.path.basename(path)
        m = module(name)
        graph.setdefault(m, {})
        for kind, header in INCLUDE_RE.findall(strip_comments(text)):
            if kind != '"' or header not in headers:
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
    headers = header_paths(files)
    for name, text in files.items():
        lines = text.count("\n")
        if lines > MAX_LINES:
            errors.append(f"{name}: {lines} lines, more than {MAX_LINES}")
        own = layer(name)
        if own not in LAYERS:
            errors.append(f"{name}: in no known layer (folders: {', '.join(sorted(LAYERS))})")
            continue
        for kind, header in INCLUDE_RE.findall(strip_comments(text)):
            if os.path.basename(header) == "libwebsockets.h" and name != LWS_FILE:
                errors.append(f"{name}: includes libwebsockets.h (only {LWS_FILE} may)")
            if kind != '"':
                continue
            if "/" in header:
                errors.append(f"{name}: includes \"{header}\" by path (name the header alone)")
                continue
            if header in headers and layer(headers[header]) not in LAYERS[own]:
                errors.append(f"{name}: includes {headers[header]}, a layer above {own}/ "
                              f"(it may include {', '.join(sorted(LAYERS[own]))})")
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


PY_IMPORT_RE = re.compile(r"^\s*from\s+\.([\w.]*)\s+import\s+([\w ,()]+)", re.M)


def python_graph(pkg):
    """{module: {module it imports: [(file, what)]}} of a package's relative
    imports; a subpackage counts as one module (its folder name)."""
    mods = {}
    for root, dirs, names in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, pkg)
                top = rel.split(os.sep)[0]
                mod = os.path.splitext(top)[0]
                with open(path, encoding="utf-8") as f:
                    mods.setdefault(mod, []).append((rel, f.read()))
    graph = {m: {} for m in mods}
    for mod, files in mods.items():
        for rel, text in files:
            in_sub = os.sep in rel
            for source, names in PY_IMPORT_RE.findall(text):
                if in_sub:
                    continue       # a subpackage's own relative imports stay inside it
                targets = [source.split(".")[0]] if source else \
                    [n.strip().split(" as ")[0].strip("() ") for n in names.split(",")]
                for t in targets:
                    if t in mods and t != mod:
                        graph[mod].setdefault(t, []).append((rel, t))
    return mods, graph


def check_python(pkg):
    mods, graph = python_graph(pkg)
    errors = []
    if not mods:
        return [f"no .py files in {pkg}"]
    for files in mods.values():
        for rel, text in files:
            lines = text.count("\n")
            if lines > MAX_LINES:
                errors.append(f"{rel}: {lines} lines, more than {MAX_LINES}")
    for comp in find_cycles(graph):
        path = cycle_path(graph, comp)
        steps = [f"{a} -> {b} ({graph[a][b][0][0]} imports {b})" for a, b in zip(path, path[1:])]
        errors.append("import cycle between modules " + ", ".join(comp) + ":\n    "
                      + "\n    ".join(steps))
    return errors


def main_python(pkg):
    errors = check_python(pkg)
    for e in errors:
        print(f"check_layers: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_layers: {os.path.normpath(pkg)}: no import cycle, none over {MAX_LINES} lines")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--python":
        return main_python(sys.argv[2])
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    errors = check(src)
    for e in errors:
        print(f"check_layers: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_layers: {len(read_sources(src))} files in {os.path.normpath(src)}: "
          f"layers respected, no include cycle, none over {MAX_LINES} lines, "
          f"libwebsockets only in {LWS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
