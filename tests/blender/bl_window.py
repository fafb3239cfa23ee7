"""Run inside Blender: ROLE PORT SESSION CACHE, for test_window.py.

"peer" runs headless: it publishes a Cube and a Terrain (its arrays travel
as a blob), shows a stored orthographic view with a frustum, holds the Cube
(its box is drawn in the other Blender), reports the window Blender's
presence as it arrives, then moves its view and frame for the window
Blender to follow.

"window" runs with a window (under Xvfb, with --enable-event-simulate),
driven from bpy.app.timers. It goes through the panel as an artist would:
Connect to an empty session (the panel says "You are first", Cancel),
Connect to the peer's session (the panel names its objects, Join) while
Blender's progress indicator calls and the status line are recorded;
it draws the presence overlay before and after snapping to the peer (the
peer's name is drawn, then not: their view is ours), follows the peer
and stops with Esc, follows again and stops by orbiting the view with a
key. It reports what the panels said, what was drawn and what raised.
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

T = 60.0
VIEW_P = [1, 0, 0, 2.0, 0, 1, 0, -3.0, 0, 0, 1, 4.0, 0, 0, 0, 1]
VIEW_P2 = [0, -1, 0, 5.0, 1, 0, 0, 1.0, 0, 0, 1, 7.5, 0, 0, 0, 1]
# The peer's frustum for VIEW_P (looking down -Z from z=4): near, then far.
FRUSTUM_P = [[1, -4, 3.5], [3, -4, 3.5], [3, -2, 3.5], [1, -2, 3.5],
             [1, -4, -6], [3, -4, -6], [3, -2, -6], [1, -2, -6]]


def role_peer(port, session, cache):
    scene_util.clear_scene()
    for name, n in (("Cube", 3), ("Terrain", 110)):
        bpy.context.scene.collection.objects.link(
            bpy.data.objects.new(name, scene_util.grid_mesh(name + "Mesh", n)))
    cube = bpy.data.objects["Cube"]
    s = sb.connect("127.0.0.1", port, session, "peer", color="#ff3333", cache_dir=cache)
    s.set_view(VIEW_P, lens=35.0, perspective="ORTHO", view_distance=6.0)
    # A headless Blender has no viewport to take a frustum from: the one a
    # windowed colleague would send for this view.
    s.collab.view["frustum"] = FRUSTUM_P
    cube.select_set(True)
    s.flush()
    s.wait_until(lambda: s.owner(cube) == "peer", T)
    s.send_chat("p:ready")

    def theirs():
        return (s.client.users.get("window") or {}).get("metadata") or {}
    # The window Blender asks its questions and joins first (slow drawing
    # under Xvfb on a busy machine), then snaps.
    s.wait_until(lambda: any(m["text"] == "w:snapped" for m in s.chat), 5 * T)
    s.wait_until(lambda: theirs().get("perspective") == "ORTHO" and theirs().get("frustum"), T)
    done("peer", window=theirs())
    s.send_chat("p:seen")
    s.wait_until(lambda: any(m["text"] == "w:following" for m in s.chat), T)
    s.set_view(VIEW_P2, lens=70.0, perspective="PERSP", view_distance=8.0)
    bpy.context.scene.frame_set(30)
    s.pump(0.2)
    # The window Blender still walks every error code, drawing each.
    s.wait_until(lambda: not (s.client.users.get("window") or {}).get("online"), 5 * T)
    s.disconnect()


class _Recording:
    """bpy for ui.py, but its window manager's progress_begin/update/end
    are recorded first: [[call, args, the status line then]]."""

    def __init__(self, api):
        self.calls, self._api = [], api
        outer = self

        class WM:
            def __getattr__(self, name):
                real = getattr(bpy.context.window_manager, name)
                if not name.startswith("progress_"):
                    return real

                def call(*args):
                    s = outer._api.active()
                    outer.calls.append([name, list(args), s.status if s else None])
                    return real(*args)
                return call

        class Context:
            window_manager = WM()

            def __getattr__(self, name):
                return getattr(bpy.context, name)
        self.context = Context()

    def __getattr__(self, name):
        return getattr(bpy, name)


def role_window(port, session, cache, codes):
    import blf
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
    # What the panels write (their long texts) and the names the overlay
    # draws in the viewport, as they are drawn.
    texts, names = [], []
    orig_wrapped, orig_blf_draw = ui.wrapped, blf.draw

    def wrapped(layout, text, *a, **kw):
        texts.append(text)
        return orig_wrapped(layout, text, *a, **kw)
    ui.wrapped = wrapped

    def blf_draw(fontid, text):
        names.append(text)
        return orig_blf_draw(fontid, text)
    blf.draw = blf_draw

    win = bpy.context.window_manager.windows[0]
    area = [a for a in win.screen.areas if a.type == "VIEW_3D"][0]
    region = [r for r in area.regions if r.type == "WINDOW"][0]
    space = area.spaces.active
    space.show_region_ui = True
    ctx = {"window": win, "screen": win.screen, "area": area}

    def redraw():
        del texts[:], names[:]
        with bpy.context.temp_override(**ctx):
            bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
        return list(texts), list(names)

    def key(type, **kw):
        x, y = region.x + region.width // 2, region.y + region.height // 2
        win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)    # over the viewport
        win.event_simulate(type=type, value="PRESS", x=x, y=y, **kw)
        win.event_simulate(type=type, value="RELEASE", x=x, y=y, **kw)

    yield 0.5
    key("ESC")          # the first start's splash
    yield 0.5
    st = bpy.context.window_manager.sessiond
    st.host, st.port, st.user = "127.0.0.1", port, "window"
    st.color = (0.2, 0.4, 1.0)
    local = sorted(o.name for o in bpy.data.objects)

    def connect(name):
        st.session = name
        with bpy.context.temp_override(**ctx):
            bpy.ops.sessiond.connect("INVOKE_DEFAULT")
        s = api.active()
        while s.join_question() is None:
            yield 0.05
        seen, _ = redraw()
        return s, seen

    print("window: Connect to an empty session", flush=True)     # where a slow run is
    # An empty session: the panel says the scene would be uploaded; Cancel.
    s, asked_empty = yield from connect("empty-" + session)
    with bpy.context.temp_override(**ctx):
        bpy.ops.sessiond.join_cancel()
    cancelled = {"active": api.active() is not None, "connected": s.client.connected,
                 "objects": sorted(o.name for o in bpy.data.objects),
                 "local": local}
    print("window: Connect to the peer's session", flush=True)
    # The peer's session: the panel names what replaces the local scene.
    s, asked = yield from connect(session)
    ui.bpy = _Recording(api)
    progress = ui.bpy.calls
    with bpy.context.temp_override(**ctx):
        bpy.ops.sessiond.join()
    while not s.joined or not progress or progress[-1][0] != "progress_end":
        yield 0.05
    ui.bpy = bpy

    print("window: snap to the peer", flush=True)
    def said(text):
        return any(m["text"] == text for m in s.chat)
    while not said("p:ready") or "view_matrix" not in (s.user_view("peer") or {}):
        yield 0.05
    while "frustum" not in ((s.client.users.get("peer") or {}).get("metadata") or {}):
        yield 0.05
    _, names_apart = redraw()
    s.snap_view("peer")
    _, names_together = redraw()
    r3d = space.region_3d
    # Drawn once: the region's own view matrix is the peer's.
    mine = [v for row in r3d.view_matrix.inverted() for v in row]
    snapped = {"view_matrix": mine, "perspective": r3d.view_perspective, "lens": space.lens}
    s.send_chat("w:snapped")
    while not said("p:seen"):
        redraw()
        yield 0.2

    print("window: follow, Esc", flush=True)
    # Follow (the Users panel's button), the peer moves, Esc stops it.
    def follow():
        with bpy.context.temp_override(region=region, **ctx):
            bpy.ops.sessiond.follow("INVOKE_DEFAULT", user="peer")
    follow()
    s.send_chat("w:following")
    scene = bpy.context.scene
    while scene.frame_current != 30 or not _close(s.collab.local()["view_matrix"], VIEW_P2):
        yield 0.05
    followed = {"following": s.following, "frame": scene.frame_current,
                "view_matrix": s.collab.local()["view_matrix"], "lens": space.lens}
    key("ESC")
    yield from until(lambda: s.following is None, "Esc to stop following")
    esc = {"message": s.messages[-1][1], "view_matrix": s.collab.local()["view_matrix"]}
    print("window: follow, orbit the view", flush=True)
    # Follow again; orbiting the view (numpad 6 over the viewport) stops it.
    follow()
    yield 0.3
    following_again = s.following
    key("NUMPAD_6")
    yield from until(lambda: s.following is None, "orbiting the view to stop following")
    moved = {"message": s.messages[-1][1], "following_again": following_again,
             "view_matrix": s.collab.local()["view_matrix"]}
    print("window: every error code", flush=True)
    # Every error code the server can send (the driver reads them from
    # docs/PROTOCOL.md), as a frame answering no request and as the answer
    # to a chat message: what the panel then says.
    said_errors = {}
    for code in codes:
        words = "chat.send: the server's words for %s" % code
        s.client._on_message({"type": "error", "code": code, "message": words})
        r = s.client.request("chat.send", text="walk " + code)
        yield from until(lambda: r.id is not None, "chat.send for %s sent" % code)
        s.client._on_message({"type": "error", "re": r.id, "code": code, "message": words})
        yield from until(lambda: sum(words in m for _, m in s.messages) >= 2,
                         "the panel's messages for " + code)
        seen, _ = redraw()
        said_errors[code] = [t for t in seen if words in t]

    done("window", snapped=snapped, draws=presence.stats["draws"],
         errors=presence.stats["errors"], panels=drawn, raised=raised,
         asked_empty=asked_empty, cancelled=cancelled, asked=asked, progress=progress,
         names_apart=names_apart, names_together=names_together,
         followed=followed, esc=esc, moved=moved, said=said_errors,
         messages=[m for _, m in s.messages])
    s.disconnect()
    bpy.ops.wm.quit_blender()


def until(pred, what, timeout=T):
    """Yield (for bpy.app.timers) until pred(); fail saying `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %.0f s" % (what, timeout))
        yield 0.05


def _close(a, b, eps=1e-4):
    return a is not None and len(a) == len(b) and all(abs(x - y) <= eps for x, y in zip(a, b))


def main():
    role, port, session, cache = scene_util.args()[:4]
    try:
        if role == "window":
            codes = scene_util.args()[4].split(",")
            scene_util.run_in_window(role_window(int(port), session, cache, codes))
        else:
            role_peer(int(port), session, cache)
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


main()
