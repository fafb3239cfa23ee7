"""Run inside a Blender (any version) as one side of a mixed-version
session, driven by test_mixed.py: `-- ROLE PORT SESSION CACHE`.

ROLE new (the newer Blender) builds a scene with what only it has: an EEVEE
Next material (BLENDED, transparent shadows; in 4.x/5.x), Principled inputs
4.0 introduced, for a 4.4+ Blender an action with two slots (Mover through
the first, Sun through the second), the EEVEE engine. ROLE old joins,
reports what it sees in its own terms, edits the material, the first slot's
keys, adds an animated object and a 3.x-only input; the new side reports
that its own settings were kept and the edits arrived. Values are
reported as each Blender names them; test_mixed.py compares.
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
V = bpy.app.version
SLOTTED = V >= (4, 4, 0)
NEXT = V >= (4, 2, 0)
OLD_PRINCIPLED = V < (4, 0, 0)


def barrier(s, text):
    s.wait_until(lambda: any(m["text"] == text for m in s.chat), T)


def bsdf():
    return bpy.data.materials["Textured"].node_tree.nodes["Principled BSDF"]


def inp(name):
    """A Principled input by its 4.0+ name, in this Blender's terms."""
    old = {"Coat Weight": "Clearcoat", "Emission Color": "Emission",
           "Transmission Weight": "Transmission", "Specular IOR Level": "Specular"}
    n = bsdf().inputs
    return n[old.get(name, name)] if OLD_PRINCIPLED else n[name]


def val(v):
    return [round(float(x), 4) for x in v] if hasattr(v, "__len__") else round(float(v), 4)


def at_frame(name, frame):
    scene = bpy.context.scene
    scene.frame_set(frame)
    loc = [round(x, 4) for x in bpy.data.objects[name].matrix_world.translation]
    scene.frame_set(1)
    return loc


def material_view():
    m = bpy.data.materials["Textured"]
    out = {"coat": val(inp("Coat Weight").default_value),
           "roughness": val(inp("Roughness").default_value),
           "emission": val(inp("Emission Color").default_value)}
    if NEXT:
        out["render"] = [m.surface_render_method, m.use_transparent_shadow]
    else:
        out["render"] = [m.blend_method, m.shadow_method]
    return out


def ao(value=None):
    """The Second scene's EEVEE ambient occlusion distance (set to `value`
    if given): the scene's setting before 5.0, its first view layer's from
    5.0."""
    scene = bpy.data.scenes["Second"]
    st, k = scene.view_layers[0].eevee, "ambient_occlusion_distance"
    if not hasattr(st, k):
        st, k = scene.eevee, "gtao_distance"
    if value is not None:
        setattr(st, k, value)
    return round(getattr(st, k), 4)


def node_data(s, idb):
    return s.node(idb)["data"]


