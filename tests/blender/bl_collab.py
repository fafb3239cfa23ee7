"""Run inside Blender (`blender -b --python bl_collab.py -- ROLE PORT SESSION
CACHE`): one artist of the working-together scenario of test_collab.py.
Only the script API is used (there is no viewport: views are the stored
ones), so this runs wherever the add-on runs.

A (admin) builds Cube, Sphere and a Terrain large enough to travel as a
blob; B joins watching its progress; B snaps to A's view and frame, then
follows A until it moves its own view; B asks A for the Cube (refused, then
given), A as admin releases it; C (late) sees who holds what through the
filters; a refused edit is said in words. Processes synchronise through
chat messages (barriers), never through sleeps.
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
VIEW_A = [1, 0, 0, 2.0, 0, 1, 0, -3.0, 0, 0, 1, 4.0, 0, 0, 0, 1]
VIEW_A2 = [0, -1, 0, 5.0, 1, 0, 0, 1.0, 0, 0, 1, 7.5, 0, 0, 0, 1]
VIEW_B = [1, 0, 0, 9.0, 0, 1, 0, 9.0, 0, 0, 1, 9.0, 0, 0, 0, 1]


def said(s, text):
    return lambda: any(m["text"] == text for m in s.chat)


def barrier(s, text):
    s.wait_until(said(s, text), T)


def obj(name):
    return bpy.data.objects[name]


def role_a(port, session, cache):
    scene_util.clear_scene()
    scene = bpy.context.scene
    for name, mesh in (("Cube", scene_util.grid_mesh("CubeMesh", 3)),
                       ("Sphere", scene_util.grid_mesh("SphereMesh", 4)),
                       ("Terrain", scene_util.grid_mesh("TerrainMesh", 110))):
        scene.collection.objects.link(bpy.data.objects.new(name, mesh))
    scene.frame_set(12)
    s = sb.connect("127.0.0.1", port, session, "artist-a", admin_password="adm",
                   color="#ff0000", cache_dir=cache)
    s.set_view(VIEW_A, lens=35.0, perspective="ORTHO", view_distance=6.0)
    s.pump(0.0)
    done("a-ready", role=s.client.role)

    barrier(s, "b:snapped")
    s.set_view(VIEW_A2, lens=70.0, perspective="PERSP")
    scene.frame_set(30)
    s.pump(0.2)
    s.send_chat("a:moved")

    barrier(s, "b:followed")
    # Requests: A holds the Cube, B asks, A refuses, B asks again, A gives.
    obj("Cube").select_set(True)
    s.flush()
    s.wait_until(lambda: s.owner(obj("Cube")) == "artist-a", T)
    s.send_chat("a:holds")
    cube = s.uuid_of(obj("Cube"))
    s.wait_until(lambda: ("artist-b", cube) in s.lock_requests, T)
    first = list(s.lock_requests)
    s.refuse_lock(cube, "artist-b")
    s.pump(0.2)
    s.wait_until(lambda: not s.lock_requests, T)
    barrier(s, "b:refused")
    s.wait_until(lambda: ("artist-b", cube) in s.lock_requests, T)
    s.give_lock(cube, "artist-b")
    s.wait_until(lambda: s.owner(obj("Cube")) == "artist-b", T)
    done("a-locks", first=first, cube=cube, selected=obj("Cube").select_get())
    # The Sphere is mine; B's edit of it is refused in words.
    obj("Sphere").select_set(True)
    s.flush()
    s.wait_until(lambda: s.owner(obj("Sphere")) == "artist-a", T)
    s.send_chat("a:sphere")
    barrier(s, "b:tried")
    # Admin: take the Cube away from B.
    r = s.release_lock(cube)
    s.wait_until(lambda: r.done, T)
    s.wait_until(lambda: s.owner(obj("Cube")) is None, T)
    s.send_chat("a:released")
    barrier(s, "c:listed")
    done("a-mine", mine=[x[1] for x in s.locks("mine")], release_ok=r.ok)
    s.send_chat("a:bye")
    barrier(s, "b:bye")
    s.disconnect()


def role_b(port, session, cache):
    scene_util.clear_scene()
    s = sb.api.make_session("127.0.0.1", port, session, "artist-b", color="#00ff00",
                            cache_dir=cache)
    s.begin()
    seen = []
    while not s.step():
        p = s.progress()
        if not seen or seen[-1]["phase"] != p["phase"] or seen[-1]["nodes"] != p["nodes"]:
            seen.append(dict(p, status=s.status))
        s.client.pump(0.02)
    final = dict(s.progress(), status=s.status)
    sb.api._active = s

    s.wait_until(lambda: "view_matrix" in (s.user_view("artist-a") or {}), T)
    view = s.snap_view("artist-a")
    frame = s.snap_time("artist-a")
    done("b-join", seen=seen, final=final, view=view, frame=frame,
         scene_frame=bpy.context.scene.frame_current, mine=s.view)
    s.pump(0.0)
    s.send_chat("b:snapped")

    s.follow("artist-a")
    barrier(s, "a:moved")
    s.wait_until(lambda: bpy.context.scene.frame_current == 30, T)
    s.wait_until(lambda: (s.view or {}).get("view_matrix") == [float(v) for v in VIEW_A2], T)
    followed = {"frame": bpy.context.scene.frame_current, "view": s.view,
                "following": s.following}
    s.set_view(VIEW_B)                  # B moves its own view: following stops
    s.pump(0.0)
    done("b-follow", followed=followed, following_after=s.following,
         view_after=s.view["view_matrix"])
    s.send_chat("b:followed")

    barrier(s, "a:holds")
    cube = obj("Cube")
    asked_free = s.request_lock(obj("Sphere"))      # nobody holds it: nothing to ask
    asked = s.request_lock(cube)
    n = len(s.messages)
    s.wait_until(lambda: len(s.messages) > n and "refused" in s.messages[-1][1], T)
    refused_msg = s.messages[-1][1]
    s.send_chat("b:refused")
    s.request_lock(cube)
    s.wait_until(lambda: s.owner(cube) == "artist-b", T)
    done("b-locks", asked=asked, asked_free=asked_free, refused=refused_msg,
         selected=cube.select_get(), mine=[x[1] for x in s.locks("mine")])

    barrier(s, "a:sphere")
    # A's Sphere cannot become B's active object.
    bpy.context.view_layer.objects.active = obj("Sphere")
    s.pump(0.0)
    active_after = bpy.context.view_layer.objects.active
    active_msg = s.messages[-1][1]
    n = len(s.messages)
    obj("Sphere").location = (0.0, 0.0, 3.0)
    s.flush()
    s.wait_until(lambda: len(s.messages) > n, T)
    s.wait_until(lambda: tuple(obj("Sphere").location) == (0.0, 0.0, 0.0), T)
    edit_msg = [m for _, m in s.messages[n:]]
    s.send_chat("b:tried")

    barrier(s, "a:released")
    s.flush()
    s.pump(0.2)
    done("b-released", owner=s.owner(cube), selected=cube.select_get(), edit_msg=edit_msg,
         active_after=active_after and active_after.name, active_msg=active_msg)
    barrier(s, "a:bye")
    s.send_chat("b:bye")
    s.disconnect()


def role_c(port, session, cache):
    scene_util.clear_scene()
    # Wrong admin password: the status line is a sentence, not a traceback.
    bad = sb.api.make_session("127.0.0.1", port, session, "artist-c", admin_password="nope",
                              cache_dir=cache)
    bad.begin()
    while bad.client.status != "error":
        bad.client.pump(0.02)
    refused = bad.status
    bad.client.disconnect()
    s = sb.connect("127.0.0.1", port, session, "artist-c", cache_dir=cache)
    s.wait_until(lambda: s.owner(obj("Cube")) is None
                 and s.owner(obj("Sphere")) == "artist-a", T)
    done("c-locks", refused=refused,
         others=[(x[1], x[3]) for x in s.locks("others")],
         free=[x[1] for x in s.locks("free")], mine=s.locks("mine"),
         all=sorted(x[1] for x in s.locks("all")))
    s.send_chat("c:listed")
    s.disconnect()


def main():
    role, port, session, cache = scene_util.args()[:4]
    try:
        {"a": role_a, "b": role_b, "c": role_c}[role](int(port), session, cache)
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


main()
