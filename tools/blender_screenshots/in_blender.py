"""Inside Blender, for shoot.py: ROLE PORT CACHE OUT.

peer (headless, "ann"): a scene with a cube and Suzanne, ann holds Suzanne,
a task and a chat message, then asks bob for the Cube.
shoot (with a window, "bob"): joins, holds the Cube, and saves the guide's
screenshots into OUT as it goes (driven from bpy.app.timers).
"""

import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "blender"))
import scene_util  # noqa: E402  (puts the add-on on sys.path)
from scene_util import done  # noqa: E402

import bpy  # noqa: E402
import sessiond_blender as sb  # noqa: E402

T = 60.0
SESSION = "walk"


def said(s, text):
    return any(m["text"] == text for m in s.chat)


def peer(port, cache):
    bpy.ops.mesh.primitive_monkey_add(location=(2.5, 0.0, 0.5))
    bpy.context.active_object.name = "Suzanne"
    s = sb.connect("127.0.0.1", port, SESSION, "ann", color="#ff3333", cache_dir=cache)
    s.set_view([0.7, -0.3, 0.6, 7.0, 0.7, 0.3, -0.6, -6.0, 0.0, 0.9, 0.4, 4.0, 0, 0, 0, 1],
               lens=50.0)
    suzanne = bpy.data.objects["Suzanne"]
    bpy.context.view_layer.objects.active = None
    for o in bpy.data.objects:
        o.select_set(o is suzanne)
    s.flush()
    s.wait_until(lambda: s.owner(suzanne) == "ann", T)
    s.create_task("UV the monkey", node=s.uuid_of(suzanne))
    s.send_chat("hi bob, I am on the monkey")
    done("ready")
    s.wait_until(lambda: said(s, "bob:holds"), T)
    s.request_lock(bpy.data.objects["Cube"])
    s.wait_until(lambda: said(s, "bob:done"), 240)
    s.disconnect()


def shoot(port, cache, out):
    from sessiond_blender import api, ui
    # Only the add-on's tab in the sidebar: Blender 3.4's script API cannot
    # switch tabs, and the first one is shown.
    def walk(c):
        for sub in c.__subclasses__():
            yield sub
            yield from walk(sub)
    for cls in list(walk(bpy.types.Panel)):
        if getattr(cls, "bl_space_type", "") == "VIEW_3D" and \
                getattr(cls, "bl_region_type", "") == "UI" and cls.is_registered:
            try:
                bpy.utils.unregister_class(cls)
            except RuntimeError:
                pass
    sb.register()
    win = bpy.context.window_manager.windows[0]
    area = [a for a in win.screen.areas if a.type == "VIEW_3D"][0]
    area.spaces.active.show_region_ui = True
    ctx = {"window": win, "screen": win.screen, "area": area}
    st = bpy.context.window_manager.sessiond
    st.host, st.port, st.session, st.user = "127.0.0.1", port, SESSION, "bob"
    st.color = (0.2, 0.45, 1.0)
    files = []

    def snap(name):
        path = os.path.join(out, name)
        with bpy.context.temp_override(**ctx):
            bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
            bpy.ops.screen.screenshot(filepath=path, check_existing=False)
        files.append(name)

    yield 0.5
    win.event_simulate(type="ESC", value="PRESS")     # the first start's splash
    win.event_simulate(type="ESC", value="RELEASE")
    # No active object: the Item tab (Transform) has nothing to show, so
    # the sidebar shows the add-on's tab.
    bpy.context.view_layer.objects.active = None
    yield 0.5
    snap("01-connect.png")
    # Connect as from the panel: the question, then Join.
    with bpy.context.temp_override(**ctx):
        bpy.ops.sessiond.connect("INVOKE_DEFAULT")
    s = api.active()
    s.client.cache_dir = cache
    while s.join_question() is None:
        yield 0.05
    yield 0.3
    snap("01-question.png")
    with bpy.context.temp_override(**ctx):
        bpy.ops.sessiond.join()
    while not s.joined:
        yield 0.05
    cube = bpy.data.objects["Cube"]
    for o in bpy.data.objects:
        o.select_set(o is cube)
    while s.owner(cube) != "bob":
        yield 0.05
    s.send_chat("bob:holds")
    while not s.lock_requests:
        yield 0.05
    yield 0.3
    snap("02-panels.png")
    s.snap_view("ann")
    s.snap_time("ann")
    yield 0.3
    snap("03-snapped.png")
    s.give_lock(cube, "ann")
    while s.owner(cube) != "ann":
        yield 0.05
    yield 0.3
    snap("04-given.png")
    s.send_chat("bob:done")
    done("shots", files=files)
    s.disconnect()
    bpy.ops.wm.quit_blender()


def main():
    role, port, cache, out = scene_util.args()[:4]
    try:
        if role == "peer":
            peer(int(port), cache)
            return
        gen = shoot(int(port), cache, out)
        scene_util.run_in_window(gen)
    except Exception:
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)


main()
