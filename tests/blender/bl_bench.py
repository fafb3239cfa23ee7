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
  editor    builds a GRID x GRID vertex mesh only, waits for
            "edit-watcher:ready", then MOVES times lifts 100 of its
            vertices (a 10 x 10 patch) and waits until the watcher says it
            has the edit; prints the time of each edit and the bytes it sent
  edit-watcher  joins, pumps, prints the monotonic time at which each
            edit showed in its mesh (and says so in the chat)
  many      publishes MANY objects (timed), pumps like the UI timer with
            nothing changing (each pump timed), then adds ADD objects once
            "arrive:ready" is said
  arrive    joins the many session (timed), pumps like the UI timer while
            the ADD objects arrive: the longest pump
The roles many and arrive take MANY ADD instead of MOVES GRID TEXTURE.
"""

import array

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


def patch(n):
    """The 100 vertices the editor moves: a 10 x 10 patch in the middle."""
    m = max(0, n // 2 - 5)
    return [y * n + x for y in range(m, m + 10) for x in range(m, m + 10)]


def editor(port, session, cache, edits, grid):
    scene_util.clear_scene()
    me = scene_util.grid_mesh("Terrain", grid)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Terrain", me))
    s = sb.connect("127.0.0.1", port, session, "editor", cache_dir=cache, timeout=T)
    c = s.client
    done("editor-ready", vertices=len(me.vertices), first_bytes=c.ws.bytes_sent)
    s.wait_until(said(s, "edit-watcher:ready"), T)
    co = array.array("f", [0.0]) * (3 * len(me.vertices))
    idx = patch(grid)
    times, wire = [], []
    for i in range(1, edits + 1):
        me.vertices.foreach_get("co", co)
        for v in idx:
            co[3 * v + 2] = 1.0 + i * 0.01
        sent = c.ws.bytes_sent
        times.append(time.monotonic())
        me.vertices.foreach_set("co", co)
        me.update()
        s.wait_until(said(s, "seen:%d" % i), T)
        wire.append(c.ws.bytes_sent - sent)
    s.send_chat("editor:done")
    done("editor", times=times, wire=wire)
    s.wait_until(said(s, "edit-watcher:done"), T)
    s.disconnect()


def edit_watcher(port, session, cache, edits, grid):
    scene_util.clear_scene()
    s = sb.connect("127.0.0.1", port, session, "edit-watcher", cache_dir=cache, timeout=T)
    v = patch(grid)[-1]
    s.send_chat("edit-watcher:ready")
    seen = {}
    deadline = time.monotonic() + T * 4
    while len(seen) < edits and time.monotonic() < deadline:
        s.pump(0.002)
        me = bpy.data.meshes["Terrain"]
        i = round((me.vertices[v].co.z - 1.0) / 0.01)
        if 1 <= i <= edits and str(i) not in seen and abs(me.vertices[v].co.z - 1.0 - i * 0.01) < 1e-4:
            seen[str(i)] = time.monotonic()
            s.send_chat("seen:%d" % i)
    s.wait_until(said(s, "editor:done"), T)
    done("edit-watcher", seen=seen)
    s.send_chat("edit-watcher:done")
TICK = 1.0 / 60.0       # the UI timer's interval


def ticking(s, until, timeout=T, evaluating=None):
    """Pump like the UI timer (every TICK) until `until()`; returns the
    duration of each pump in ms (in `evaluating`, the part of each that
    was Blender's depsgraph evaluation)."""
    took = []
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError("not done within %.0f s" % timeout)
        t0, e0 = time.monotonic(), s.bridge.evaluate_s
        s.pump(0.0)
        t1 = time.monotonic()
        took.append((t1 - t0) * 1000)
        if evaluating is not None:
            evaluating.append((s.bridge.evaluate_s - e0) * 1000)
        time.sleep(max(0.0, TICK - (t1 - t0)))
    return took


def many(port, session, cache, n, add):
    scene_util.clear_scene()
    mesh = scene_util.grid_mesh("ManyMesh", 2)
    coll = bpy.context.scene.collection
    for i in range(n):
        o = bpy.data.objects.new("Many%05d" % i, mesh)
        o.location = (i % 50, i // 50, 0)
        coll.objects.link(o)
    t0 = time.monotonic()
    s = sb.connect("127.0.0.1", port, session, "many", cache_dir=cache, timeout=T)
    publish_s = time.monotonic() - t0
    s.flush()
    ticking(s, lambda: True)
    n_idle = [0]

    def counted():
        n_idle[0] += 1
        return n_idle[0] > 300
    idle = ticking(s, counted)
    done("many", publish_s=publish_s, idle_ms=sorted(idle)[len(idle) // 2],
         idle_max_ms=max(idle))
    s.wait_until(said(s, "arrive:ready"), T)
    for i in range(add):
        o = bpy.data.objects.new("Added%05d" % i, mesh)
        o.location = (i % 50, i // 50, 1)
        coll.objects.link(o)
    s.flush()
    s.send_chat("many:added")
    s.wait_until(said(s, "arrive:done"), T)
    s.disconnect()


def arrive(port, session, cache, n, add):
    t0 = time.monotonic()
    s = sb.connect("127.0.0.1", port, session, "arrive", cache_dir=cache, timeout=T)
    join_s = time.monotonic() - t0
    ticking(s, lambda: True)
    s.send_chat("arrive:ready")
    evaluating = []
    took = ticking(s, lambda: len(bpy.data.objects) >= n + add and said(s, "many:added")()
                   and not s.bridge.dirty, evaluating=evaluating)
    i = max(range(len(took)), key=lambda k: took[k])
    done("arrive", join_s=join_s, max_pump_ms=took[i], max_pump_eval_ms=evaluating[i],
         max_pump_addon_ms=max(t - e for t, e in zip(took, evaluating)), pumps=len(took),
         objects=len(bpy.data.objects))
    s.send_chat("arrive:done")
    s.disconnect()


def main():
    a = scene_util.args()
    role, port, session, cache = a[0], int(a[1]), a[2], a[3]
    try:
        if role in ("many", "arrive"):
            (many if role == "many" else arrive)(port, session, cache, int(a[4]), int(a[5]))
            return
        moves, grid, texture = int(a[4]), int(a[5]), int(a[6])
        if role == "editor":
            editor(port, session, cache, moves, grid)
        elif role == "edit-watcher":
            edit_watcher(port, session, cache, moves, grid)
        elif role == "mover":
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
