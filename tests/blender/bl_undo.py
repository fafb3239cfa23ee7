"""Inside Blender, for test_undo.py: ROLE PORT SESSION CACHE.

"a" runs with a window (undo needs one; driven from bpy.app.timers): it
publishes a Cube and a Sphere, moves the Cube twice (an undo step each),
waits for B's edit of the Sphere, undoes twice, then redoes twice, then
undoes all it can (back past the join), and reports both objects after
each. "b" (headless) joins, moves the Sphere, and reports what it sees
after each of A's steps.

"joiner" (windowed) has a local scene of its own, joins the session of
"host" (headless), moves the Cube, and undoes all it can, back past the
join; both report what they see. Barriers are chat messages.
"""

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene_util  # noqa: E402
from scene_util import done  # noqa: E402

import bpy  # noqa: E402
import sessiond_blender as sb  # noqa: E402

T = 60.0


def said(s, text):
    return any(m["text"] == text for m in s.chat)


def where(*names):
    return {n: [round(v, 4) for v in bpy.data.objects[n].location] for n in names}


def role_b(port, session, cache):
    s = sb.connect("127.0.0.1", port, session, "artist-b", cache_dir=cache)
    for o in bpy.context.view_layer.objects:     # the factory scene's selection
        o.select_set(False)
    s.flush()
    s.wait_until(lambda: said(s, "a:edited"), T)
    bpy.data.objects["Sphere"].location = (5.0, 0.0, 0.0)
    s.flush()
    s.send_chat("b:edited")
    for step in ("undone", "redone"):
        s.wait_until(lambda: said(s, "a:" + step), T)
        s.flush()
        done("b-" + step, **where("Cube", "Sphere"))
        s.send_chat("b:seen-" + step)
    s.wait_until(lambda: said(s, "a:past"), T)
    s.flush()
    done("b-past", objects=sorted(o.name for o in bpy.data.objects), **where("Cube", "Sphere"))
    s.send_chat("b:seen-past")
    s.disconnect()


def undo(op):
    """One undo step; False when there is none left."""
    try:
        return op(bpy.ops.ed.undo) == {"FINISHED"}
    except RuntimeError:        # nothing left to undo
        return False


def role_a(port, session, cache):
    from sessiond_blender import api, ui
    scene_util.clear_scene()
    scene = bpy.context.scene
    for name in ("Cube", "Sphere"):
        scene.collection.objects.link(bpy.data.objects.new(name, scene_util.grid_mesh(
            name + "Mesh", 3)))
    sb.register()
    win = bpy.context.window_manager.windows[0]
    ctx = {"window": win, "screen": win.screen,
           "area": [a for a in win.screen.areas if a.type == "VIEW_3D"][0]}

    def op(f, **kw):
        with bpy.context.temp_override(**ctx):
            return f(**kw)
    s = api.make_session("127.0.0.1", port, session, "artist-a", cache_dir=cache)
    s.bridge.watch_depsgraph = True
    s.begin()
    api._active = s
    ui.ensure_timer()
    while not s.joined:
        yield 0.05
    op(bpy.ops.ed.undo_push, message="joined")
    done("a-ready")
    c = s.client

    def idle():
        return not c.outbox and not c.pending
    for loc in ((2.0, 0.0, 0.0), (2.0, 0.0, 1.0)):
        bpy.data.objects["Cube"].location = loc
        op(bpy.ops.ed.undo_push, message="move cube")
        s.bridge.local_dirty = True
        yield 0.1
        while not idle() or s.bridge.local_dirty:
            yield 0.05
    s.send_chat("a:edited")
    while not said(s, "b:edited") or where("Sphere")["Sphere"][0] != 5.0:
        yield 0.05
    for step, f in (("undone", bpy.ops.ed.undo), ("redone", bpy.ops.ed.redo)):
        op(f)
        op(f)
        s.bridge.local_dirty = True
        yield 0.1
        # Idle and nothing left to scan: one update per node is in flight,
        # so the second change of the Cube waits for the first one's ok.
        while not idle() or s.bridge.local_dirty:
            yield 0.05
        done("a-" + step, **where("Cube", "Sphere"))
        s.send_chat("a:" + step)
        while not said(s, "b:seen-" + step):
            yield 0.05
    done("a-messages", messages=[m for _, m in s.messages])
    # Undo all there is: back past the join, to Blender's startup scene.
    undos = 0
    while undos < 10 and undo(op):
        undos += 1
        s.bridge.local_dirty = True
        yield 0.1
        while not idle() or s.bridge.local_dirty:
            yield 0.05
    done("a-past", undos=undos, objects=sorted(o.name for o in bpy.data.objects),
         messages=[m for _, m in s.messages], **where("Cube", "Sphere"))
    s.send_chat("a:past")
    while not said(s, "b:seen-past"):
        yield 0.05
    s.disconnect()
    bpy.ops.wm.quit_blender()


