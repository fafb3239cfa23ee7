"""Which Blender versions ran each version-guarded line of the add-on.

    rm -rf /tmp/cov
    for r in "" 4.2 4.5 5; do
        for t in scenarios real_scenes; do
            SESSIOND_LINECOV=/tmp/cov SESSIOND_BLENDER_RELEASE=$r SESSIOND=build/sessiond \\
                /usr/bin/python3 tests/blender/test_$t.py
        done
    done   # likewise test_extension.py (4.2+) and test_mixed.py (each mix:
           # SESSIOND_BLENDER_MIX="blender 4.5", then "4.2 5")
    /usr/bin/python3 tests/blender/guard_coverage.py /tmp/cov

About ten minutes on a 2-core machine (the line tracing slows Blender down);
not part of the suite.

A version guard is an `if` (statement or expression) whose test names one
of GUARDS (the add-on's feature checks) or bpy.app.version; every statement
in its branches is listed with the versions that ran it (linecov.py's
files). Exit status 1 when one of them ran in no version.
"""

import ast
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ADDON = os.path.join(os.path.dirname(os.path.dirname(HERE)), "clients", "blender")
GUARDS = ("SLOTTED", "EEVEE_NEXT", "OLD_PRINCIPLED", "HAS_AUTO_SMOOTH", "LOOP_TOTAL_WRITABLE",
          "INTERFACE", "LEGACY", "NEW_TYPES", "WEIGHT_PROPS", "ALWAYS_TREE",
          "AO_PER_LAYER", "CORNER_NORMALS", "MASK_LAYER", "STRIPS",
          "app.version")


def statements(nodes):
    for n in nodes:
        yield n
        for field in ("body", "orelse", "handlers", "finalbody"):
            sub = getattr(n, field, None)
            if isinstance(sub, list):
                yield from statements(sub)


def main(cov_dir):
    ran = {}
    for f in glob.glob(os.path.join(cov_dir, "*.json")):
        version = os.path.basename(f).split("-")[0]
        with open(f) as fh:
            for path, line in json.load(fh):
                ran.setdefault((path, line), set()).add(version)
    missing = 0
    for path in sorted(glob.glob(os.path.join(ADDON, "sessiond_blender", "**", "*.py"),
                                 recursive=True)):
        rel = os.path.relpath(path, ADDON)
        with open(path) as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.If, ast.IfExp)):
                continue
            test = ast.unparse(node.test)
            if not any(g in test for g in GUARDS):
                continue
            if isinstance(node, ast.If):
                lines = sorted({s.lineno for s in statements(node.body + node.orelse)})
            else:
                lines = [node.lineno]
            for line in lines:
                versions = sorted(ran.get((rel, line), ()))
                missing += not versions
                print("%s:%d  if %s  ran in: %s" % (rel, line, test[:50],
                                                   ", ".join(versions) or "NONE"))
    print("%d version-guarded lines ran in no version" % missing)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
