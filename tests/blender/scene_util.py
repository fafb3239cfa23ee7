"""In-Blender helpers shared by the test scripts: the add-on on sys.path,
arguments after "--", a test scene with every replicated kind."""

import array
import math
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "clients", "blender"))

import bpy  # noqa: E402

if os.environ.get("SESSIOND_LINECOV"):
    import linecov  # noqa: E402,F401  (guard_coverage.py: lines run, per version)


def args():
    argv = sys.argv
    return argv[argv.index("--") + 1:] if "--" in argv else []


def clear_scene():
    """The factory scene without its objects and data."""
    bpy.data.batch_remove(list(bpy.data.objects))
    for coll in ("meshes", "materials", "cameras", "lights", "images", "actions",
                 "collections", "worlds"):
        bpy.data.batch_remove(list(getattr(bpy.data, coll)))


def grid_mesh(name, n):
    """A mesh of about n*n vertices: an (n x n) grid of quads, with UVs."""
    me = bpy.data.meshes.new(name)
    verts = [(x / n, y / n, math.sin(x * 0.1) * 0.1) for y in range(n) for x in range(n)]
    faces = [(y * n + x, y * n + x + 1, (y + 1) * n + x + 1, (y + 1) * n + x)
             for y in range(n - 1) for x in range(n - 1)]
    me.from_pydata(verts, [], faces)
    uv = me.uv_layers.new(name="UVMap")
    co = array.array("f", [0.0]) * (len(me.loops) * 2)
    for i, l in enumerate(me.loops):
        v = verts[l.vertex_index]
        co[2 * i], co[2 * i + 1] = v[0], v[1]
    uv.data.foreach_set("uv", co)
    me.update()
    return me


def textured_image(name, size):
    img = bpy.data.images.new(name, size, size)
    px = array.array("f", [0.0]) * (size * size * 4)
    for i in range(0, len(px), 4):
        p = i // 4
        px[i] = (p % size) / size
        px[i + 1] = (p // size) / size
        px[i + 2] = 0.5
        px[i + 3] = 1.0
    img.pixels.foreach_set(px)
    img.pack()
    return img


def build_scene(mesh_n=8, image_size=16):
    """A mesh with a textured material, a camera, a light, a collection,
    an animated object, a world."""
    clear_scene()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 48
    scene.render.resolution_x, scene.render.resolution_y = 640, 360

    img = textured_image("Checker", image_size)
    mat = bpy.data.materials.new("Textured")
    mat.use_nodes = True
    tree = mat.node_tree
    bsdf = tree.nodes.get("Principled BSDF")
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.name = "Texture"
    tex.image = img
    tex.location = (-300, 200)
    tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.25

    me = grid_mesh("Ground", mesh_n)
    me.materials.append(mat)
    ground = bpy.data.objects.new("Ground", me)
    ground.location = (0.5, -1.0, 0.0)
    mod = ground.modifiers.new("Bevel", "BEVEL")
    mod.width = 0.05
    scene.collection.objects.link(ground)

    cam = bpy.data.cameras.new("Cam")
    cam.lens = 35.0
    cam_ob = bpy.data.objects.new("Camera", cam)
    cam_ob.location = (4.0, -4.0, 3.0)
    cam_ob.rotation_euler = (1.1, 0.0, 0.8)
    scene.collection.objects.link(cam_ob)
    scene.camera = cam_ob

    light = bpy.data.lights.new("Sun", "SUN")
    light.energy = 3.0
    light_ob = bpy.data.objects.new("Sun", light)
    light_ob.location = (0.0, 0.0, 5.0)

    props = bpy.data.collections.new("Props")
    scene.collection.children.link(props)
    props.objects.link(light_ob)

    cube_me = bpy.data.meshes.new("CubeMesh")
    cube_me.from_pydata([(-1, -1, -1), (1, -1, -1), (1, 1, -1), (-1, 1, -1),
                         (-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)], [],
                        [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2),
                         (2, 6, 7, 3), (3, 7, 4, 0)])
    cube = bpy.data.objects.new("Mover", cube_me)
    cube.parent = ground
    props.objects.link(cube)
    cube.location = (0.0, 0.0, 1.0)
    cube.keyframe_insert("location", frame=1)
    cube.location = (2.0, 0.0, 1.0)
    cube.keyframe_insert("location", frame=24)
    cube.location = (0.0, 0.0, 1.0)

    world = bpy.data.worlds.new("Sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.7
    scene.world = world
    return scene


def png_rgb(path, size):
    """A size x size RGB PNG of low-entropy noise (4 bits per channel)
    written with zlib: realistic compressed size, made in a second."""
    table = bytes(range(16)) * 16
    raw = bytearray()
    noise = os.urandom(size * 3 * 64)
    for y in range(size):
        off = (y * 7919 * 3) % (len(noise) - size * 3)
        raw += b"\x00" + noise[off:off + size * 3].translate(table)
    def chunk(t, d):
        c = struct.pack("!I", len(d)) + t + d
        return c + struct.pack("!I", zlib.crc32(t + d) & 0xffffffff)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", size, size, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(bytes(raw), 1)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def group_socket(tree, in_out, socket_type, name):
    """A node group's input or output socket (Blender 4.0 moved them from
    tree.inputs/outputs to tree.interface)."""
    if hasattr(tree, "interface"):
        return tree.interface.new_socket(name, in_out=in_out, socket_type=socket_type)
    return (tree.inputs if in_out == "INPUT" else tree.outputs).new(socket_type, name)


def remove_group_socket(tree, in_out, name):
    """Removes a node group's input or output socket by name."""
    if hasattr(tree, "interface"):
        tree.interface.remove([s for s in tree.interface.items_tree
                               if getattr(s, "in_out", "") == in_out and s.name == name][0])
    else:
        coll = tree.inputs if in_out == "INPUT" else tree.outputs
        coll.remove(coll[name])


def run_in_window(gen):
    """Steps the generator `gen` from a timer every time it yields (the
    seconds until the next step), as a Blender with a window runs
    scripts; an exception ends Blender with an "error" result."""
    import os
    import sys
    import traceback

    import bpy

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


def done(tag, **fields):
    """One line the driver reads: RESULT <tag> <json>."""
    import json
    print("RESULT %s %s" % (tag, json.dumps(fields, sort_keys=True)), flush=True)
