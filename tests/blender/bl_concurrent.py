"""Run inside Blender: `--python bl_concurrent.py -- CASE ROLE PORT SESSION
CACHE DIR`: one artist of a concurrent-editing case, driven by
test_concurrent.py. Processes synchronise through chat messages on the
server; while one is offline, through files in DIR. Each case ends with
RESULT final {"digest": ..., ...}.

Cases (the numbers of the merge rules in clients/blender/README.md):
  unsent   A moves the Cube and flushes; B, which has not applied it yet,
           scales the Cube and adds an object to the scene, then pumps:
           both keep A's move, B's scale and both scene members.
  offline  A drops its connection, moves the Cube and the Light; B scales
           the Cube meanwhile; A comes back: both keep all three edits.
  sets     A and B (and C) each add an object to the collection Props at
           the same moment: every object is in it on every side.
  big      A publishes 1,500 objects in one collection; B joins and has
           them all in it.
  mesh     A shades a face smooth, changes a face's material index and
           turns a face's corners (same counts): B (and C) get all three.
  image    A's image file is re-saved by another program and reloaded:
           B (and C) get the new pixels.
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


def barrier(s, text):
    s.wait_until(lambda: any(m["text"] == text for m in s.chat), T)


def raw_wait(s, text):
    """Wait for a chat message reading the network only: nothing that
    arrives is applied to bpy.data and nothing local is sent, as when the
    UI timer has not run yet."""
    c = s.client
    deadline = time.monotonic() + T
    while not any(m["text"] == text for m in c.chat):
        if time.monotonic() > deadline:
            raise TimeoutError("no %r" % text)
        c.pump(0.02)


def obj(name):
    return bpy.data.objects.get(name)


def final(s, **extra):
    digest, summary, items = s.digest()
    if os.environ.get("SESSIOND_SHOW_ITEMS"):
        print("ITEMS", items)
    cube, light = obj("Cube"), obj("Light")
    done("final", digest=digest, summary=summary,
         cube_location=[round(v, 4) for v in cube.location] if cube else None,
         cube_scale=[round(v, 4) for v in cube.scale] if cube else None,
         light_location=[round(v, 4) for v in light.location] if light else None,
         scene_objects=sorted(o.name for o in bpy.context.scene.collection.objects),
         props=sorted(o.name for o in bpy.data.collections["Props"].objects)
         if "Props" in bpy.data.collections else None, **extra)


def build():
    scene_util.clear_scene()
    scene = bpy.context.scene
    cube = bpy.data.objects.new("Cube", scene_util.grid_mesh("CubeMesh", 3))
    for name in ("Red", "Blue"):
        cube.data.materials.append(bpy.data.materials.new(name))
    scene.collection.objects.link(cube)
    light = bpy.data.objects.new("Light", bpy.data.lights.new("LightData", "POINT"))
    scene.collection.objects.link(light)
    props = bpy.data.collections.new("Props")
    scene.collection.children.link(props)
    props.objects.link(bpy.data.objects.new("Seed", scene_util.grid_mesh("SeedMesh", 2)))


def connect(role, port, session, cache):
    return sb.connect("127.0.0.1", port, session, "artist-" + role, cache_dir=cache)


def new_object(name, coll):
    o = bpy.data.objects.new(name, scene_util.grid_mesh(name + "Mesh", 2))
    coll.objects.link(o)
    return o


def go_offline(s):
    c = s.client
    c.ws.abort()
    c._on_close(1006, "dropped by the test")
    c.reconnect_at = None           # stays offline until go_online


def go_online(s):
    c = s.client
    c.reconnect_at = time.monotonic()
    s.wait_until(lambda: c.connected, T)


def wait_file(s, path):
    deadline = time.monotonic() + T
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("no " + path)
        s.pump(0.02)


def case_unsent(role, s, others):
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        obj("Cube").location.x = 3.0
        new_object("FromA", bpy.context.scene.collection)
        s.flush()
        s.send_chat("a:moved")
    else:
        raw_wait(s, "a:moved")
        # A's move and new object are in the client's model, not yet in
        # bpy.data: edits made now are unsent local changes.
        obj("Cube").scale = (2.0, 2.0, 2.0)
        new_object("From" + role.upper(), bpy.context.scene.collection)
        s.pump(0.0)             # applies A's changes, then scans
        s.flush()
        s.send_chat(role + ":done")
    if role == "a":
        for o in others:
            barrier(s, o + ":done")
        s.send_chat("a:end")
    else:
        barrier(s, "a:end")


def case_offline(role, s, others, sync_dir):
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        go_offline(s)
        obj("Cube").location.x = 5.0
        obj("Light").location.x = 7.0
        s.pump(0.0)
        open(os.path.join(sync_dir, "a-offline"), "w").close()
        for o in others:
            wait_file(s, os.path.join(sync_dir, o + "-edited"))
        go_online(s)
        s.flush()
        s.send_chat("a:back")
        for o in others:
            barrier(s, o + ":done")
        s.send_chat("a:end")
    else:
        wait_file(s, os.path.join(sync_dir, "a-offline"))
        if role == "b":
            obj("Cube").scale = (3.0, 3.0, 3.0)
        else:
            obj("Light").scale = (4.0, 4.0, 4.0)
        s.flush()
        open(os.path.join(sync_dir, role + "-edited"), "w").close()
        barrier(s, "a:back")
        s.flush()
        s.send_chat(role + ":done")
        barrier(s, "a:end")


def case_sets(role, s, others):
    everyone = ["a"] + others
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        s.send_chat("a:go")
    else:
        raw_wait(s, "a:go")
    # Every artist adds an object to Props without seeing the others'.
    new_object("From" + role.upper(), bpy.data.collections["Props"])
    s.client.call("chat.send", text=role + ":ready")
    raw_wait_all(s, [p + ":ready" for p in everyone])
    s.flush()
    s.send_chat(role + ":sent")
    for p in everyone:
        barrier(s, p + ":sent")
    s.flush()
    s.send_chat(role + ":done")
    for p in everyone:
        barrier(s, p + ":done")


def raw_wait_all(s, texts):
    for t in texts:
        raw_wait(s, t)


def case_big(role, s, others):
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        s.send_chat("a:end")
    else:
        barrier(s, "a:end")


def mesh_state():
    me = bpy.data.meshes["CubeMesh"]
    return {"smooth": [p.use_smooth for p in me.polygons],
            "material_index": [p.material_index for p in me.polygons],
            "face0": list(me.polygons[0].vertices)}


def case_mesh(role, s, others):
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        me = bpy.data.meshes["CubeMesh"]
        me.polygons[0].use_smooth = True
        me.polygons[1].material_index = 1
        # The first face's corners turned by one: same counts, other topology.
        p = me.polygons[0]
        verts = [me.loops[i].vertex_index for i in range(p.loop_start, p.loop_start + p.loop_total)]
        for k, i in enumerate(range(p.loop_start, p.loop_start + p.loop_total)):
            me.loops[i].vertex_index = verts[(k + 1) % len(verts)]
        me.update()
        s.flush()
        s.send_chat("a:edited")
    else:
        barrier(s, "a:edited")


def image_pixels():
    img = bpy.data.images["Paint"]
    return [round(v, 3) for v in img.pixels[:24]]


def case_image(role, s, others, sync_dir):
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        img = bpy.data.images["Paint"]
        before = image_pixels()
        while image_pixels() == before:
            scene_util.png_rgb(bpy.path.abspath(img.filepath), 16)   # another program saves
            img.reload()
        s.flush()
        s.send_chat("a:edited")
    else:
        barrier(s, "a:edited")
        # The new bytes download after the change arrived.
        s.wait_until(lambda: s.bridge.waiting == 0 and len(image_pixels()) == 24, T)


def converge(s, role, everyone, names):
    """Every artist says the versions it last saw of the nodes `names`
    (datablocks); each then waits until it holds at least the highest
    of them, applied: the barrier does not depend on how the server
    orders chat messages and node events of different senders."""
    ids = [s.uuid_of(idb) for idb in names]
    mine = [s.client.nodes[u].get("version", 0) for u in ids]
    s.send_chat("%s:v:%s" % (role, ",".join(map(str, mine))))
    want = [0] * len(ids)
    for p in everyone:
        barrier_prefix(s, p + ":v:")
        got = [m["text"] for m in s.chat if m["text"].startswith(p + ":v:")][-1]
        want = [max(w, int(v)) for w, v in zip(want, got.split(":v:")[1].split(","))]
    s.wait_until(lambda: all(s.client.nodes[u].get("version", 0) >= w for u, w in zip(ids, want))
                 and not s.bridge.dirty and not s.bridge.deferred and not s.bridge.updating, T)


def barrier_prefix(s, prefix):
    s.wait_until(lambda: any(m["text"].startswith(prefix) for m in s.chat), T)


def main():
    case, role, port, session, cache, sync_dir = scene_util.args()[:6]
    others_all = scene_util.args()[6].split(",")
    try:
        n_big = 1500
        if role == "a":
            build()
            if case == "image":
                path = os.path.join(sync_dir, "paint.png")
                scene_util.png_rgb(path, 16)
                img = bpy.data.images.load(path)
                mat = bpy.data.materials.new("PaintMat")
                mat.use_nodes = True
                tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
                tex.image = img
                img.name = "Paint"
                bpy.data.objects["Cube"].data.materials.append(mat)
            if case == "big":
                props = bpy.data.collections["Props"]
                mesh = scene_util.grid_mesh("BigMesh", 2)
                for i in range(n_big):
                    props.objects.link(bpy.data.objects.new("Big%04d" % i, mesh))
        else:
            scene_util.clear_scene()
        s = connect(role, int(port), session, cache)
        others = [o for o in others_all if o != "a"]     # every artist but A
        if role != "a":
            s.send_chat(role + ":joined")
        else:
            done("published")
        if case == "unsent":
            case_unsent(role, s, others)
        elif case == "offline":
            case_offline(role, s, others, sync_dir)
        elif case == "sets":
            case_sets(role, s, others)
        elif case == "big":
            case_big(role, s, others)
        elif case == "mesh":
            case_mesh(role, s, others)
            done("mesh", **mesh_state())
        elif case == "image":
            case_image(role, s, others, sync_dir)
            done("image", pixels=image_pixels())
        s.flush()
        if case in ("unsent", "sets"):
            converge(s, role, ["a"] + others,
                     [bpy.context.scene, bpy.data.collections["Props"]])
        final(s, props_count=len(bpy.data.collections["Props"].objects))
        s.disconnect()
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


main()
