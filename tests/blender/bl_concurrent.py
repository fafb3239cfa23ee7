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
  between  A edits between two pumps, as the UI timer runs them: a move, a
           vertex, a material's colour, an object linked into Props; the
           depsgraph's reports send them (no scan of every datablock)
           and B (and C) get each.
  random   every artist makes random edits (seeded) for SECONDS to the
           objects R*, the materials M* and the membership of R* in the
           collections K*, its connection dropped now and then; the last
           value each wrote to each property is reported (test_random.py).
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


def between_state():
    return {"location": [round(v, 4) for v in obj("Cube").location],
            "vertex": [round(v, 4) for v in bpy.data.meshes["CubeMesh"].vertices[0].co],
            "color": [round(v, 4) for v in bpy.data.materials["Red"].diffuse_color],
            "props": sorted(o.name for o in bpy.data.collections["Props"].objects)}


BETWEEN = {"location": [1.5, 0.0, 0.0], "vertex": [-2.0, -2.0, 0.5],
           "color": [1.0, 0.0, 0.0, 1.0], "props": ["Light", "Seed"]}


def case_between(role, s, others):
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        s.flush()
        ticks = lambda n: [s.pump(0.02) for _ in range(n)]
        ticks(5)
        full = s.bridge.full_scans
        edits = [lambda: setattr(obj("Cube"), "location", (1.5, 0.0, 0.0)),
                 lambda: setattr(bpy.data.meshes["CubeMesh"].vertices[0], "co", (-2.0, -2.0, 0.5)),
                 lambda: setattr(bpy.data.materials["Red"], "diffuse_color", (1, 0, 0, 1)),
                 lambda: bpy.data.collections["Props"].objects.link(obj("Light"))]
        for edit in edits:
            edit()
            ticks(3)
        done("between-a", full_scans=s.bridge.full_scans - full, state=between_state())
        s.send_chat("a:edited")
        for o in others:
            barrier(s, o + ":done")
    else:
        barrier(s, "a:edited")
        s.wait_until(lambda: between_state() == BETWEEN, T)
        s.send_chat(role + ":done")


# -- random ------------------------------------------------------------------
N_OBJ, N_MAT, N_COLL = 6, 3, 3


def build_random():
    scene = bpy.context.scene
    mats = [bpy.data.materials.new("M%d" % i) for i in range(N_MAT)]
    colls = []
    for i in range(N_COLL):
        k = bpy.data.collections.new("K%d" % i)
        scene.collection.children.link(k)
        colls.append(k)
    for i in range(N_OBJ):
        o = new_object("R%d" % i, scene.collection)
        o.data.materials.append(mats[i % N_MAT])
        colls[i % N_COLL].objects.link(o)


def vector(v, n=3):
    return [round(x, 5) for x in v[:n]]


def random_state():
    """Every property the random case edits: name -> value (floats to 5
    places, as written). A vector (location, a colour) is one property, as
    in Blender: an edit of one of its channels writes it whole. A
    membership is the property of the member."""
    out = {}
    for i in range(N_OBJ):
        o = obj("R%d" % i)
        for a in ("location", "scale"):
            out["R%d.%s" % (i, a)] = vector(getattr(o, a))
        for k in range(N_COLL):
            out["R%d.in.K%d" % (i, k)] = o.name in bpy.data.collections["K%d" % k].objects
    for i in range(N_MAT):
        m = bpy.data.materials["M%d" % i]
        out["M%d.diffuse_color" % i] = vector(m.diffuse_color)
        out["M%d.roughness" % i] = round(m.roughness, 5)
    return out