def role_new(port, session, cache):
    class ThirdPartyEngine(bpy.types.RenderEngine):
        """A render engine only the newer Blender has (an add-on's)."""
        bl_idname = "SESSIOND_TEST_ENGINE"
        bl_label = "Test engine"

    scene = scene_util.build_scene()
    bpy.utils.register_class(ThirdPartyEngine)
    scene.render.engine = "SESSIOND_TEST_ENGINE"
    second = bpy.data.scenes.new("Second")
    second.render.engine = "BLENDER_EEVEE_NEXT" if (4, 2, 0) <= V < (5, 0, 0) else "BLENDER_EEVEE"
    ao(0.7)
    # 4.1+ auto smooth is a modifier with a geometry node group (not shared):
    # an edit of the object elsewhere must not take the group away.
    smooth = bpy.data.objects["Ground"].modifiers.new("Smooth by Angle", "NODES")
    smooth.node_group = bpy.data.node_groups.new("Smooth by Angle", "GeometryNodeTree")
    # Objects whose data is of a kind that is not shared (Grease Pencil, v3
    # from 4.3; a text) stay here, linked where they are, and an object
    # parented to one keeps its parent.
    props = bpy.data.collections["Props"]
    gps = bpy.data.grease_pencils_v3 if hasattr(bpy.data, "grease_pencils_v3") else \
        bpy.data.grease_pencils
    sketch = bpy.data.objects.new("Sketch", gps.new("Sketch"))
    props.objects.link(sketch)
    title = bpy.data.objects.new("Title", bpy.data.curves.new("Title", "FONT"))
    props.objects.link(title)
    bpy.data.objects["Camera"].parent = sketch
    bpy.data.lights["Sun"].exposure = 1.5      # 4.5+: not in 3.4 or 4.2
    m = bpy.data.materials["Textured"]
    m.surface_render_method = "BLENDED"
    m.use_transparent_shadow = True
    inp("Coat Weight").default_value = 0.3
    inp("Coat Tint").default_value = (0.2, 0.4, 0.6, 1.0)     # 4.0+ only
    inp("Thin Film Thickness").default_value = 250.0          # 4.2+ only
    extra = {}
    if "Diffuse Roughness" in bsdf().inputs:                  # 4.3+ only
        inp("Diffuse Roughness").default_value = 0.7
        extra["diffuse_roughness"] = True
    if SLOTTED:
        mover, sun = bpy.data.objects["Mover"], bpy.data.objects["Sun"]
        action = mover.animation_data.action
        slot = action.slots.new(id_type="OBJECT", name="Sun")
        ad = sun.animation_data_create()
        ad.action = action
        ad.action_slot = slot
        sun.location = (0.0, 0.0, 5.0)
        sun.keyframe_insert("location", frame=1)
        sun.location = (0.0, 0.0, 7.0)
        sun.keyframe_insert("location", frame=24)
        sun.location = (0.0, 0.0, 5.0)
        extra["slots"] = [sl.identifier for sl in action.slots]
        extra["sun_24"] = at_frame("Sun", 24)
    s = sb.connect("127.0.0.1", port, session, "new", cache_dir=cache)
    done("built", version=list(V), material=material_view(), mover_24=at_frame("Mover", 24),
         sketch_type=sketch.type, ao=ao(),
         **extra)
    barrier(s, "old:edited")
    s.wait_until(lambda: val(inp("Roughness").default_value) == 0.6, T)
    s.wait_until(lambda: "Bouncer" in bpy.data.objects, T)
    s.wait_until(lambda: ao() == 0.9, T)
    s.wait_until(lambda: "Plain" in bpy.data.materials, T)
    plain = bpy.data.materials["Plain"]
    mat = node_data(s, bpy.data.materials["Textured"])
    p = [n for n in mat["tree"]["nodes"] if n["type"] == "ShaderNodeBsdfPrincipled"][0]
    after = dict(material=material_view(), mover_24=at_frame("Mover", 24),
                 bouncer_12=at_frame("Bouncer", 12),
                 coat_tint=val(inp("Coat Tint").default_value),
                 thin_film=val(inp("Thin Film Thickness").default_value),
                 engine=bpy.context.scene.render.engine, ao=ao(),
                 plain=[plain.node_tree is not None, plain.is_grease_pencil,
                        val(plain.diffuse_color)],
                 second_engine=bpy.data.scenes["Second"].render.engine,
                 node_render=[mat["surface_render_method"], mat["use_transparent_shadow"]],
                 node_inputs={k: p["inputs"].get(k) for k in (
                     "Coat Tint", "Subsurface Color", "Transmission Roughness",
                     "Specular Tint (3.x)", "Diffuse Roughness")})
    if "Diffuse Roughness" in bsdf().inputs:
        after["diffuse_roughness"] = val(inp("Diffuse Roughness").default_value)
    s.wait_until(lambda: bpy.data.objects["Ground"].location.z == 0.75, T)
    s.wait_until(lambda: "Bouncer" in bpy.data.collections["Props"].objects, T)
    s.wait_until(lambda: bpy.data.objects["Camera"].location.x == 6.0, T)
    s.wait_until(lambda: "Blob" in bpy.data.objects, T)
    s.flush()
    blob_key = bpy.data.objects["Blob"].data.shape_keys
    scene = bpy.context.scene
    scene.frame_set(24)
    after["grow_24"] = round(blob_key.key_blocks["Grow"].value, 4)
    scene.frame_set(1)
    after["old_sketch"] = [[o.name, o.type] for o in bpy.data.objects
                           if o.name.startswith("OldSketch")]
    after["local_only"] = [[o.name, o.type] for o in bpy.data.collections["Props"].objects
                           if o.name in ("Sketch", "Title")]
    after["camera_parent"] = getattr(bpy.data.objects["Camera"].parent, "name", None)
    sun = bpy.data.lights["Sun"]
    s.wait_until(lambda: sun.energy == 5.0, T)
    light = node_data(s, sun)       # what a Blender joining now would get
    after["light"] = [round(sun.exposure, 4), round(light.get("exposure", -1), 4),
                      round(light.get("contact_shadow_distance", -1), 4)]
    after["ground_group"] = getattr(bpy.data.objects["Ground"].modifiers["Smooth by Angle"]
                                    .node_group, "name", None)
    me = bpy.data.meshes["CubeMesh"]
    after["auto_smooth"] = node_data(s, me).get("auto_smooth")
    after["sharp_edges"] = sum(e.use_edge_sharp for e in me.edges)
    if SLOTTED:
        action = bpy.data.objects["Mover"].animation_data.action
        after["slots"] = [sl.identifier for sl in action.slots]
        after["sun_24"] = at_frame("Sun", 24)
        after["sun_slot"] = bpy.data.objects["Sun"].animation_data.action_slot.identifier
    done("after", **after)
    # An edit here: the old side's own settings must survive it. And a
    # key more on the first slot (the older one makes its curves again).
    inp("Metallic").default_value = 0.9
    bpy.data.lights["Sun"].color = (1.0, 0.5, 0.25)
    mover = bpy.data.objects["Mover"]
    mover.location = (5.0, 0.0, 1.0)
    mover.keyframe_insert("location", frame=36)
    mover.location = (0.0, 0.0, 1.0)
    me.vertices[0].co = (-1.0, -1.0, -1.5)     # and the mesh the older one smooths
    s.flush()
    s.send_chat("new:edited")
    barrier(s, "old:bye")
    s.disconnect()


