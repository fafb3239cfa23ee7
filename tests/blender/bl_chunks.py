"""Run inside headless Blender: `blender -b -- ROLE PORT SESSION CACHE`,
driven by test_chunks.py. A 448 x 448 grid (200,704 vertices) shared as a
chunked blob (protocol 1.2); A moves 100 of its vertices (a 10 x 10 patch)
and sends the edit; B waits until its mesh shows it.

Roles:
  a   builds the grid, connects (uploading it), says "a-ready"; once B
      said "b:joined" in the chat, moves the patch, flushes, says
      "a-edited" with the bytes it sent for the upload and for the edit
  b   joins, says "b:joined", waits until the patch moved, says "b-done"
      with the mesh's digest and the blob bytes it received
"""

import hashlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene_util  # noqa: E402
from scene_util import done  # noqa: E402

import array  # noqa: E402

import bpy  # noqa: E402
import sessiond_blender as sb  # noqa: E402
from sessiond_blender.translators import bl_mesh  # noqa: E402

T = 240.0
N = 448
PATCH = [y * N + x for y in range(200, 210) for x in range(100, 110)]   # 100 vertices
LIFT = 0.5


def digest(me):
    h = hashlib.sha256()
    for name, a in bl_mesh.arrays(me):
        h.update(name.encode())
        h.update(a.tobytes())
    return h.hexdigest()


def said(s, text):
    return lambda: any(m["text"] == text for m in s.chat)


def a_role(port, session, cache):
    scene_util.clear_scene()
    me = scene_util.grid_mesh("Terrain", N)
    ob = bpy.data.objects.new("Terrain", me)
    bpy.context.scene.collection.objects.link(ob)
    s = sb.connect("127.0.0.1", port, session, "a", cache_dir=cache, timeout=T)
    c = s.client
    first, first_blob = c.ws.bytes_sent, c.blob_bytes_sent
    done("a-ready", vertices=len(me.vertices), chunked=c.chunked)
    s.wait_until(said(s, "b:joined"), T)
    sent, blob_sent = c.ws.bytes_sent, c.blob_bytes_sent
    co = array.array("f", [0.0]) * (3 * len(me.vertices))
    me.vertices.foreach_get("co", co)
    for i in PATCH:
        co[3 * i + 2] += LIFT
    me.vertices.foreach_set("co", co)
    me.update()
    s.flush(T)
    done("a-edited", first=first, first_blob=first_blob, second=c.ws.bytes_sent - sent,
         second_blob=c.blob_bytes_sent - blob_sent, digest=digest(me))
    s.wait_until(said(s, "b:done"), T)
    s.disconnect()


def b_role(port, session, cache):
    scene_util.clear_scene()
    s = sb.connect("127.0.0.1", port, session, "b", cache_dir=cache, timeout=T)
    c = s.client
    me = bpy.data.meshes["Terrain"]
    z0 = me.vertices[PATCH[-1]].co.z
    joined = c.blob_bytes_received
    s.send_chat("b:joined")
    deadline = time.monotonic() + T
    while abs(me.vertices[PATCH[-1]].co.z - (z0 + LIFT)) > 1e-4:
        if time.monotonic() > deadline:
            raise TimeoutError("the edit did not arrive")
        s.pump(0.01)
        me = bpy.data.meshes["Terrain"]
    done("b-done", digest=digest(me), vertices=len(me.vertices), joined=joined,
         edit=c.blob_bytes_received - joined, messages=[m for _, m in s.bridge.messages])
    s.send_chat("b:done")
    s.disconnect()


def main():
    a = scene_util.args()
    role, port, session, cache = a[0], int(a[1]), a[2], a[3]
    try:
        (a_role if role == "a" else b_role)(port, session, cache)
    except Exception:
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)


main()
