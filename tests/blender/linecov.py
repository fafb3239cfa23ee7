"""Inside Blender, when SESSIOND_LINECOV names a directory: record which
lines of the add-on run (sys.settrace) and write them at exit to
DIR/<Blender major.minor>-<pid>.json. scene_util imports it; read the
result with guard_coverage.py. Slow: only for that check."""

import atexit
import json
import os
import sys
import threading

_lines = set()
_MARK = "sessiond_blender" + os.sep


def _trace(frame, event, arg):
    f = frame.f_code.co_filename
    i = f.rfind(_MARK)
    if i < 0:
        return None
    _lines.add((f[i:], frame.f_lineno))
    return _trace


def _dump():
    import bpy
    out = os.path.join(os.environ["SESSIOND_LINECOV"], "%d.%d-%d.json"
                       % (bpy.app.version[0], bpy.app.version[1], os.getpid()))
    with open(out, "w") as f:
        json.dump(sorted(_lines), f)


os.makedirs(os.environ["SESSIOND_LINECOV"], exist_ok=True)
sys.settrace(_trace)
threading.settrace(_trace)
atexit.register(_dump)