def random_edit(rng, value, wrote):
    """One random edit; `value` is unique to this artist and edit."""
    what = rng.random()
    if what < 0.5:
        i, a, j = rng.randrange(N_OBJ), rng.choice(("location", "scale")), rng.randrange(3)
        getattr(obj("R%d" % i), a)[j] = value
        wrote["R%d.%s" % (i, a)] = vector(getattr(obj("R%d" % i), a))
    elif what < 0.75:
        i = rng.randrange(N_MAT)
        m = bpy.data.materials["M%d" % i]
        if rng.random() < 0.75:
            j = rng.randrange(3)
            c = list(m.diffuse_color)
            c[j] = value
            m.diffuse_color = c
            wrote["M%d.diffuse_color" % i] = vector(m.diffuse_color)
        else:
            m.roughness = value
            wrote["M%d.roughness" % i] = round(value, 5)
    else:
        i, k = rng.randrange(N_OBJ), rng.randrange(N_COLL)
        o, coll = obj("R%d" % i), bpy.data.collections["K%d" % k]
        if o.name in coll.objects:
            coll.objects.unlink(o)
            wrote["R%d.in.K%d" % (i, k)] = False
        else:
            coll.objects.link(o)
            wrote["R%d.in.K%d" % (i, k)] = True


def case_random(role, s, others, seed, seconds):
    import random
    everyone = ["a"] + others
    if role == "a":
        for o in others:
            barrier(s, o + ":joined")
        done("initial", state=random_state())
        s.send_chat("a:go")
    else:
        barrier(s, "a:go")
    rng = random.Random("%s-%s" % (seed, role))
    base = (everyone.index(role) + 1) * 10000
    wrote = {}
    edits = drops = 0
    offline_until = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.monotonic()
        if offline_until is not None and now >= offline_until:
            go_online(s)
            offline_until = None
        elif offline_until is None and rng.random() < 0.004:
            go_offline(s)       # about once in 15 s, for 0.2 to 3 s
            drops += 1
            offline_until = now + rng.uniform(0.2, 3.0)
        for _ in range(rng.randrange(1, 4)):
            edits += 1
            random_edit(rng, (base + edits) / 100000.0, wrote)
        # The UI timer's pumps between edits (about 15 edits a second).
        for _ in range(rng.randrange(1, 8)):
            s.pump(1.0 / 60.0)
    if offline_until is not None:
        go_online(s)
    s.flush()
    done("wrote", wrote=wrote, edits=edits, drops=drops)
    s.send_chat(role + ":finished")
    for p in everyone:
        barrier(s, p + ":finished")


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
    # The version loaded into Blender (the bridge's), not the client's:
    # a node event read while sending a chat message is in the client's
    # model before the next pump hands it to the bridge.
    s.wait_until(lambda: all((s.bridge.versions.get(u) or 0) >= w for u, w in zip(ids, want))
                 and not s.bridge.dirty and not s.bridge.deferred and not s.bridge.updating, T)


def settle(s, role, everyone):
    """Every artist says the last sequence number of the session it has
    seen; each then waits until it has seen the highest, and has applied
    all it read (a node event read while a chat message was being sent
    waits in the client for the next pump)."""
    s.send_chat("%s:seq:%d" % (role, s.client.seq))
    want = 0
    for p in everyone:
        barrier_prefix(s, p + ":seq:")
        got = [m["text"] for m in s.chat if m["text"].startswith(p + ":seq:")][-1]
        want = max(want, int(got.split(":seq:")[1]))
    s.wait_until(lambda: s.client.seq >= want, T)
    s.pump(0.0)
    s.wait_until(lambda: not s.bridge.dirty and not s.bridge.deferred
                 and not s.bridge.updating, T)


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
            if case == "random":
                build_random()
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
        elif case == "between":
            case_between(role, s, others)
        elif case == "random":
            case_random(role, s, others, os.environ.get("SESSIOND_RANDOM_SEED", "0"),
                        float(os.environ.get("SESSIOND_RANDOM_SECONDS", "60")))
        elif case == "image":
            case_image(role, s, others, sync_dir)
        s.flush()
        if case in ("unsent", "sets"):
            converge(s, role, ["a"] + others,
                     [bpy.context.scene, bpy.data.collections["Props"]])
        if case != "join":      # a fresh join once the others are done
            settle(s, role, ["a"] + others)
        if case == "mesh":
            done("mesh", **mesh_state())
        elif case == "between":
            done("between", **between_state())
        elif case in ("random", "join"):
            done("state", state=random_state())
        elif case == "image":
            done("image", pixels=image_pixels())
        final(s, props_count=len(bpy.data.collections["Props"].objects))
        s.disconnect()
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


main()