def role_old(port, session, cache):
    global seen
    s = sb.connect("127.0.0.1", port, session, "old", cache_dir=cache)
    seen = dict(version=list(V), material=material_view(), mover_24=at_frame("Mover", 24),
                sun_24=at_frame("Sun", 24), engine=bpy.data.scenes["Second"].render.engine,
                ao=ao())
    sun_ad = bpy.data.objects["Sun"].animation_data
    seen["sun_animated"] = sun_ad is not None and sun_ad.action is not None
    done("joined", **seen)
    # The connection drops and comes back (a delta resume): the first
    # changes after it are patches against the server's data, which holds
    # settings this Blender does not have.
    c = s.client
    import socket
    c.ws.sock.shutdown(socket.SHUT_RDWR)     # as when the network drops
    s.wait_until(lambda: c.status == "reconnecting", T)
    s.wait_until(lambda: c.connected, T)
    seen["resume"] = c.resume
    inp("Roughness").default_value = 0.6
    inp("Emission Color").default_value = (1.0, 0.0, 0.0, 1.0)
    if OLD_PRINCIPLED:
        bsdf().inputs["Transmission Roughness"].default_value = 0.45     # 3.x only
    # The first slot's keys: Mover reaches x = 3 at frame 24, and a key
    # more at frame 12 (the newer one makes its slots again).
    mover = bpy.data.objects["Mover"]
    mover.location = (3.0, 0.0, 1.0)
    mover.keyframe_insert("location", frame=24)
    mover.location = (1.0, 0.0, 1.0)
    mover.keyframe_insert("location", frame=12)
    mover.location = (0.0, 0.0, 1.0)
    bpy.context.scene.frame_end = 72
    ao(0.9)
    # A material without a node tree (made so before 5.0; 5.0 makes every
    # new material with one).
    plain = bpy.data.materials.new("Plain")
    plain.use_fake_user = True
    plain.diffuse_color = (0.2, 0.4, 0.6, 1.0)
    bpy.data.objects["Ground"].location.z = 0.75
    me = bpy.data.meshes["CubeMesh"]
    if hasattr(me, "use_auto_smooth"):          # before 4.1
        me.use_auto_smooth = True
        me.auto_smooth_angle = 0.6
    # An object animated here, in this Blender's terms.
    cube = bpy.data.objects.new("Bouncer", bpy.data.meshes["CubeMesh"])
    bpy.context.scene.collection.objects.link(cube)
    cube.location = (0.0, 0.0, 0.0)
    cube.keyframe_insert("location", frame=1)
    cube.location = (0.0, 0.0, 4.0)
    cube.keyframe_insert("location", frame=23)
    cube.location = (0.0, 0.0, 0.0)
    bpy.data.collections["Props"].objects.link(cube)
    bpy.data.objects["Camera"].location.x = 6.0
    # A shape key animated here (a 4.4+ Blender plays it through the
    # action's slot), and a Grease Pencil v2 drawing (a 4.3+ Blender has no
    # such kind: it builds nothing in its place).
    blob = bpy.data.objects.new("Blob", bpy.data.meshes["CubeMesh"].copy())
    bpy.context.scene.collection.objects.link(blob)
    blob.shape_key_add(name="Basis", from_mix=False)
    grow = blob.shape_key_add(name="Grow", from_mix=False)
    grow.data[0].co = (-2.0, -2.0, -2.0)
    grow.value = 0.0
    grow.keyframe_insert("value", frame=1)
    grow.value = 1.0
    grow.keyframe_insert("value", frame=24)
    grow.value = 0.0
    gpd = bpy.data.grease_pencils.new("OldSketch")
    stroke = gpd.layers.new("Lines").frames.new(1).strokes.new()
    stroke.points.add(2)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("OldSketch", gpd))
    sun = bpy.data.lights["Sun"]
    sun.energy = 5.0
    sun.contact_shadow_distance = 0.5           # 3.x-4.x: not in 4.5 or 5
    seen_local = sorted([o.name, o.type] for o in bpy.data.objects if o.name in ("Sketch", "Title"))
    s.flush()
    s.send_chat("old:edited")
    barrier(s, "new:edited")
    s.wait_until(lambda: val(inp("Metallic").default_value) == 0.9, T)
    s.wait_until(lambda: len(bpy.data.objects["Mover"].animation_data.action.fcurves[0]
                             .keyframe_points) == 4 if not SLOTTED else True, T)
    me = bpy.data.meshes["CubeMesh"]
    s.wait_until(lambda: me.vertices[0].co.z == -1.5, T)
    out = dict(material=material_view(), engine=bpy.data.scenes["Second"].render.engine,
               mover_36=at_frame("Mover", 36), resume=seen["resume"], ao=ao())
    out["local_only_seen"] = seen_local
    s.wait_until(lambda: tuple(round(c, 4) for c in sun.color) == (1.0, 0.5, 0.25), T)
    out["light"] = [round(sun.energy, 4), round(sun.contact_shadow_distance, 4)]
    if hasattr(me, "use_auto_smooth"):
        out["auto_smooth"] = [me.use_auto_smooth, round(me.auto_smooth_angle, 4)]
    if OLD_PRINCIPLED:
        out["transmission_roughness"] = val(bsdf().inputs["Transmission Roughness"].default_value)
    done("final", **out)
    s.send_chat("old:bye")
    s.disconnect()


def main():
    role, port, session, cache = scene_util.args()[:4]
    try:
        {"new": role_new, "old": role_old}[role](int(port), session, cache)
    except Exception:
        traceback.print_exc()
        done("error", trace=traceback.format_exc())
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


main()
