"""Run inside Blender (`-- ROLE PORT SESSION CACHE BLEND`): a scene saved as
a .blend file, opened (blender FILE / bpy.ops.wm.open_mainfile, the
launcher's `blend`) and shared.

ROLE save builds the test scene and saves it as BLEND; ROLE share is
started with BLEND opened, reports what it opened and uploads it to the
session; ROLE join joins the session: its scene must be the one in the
file."""

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene_util  # noqa: E402
from scene_util import done  # noqa: E402

import bpy  # noqa: E402
import sessiond_blender as sb  # noqa: E402


def main():
    role, port, session, cache, blend = scene_util.args()[:5]
    if role == "save":
        scene_util.build_scene()
        bpy.ops.wm.save_as_mainfile(filepath=blend)
        done("saved", objects=sorted(o.name for o in bpy.data.objects))
        return
    s = sb.connect("127.0.0.1", int(port), session, "user-" + role, cache_dir=cache)
    digest, summary, _ = s.digest()
    done(role, file=bpy.data.filepath, objects=sorted(o.name for o in bpy.data.objects),
         digest=digest, summary=summary)
    if role == "share":
        s.wait_until(lambda: any(m["text"] == "joined" for m in s.chat), 60)
    else:
        s.send_chat("joined")
    s.disconnect()


try:
    main()
except Exception:
    traceback.print_exc()
    done("error", trace=traceback.format_exc())
    sys.stdout.flush()
    os._exit(1)
