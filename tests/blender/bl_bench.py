"""Run inside `blender -b -- ROLE PORT SESSION CACHE MOVES GRID TEXTURE`,
driven by bench_blender.py (tools/bench --only blender).

Roles:
  mover     builds the small test scene, waits for "watcher:ready", moves
            "Ground" MOVES times (20 per second, pumping like the UI timer)
            and prints the monotonic time of every change
  watcher   joins, says "watcher:ready", pumps and prints the monotonic time
            at which each new location arrived in bpy.data
  big       builds a GRID x GRID vertex mesh with a TEXTURE^2 image, uploads
  joiner    joins the big session; prints how long connect() took
"""

import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene_util  # noqa: E402
from scene_util import done  # noqa: E402

import bpy  # noqa: E402
import sessiond_blender as sb  # noqa: E402

T = 120.0


def said(s, text):
    return lambda: any(m["text"] == text for m in s.chat)


def mover(port, session, cache, moves):
    scene_util.build_scene()
    s = sb.connect("127.0.0.1", port, session, "mover", cache_dir=cache)
    done("mover-ready")
    s.wait_until(said(s, "watcher:ready"), T)
    ob = bpy.data.objects["Ground"]
    times = []
    for i in range(1, moves + 1):
        ob.location.x = i * 0.01
        times.append(time.monotonic())
        # The UI timer pumps 30 times a second; pump the same way for
        # 50 ms (20 moves per second).
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            s.pump(0.005)
    s.flush()
    s.send_chat("mover:done")
    done("mover", times=times)
    s.wait_until(said(s, "watcher:done"), T)
    s.disconnect()


def watcher(port, session, cache, moves):
    s = sb.connect("127.0.0.1", port, session, "watcher", cache_dir=cache)
    ob = bpy.data.objects["Ground"]
    s.send_chat("watcher:ready")
    seen = {}
    last = ob.location.x
    target = round(moves * 0.01, 4)
    deadline = time.monotonic() + T
    while round(ob.location.x, 4) != target and time.monotonic() < deadline:
        s.pump(0.002)
        x = ob.location.x
        if x != last:
            seen[str(round(x / 0.01))] = time.monotonic()
            last = x
    s.wait_until(said(s, "mover:done"), T)
    done("watcher", seen=seen)
    s.send_chat("watcher:done")
    s.disconnect()


def big(port, session, cache, grid, texture):
    scene_util.build_scene(mesh_n=grid, image_size=8)
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, "texture.png")
    scene_util.png_rgb(path, texture)
    img = bpy.data.images.load(path)
    img.pack()
    tex = bpy.data.materials["Textured"].node_tree.nodes["Texture"]
    tex.image = img
    t0 = time.monotonic()
    s = sb.connect("127.0.0.1", port, session, "big", cache_dir=cache, timeout=T)
    upload_ms = (time.monotonic() - t0) * 1000
    digest, summary, _ = s.digest()
    done("big", digest=digest, summary=summary, upload_ms=upload_ms,
         vertices=len(bpy.data.meshes["Ground"].vertices), png_bytes=os.path.getsize(path),
         blobs=s.client.blobs_supported)
    s.disconnect()


def joiner(port, session, cache):
    t0 = time.monotonic()
    s = sb.connect("127.0.0.1", port, session, "joiner", cache_dir=cache, timeout=T)
    join_ms = (time.monotonic() - t0) * 1000
    digest, summary, _ = s.digest()
    done("joiner", digest=digest, summary=summary, join_ms=join_ms,
         vertices=len(bpy.data.meshes["Ground"].vertices))
    s.disconnect()


def main():
    a = scene_util.args()
    role, port, session, cache = a[0], int(a[1]), a[2], a[3]
    moves, grid, texture = int(a[4]), int(a[5]), int(a[6])
    try:
        if role == "mover":
            mover(port, session, cache, moves)
        elif role == "watcher":
            watcher(port, session, cache, moves)
        elif role == "big":
            big(port, session, cache, grid, texture)
        else:
            joiner(port, session, cache)
    except Exception:
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)


main()
