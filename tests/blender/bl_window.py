"""Run inside Blender: ROLE PORT SESSION CACHE, for test_window.py.

"peer" runs headless: it publishes a Cube, shows a stored orthographic
view, holds the Cube (its box is drawn in the other Blender), and reports
the window Blender's presence as it arrives.

"window" runs with a window (under Xvfb), driven from bpy.app.timers: it
registers the add-on, joins, snaps its viewport to the peer (a real
region this time), opens the add-on's panels as popups, redraws the window
with the presence overlay, and reports what was drawn and what raised.
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
VIEW_P = [1, 0, 0, 2.0, 0, 1, 0, -3.0, 0, 0, 1, 4.0, 0, 0, 0, 1]


def role_peer(port, session, cache):
    scene_util.clear_scene()
    cube = bpy.data.objects.new("Cube", scene_util.grid_mesh("CubeMesh", 3))
    bpy.context.scene.collection.objects.link(cube)
    s = sb.connect("127.0.0.1", port, session, "peer", color="#ff3333", cache_dir=cache)
    s.set_view(VIEW_P, lens=35.0, perspective="ORTHO", view_distance=6.0)
    cube.select_set(True)
    s.flush()
    s.wait_until(lambda: s.owner(cube) == "peer", T)
    s.send_chat("p:ready")

    def theirs():
        return (s.client.users.get("window") or {}).get("metadata") or {}
    s.wait_until(lambda: theirs().get("perspective") == "ORTHO" and theirs().get("frustum"), T)
    done("peer", window=theirs())
    s.send_chat("p:seen")
    s.wait_until(lambda: not (s.client.users.get("window") or {}).get("online"), T)
    s.disconnect()


def role_window(port, session, cache):
    from sessiond_blender import api, presence, ui
    panels = (ui.SESSIOND_PT_session, ui.SESSIOND_PT_users, ui.SESSIOND_PT_locks,
              ui.SESSIOND_PT_tasks, ui.SESSIOND_PT_chat, ui.SESSIOND_PT_not_shared)
    # Blender 3.4's script API cannot switch the sidebar's tab (and opening
    # these panels as a popup crashes it): they go in the tab shown first.
    for cls in panels:
        cls.bl_category = "Item"
    sb.register()
    drawn, raised = {}, []
    def counting(orig, name):
        # Exactly (self, context): Blender 3.4 crashes on a draw method
        # with extra defaulted arguments.
        def draw(self, context):
            drawn[name] = drawn.get(name, 0) + 1
            try:
                orig(self, context)
            except Exception:
                raised.append(traceback.format_exc())
                raise
        return draw
    for cls in panels:
        cls.draw = counting(cls.draw, cls.__name__)
    s = api.make_session("127.0.0.1", port, session, "window", color="#3366ff",
                         cache_dir=cache)
    s.bridge.watch_depsgraph = True
    s.begin()
    api._active = s
    ui.ensure_timer()
    win = bpy.context.window_manager.windows[0]
    area = [a for a in win.screen.areas if a.type == "VIEW_3D"][0]
    space = area.spaces.active
    space.show_region_ui = True

    def said(text):
        return any(m["text"] == text for m in s.chat)
    while not s.joined or not said("p:ready") or \
            "view_matrix" not in (s.user_view("peer") or {}):
        yield 0.05
    s.snap_view("peer")
    r3d = space.region_3d
    with bpy.context.temp_override(window=win, screen=win.screen, area=area):
        bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
    # Drawn once: the region's own view matrix is the peer's.
    mine = [v for row in r3d.view_matrix.inverted() for v in row]
    snapped = {"view_matrix": mine, "perspective": r3d.view_perspective, "lens": space.lens,
               "view": s.view}
    ctx = {"window": win, "screen": win.screen, "area": area}
    while not said("p:seen"):
        with bpy.context.temp_override(**ctx):
            bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
        yield 0.2
    done("window", snapped=snapped, draws=presence.stats["draws"],
         errors=presence.stats["errors"], panels=drawn, raised=raised,
         messages=[m for _, m in s.messages])
    s.disconnect()
    bpy.ops.wm.quit_blender()


def run_window(gen):
    def tick():
        try:
            return next(gen)
        except StopIteration:
            return None
        except Exception:
            done("error", trace=traceback.format_exc())
            sys.stdout.flush()
            os._exit(1)
    bpy.app.timers.register(tick, first_interval=0.5)


def main():
    role, port, session, cache = scene_util.args()[:4]
    try:
        if role == "window":
            run_window(role_window(int(port), session, cache))
        else:
            role_peer(int(port), session, cache)
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


main()