def role_host(port, session, cache):
    """Headless: shares Cube and Sphere, reports what it sees after the
    joiner's undo past its join."""
    scene_util.clear_scene()
    for name in ("Cube", "Sphere"):
        bpy.context.scene.collection.objects.link(bpy.data.objects.new(
            name, scene_util.grid_mesh(name + "Mesh", 3)))
    s = sb.connect("127.0.0.1", port, session, "host", cache_dir=cache)
    done("host-ready")
    s.wait_until(lambda: said(s, "j:undone"), T)
    s.flush()
    done("host-after", objects=sorted(o.name for o in bpy.data.objects),
         nodes=sorted((n.get("data") or {}).get("name") for n in s.client.nodes.values()
                      if n.get("kind") == "Object"),
         **where("Cube", "Sphere"))
    s.send_chat("h:seen")
    s.wait_until(lambda: not (s.client.users.get("joiner") or {}).get("online"), T)
    s.disconnect()


def role_joiner(port, session, cache):
    """Windowed: a local scene of its own (one undo step), joins the host's
    session, moves the Cube (one undo step), then undoes everything: back
    past the join, to the local scene it had."""
    from sessiond_blender import api, ui
    scene_util.clear_scene()
    scene = bpy.context.scene
    scene.collection.objects.link(bpy.data.objects.new("Mine", scene_util.grid_mesh(
        "MineMesh", 2)))
    sb.register()
    win = bpy.context.window_manager.windows[0]
    ctx = {"window": win, "screen": win.screen,
           "area": [a for a in win.screen.areas if a.type == "VIEW_3D"][0]}

    def op(f, **kw):
        with bpy.context.temp_override(**ctx):
            return f(**kw)
    op(bpy.ops.ed.undo_push, message="my local scene")
    s = api.make_session("127.0.0.1", port, session, "joiner", cache_dir=cache)
    s.bridge.watch_depsgraph = True
    s.begin()
    api._active = s
    ui.ensure_timer()
    while not s.joined:
        yield 0.05
    c = s.client

    def idle():
        return not c.outbox and not c.pending and not s.bridge.local_dirty
    joined = sorted(o.name for o in bpy.data.objects)
    bpy.data.objects["Cube"].location = (0.0, 2.0, 0.0)
    op(bpy.ops.ed.undo_push, message="move cube")
    s.bridge.local_dirty = True
    yield 0.1
    while not idle():
        yield 0.05
    undos = 0
    while undos < 10 and undo(op):
        undos += 1
        s.bridge.local_dirty = True
        yield 0.1
        while not idle():
            yield 0.05
    done("joiner-undone", undos=undos, joined=joined,
         objects=sorted(o.name for o in bpy.data.objects), **where("Cube", "Sphere"))
    s.send_chat("j:undone")
    while not said(s, "h:seen"):
        yield 0.05
    done("joiner-messages", messages=[m for _, m in s.messages])
    s.disconnect()
    bpy.ops.wm.quit_blender()


def main():
    role, port, session, cache = scene_util.args()[:4]
    try:
        if role in ("b", "host"):
            {"b": role_b, "host": role_host}[role](int(port), session, cache)
            return
        gen = {"a": role_a, "joiner": role_joiner}[role](int(port), session, cache)
        scene_util.run_in_window(gen)
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)


main()
