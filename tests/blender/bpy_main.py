"""Runs one in-Blender test script in Blender built as a Python module (the
`bpy` wheel of a release, in its virtual environment):

    python bpy_main.py [--open FILE.blend] SCRIPT -- ARGS

does what `blender -b --factory-startup [FILE.blend] --python SCRIPT -- ARGS`
does with Blender's own binary: the factory startup scene (or FILE.blend,
opened with bpy.ops.wm.open_mainfile), then SCRIPT run as __main__ with
sys.argv ending in "-- ARGS" (scene_util.args() reads what follows "--"),
and exit status 1 when the script raises (--python-exit-code 1).

A module has no command line of its own: this file is it. blender_run.py
starts it with the release's interpreter.
"""

import os
import runpy
import sys
import traceback


def main():
    argv = sys.argv[1:]
    blend = None
    if argv[:1] == ["--open"]:
        blend, argv = argv[1], argv[2:]
    script, rest = argv[0], argv[1:]
    import bpy
    # --factory-startup: the default scene and preferences, whatever the
    # user directory holds.
    bpy.ops.wm.read_factory_settings(use_empty=False)
    if blend is not None:
        bpy.ops.wm.open_mainfile(filepath=blend)
    sys.argv = [script] + rest
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        sys.exit(1)
    sys.stdout.flush()


main()
