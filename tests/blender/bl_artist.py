"""Run inside `blender -b --python bl_artist.py -- ROLE PORT SESSION CACHE`:
one artist of the two/three-artist scenario, driven by test_scenarios.py.

Processes synchronise only through the server: a chat message is the
barrier ("a:moved" means A has flushed its move, so the update is already
before the chat message in the session's order). Each step prints
RESULT <tag> {"digest": ..., ...}; the driver compares the digests.
Between "pre-kill" and the reconnect the driver kills the server with
SIGKILL and starts it again on the same port.
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


def report(s, tag, **extra):
    import hashlib
    import json
    digest, summary, items = s.digest()
    # Each datablock's own hash, so that a mismatch names what differs.
    hashes = {"%s/%s" % (k, d.get("name", u)): hashlib.sha256(
        json.dumps(d, sort_keys=True).encode()).hexdigest()[:12] for k, u, d in items}
    done(tag, digest=digest, summary=summary, items=hashes, **extra)


def said(s, text):
    return lambda: any(m["text"] == text for m in s.chat)


def barrier(s, text):
    s.wait_until(said(s, text), T)


def obj(name):
    return bpy.data.objects.get(name)


def kill_phase(s, offline_edit):
    """Wait for the connection to drop (the driver kills the server), make
    an offline edit if asked, then wait for the resync."""
    c = s.client
    done("pre-kill", epoch=c.epoch)
    s.wait_until(lambda: c.status == "reconnecting", T)
    if offline_edit:
        obj("Ground").location = (-2.0, 3.0, 0.25)
        s.pump(0.0)
    s.wait_until(lambda: c.connected, T)
    return c.resume


def role_a(port, session, cache):
    scene = scene_util.build_scene()
    # Above 10,000 vertices a mesh travels as packed arrays (a blob).
    terrain = bpy.data.objects.new("Terrain", scene_util.grid_mesh("TerrainMesh", 110))
    terrain.location = (0.0, 0.0, -2.0)
    scene.collection.objects.link(terrain)
    terrain.hide_set(True)          # hidden in the viewport (H)
    s = sb.connect("127.0.0.1", port, session, "artist-a", color="#ff0000", cache_dir=cache)
    report(s, "built", initialized=s.client.initialized)
    barrier(s, "b:joined")

    obj("Ground").location = (3.0, 1.0, 0.5)
    s.flush()
    s.send_chat("a:moved")
    report(s, "moved")

    barrier(s, "b:edited")
    report(s, "edited", vertex0=list(bpy.data.meshes["CubeMesh"].vertices[0].co),
           objects=sorted(o.name for o in bpy.data.objects))

    barrier(s, "b:selected")
    sun = obj("Sun")
    owner = s.owner(sun)
    # B's presence shows its selection (and frame and mode).

    def b_presence():
        u = [x for x in s.users if x["name"] == "artist-b"]
        return (u[0].get("metadata") or {}) if u else {}
    s.wait_until(lambda: s.uuid_of(sun) in b_presence().get("selection", ()), T)
    presence = b_presence()
    n_msgs = len(s.messages)
    sun.location = (0.0, 0.0, 9.0)
    s.flush()
    s.wait_until(lambda: len(s.messages) > n_msgs, T)
    s.wait_until(lambda: tuple(obj("Sun").location) == (0.0, 0.0, 5.0), T)
    moved_msg = s.messages[-1][1]
    # Deleting it is refused too: it comes back, linked where it was.
    n_msgs = len(s.messages)
    bpy.data.objects.remove(obj("Sun"))
    s.flush()
    s.wait_until(lambda: len(s.messages) > n_msgs, T)
    s.wait_until(lambda: obj("Sun") is not None and "Sun" in bpy.data.collections["Props"].objects, T)
    done("lock", owner=owner, message=moved_msg, z=obj("Sun").location.z,
         deleted_msg=s.messages[-1][1], presence={k: presence.get(k) for k in ("frame", "mode")})
    s.send_chat("a:tried")

    barrier(s, "b:released")
    task = s.create_task("Light the scene", node=s.uuid_of(obj("Sun")), assignee="artist-b")
    s.send_chat("a:task")
    barrier(s, "b:got-task")
    done("task", id=task["id"], chat=[m["text"] for m in s.chat if m["user"] == "artist-b"])

    bpy.data.objects.remove(obj("Camera"))
    # A copy keeps the custom properties, the uuid included: it must
    # become a node of its own.
    dup = obj("Sun").copy()
    dup.location.x = 4.0
    bpy.data.collections["Props"].objects.link(dup)
    s.flush()
    s.send_chat("a:deleted")
    report(s, "deleted")

    barrier(s, "b:ready-for-kill")
    resume = kill_phase(s, offline_edit=True)
    s.flush()
    s.send_chat("a:back")
    report(s, "restarted", resume=resume)

    barrier(s, "c:joined")
    report(s, "final")
    s.send_chat("a:bye")
    barrier(s, "b:bye")
    s.disconnect()


def role_b(port, session, cache):
    s = sb.connect("127.0.0.1", port, session, "artist-b", color="#00ff00", cache_dir=cache)
    with_blobs = sorted(n["kind"] for n in s.client.nodes.values() if n.get("blobs"))
    report(s, "joined", initialized=s.client.initialized,
           objects=sorted(o.name for o in bpy.data.objects),
           blobs_supported=s.client.blobs_supported, with_blobs=with_blobs,
           terrain_vertices=len(bpy.data.meshes["TerrainMesh"].vertices),
           terrain_hidden=obj("Terrain").hide_get())
    s.send_chat("b:joined")

    barrier(s, "a:moved")
    report(s, "moved", location=list(obj("Ground").location))

    me = bpy.data.meshes["CubeMesh"]
    me.vertices[0].co = (-1.5, -1.25, -1.0)
    obj("Mover").name = "Slider"        # identity is the uuid: a rename replicates
    s.flush()
    s.send_chat("b:edited")
    report(s, "edited", vertex0=list(me.vertices[0].co))

    obj("Sun").select_set(True)
    s.flush()
    s.wait_until(lambda: s.owner(obj("Sun")) == "artist-b", T)
    s.send_chat("b:selected")
    barrier(s, "a:tried")
    done("lock-b", z=obj("Sun").location.z, owner=s.owner(obj("Sun")))
    obj("Sun").select_set(False)
    s.flush()
    s.wait_until(lambda: s.owner(obj("Sun")) is None, T)
    s.send_chat("b:released")

    barrier(s, "a:task")
    s.wait_until(lambda: any(t["title"] == "Light the scene" for t in s.tasks), T)
    task = [t for t in s.tasks if t["title"] == "Light the scene"][0]
    s.send_chat("on it")
    s.send_chat("b:got-task")
    done("task-b", task=task, sun=s.uuid_of(obj("Sun")))

    barrier(s, "a:deleted")
    report(s, "deleted", camera=obj("Camera") is not None,
           suns=sorted((o.name, o.location.x) for o in bpy.data.objects if o.name.startswith("Sun")))

    s.send_chat("b:ready-for-kill")
    resume = kill_phase(s, offline_edit=False)
    barrier(s, "a:back")
    report(s, "restarted", resume=resume, location=list(obj("Ground").location))

    barrier(s, "c:joined")
    report(s, "final")
    barrier(s, "a:bye")
    s.send_chat("b:bye")
    s.disconnect()


def role_c(port, session, cache):
    s = sb.connect("127.0.0.1", port, session, "artist-c", cache_dir=cache)
    report(s, "final", users=sorted(u["name"] for u in s.users if u.get("online")))
    s.send_chat("c:joined")
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
