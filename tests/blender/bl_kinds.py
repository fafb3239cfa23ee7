"""Run inside `blender -b`: for every replicated kind, dump a datablock,
remove it, construct a new one from the dump and dump again: the two dumps
must be equal. Prints RESULT kinds {...} with the failures."""

import json
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene_util  # noqa: E402

import bpy  # noqa: E402
from sessiond_blender import bridge  # noqa: E402
from sessiond_blender.translators import MODULES, UUID_PROP, why_not_shared  # noqa: E402
from sessiond_blender.translators import bl_mesh  # noqa: E402


def main():
    scene_util.build_scene()
    # A second scene (the first cannot be removed) and a large mesh that
    # travels as packed arrays.
    extra = bpy.data.scenes.new("Second")
    extra.frame_end = 99
    big = scene_util.grid_mesh("Big", 110)
    assert len(big.vertices) > bl_mesh.LARGE
    # A shader node group used by a material kept by a fake user, with a
    # color ramp, a curve mapping, a frame and a muted node; custom
    # properties.
    group = bpy.data.node_groups.new("Tint", "ShaderNodeTree")
    scene_util.group_socket(group, "INPUT", "NodeSocketColor", "Color")
    scene_util.group_socket(group, "INPUT", "NodeSocketFloat", "Amount").max_value = 2.0
    scene_util.group_socket(group, "OUTPUT", "NodeSocketColor", "Color")
    g_in, g_out = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
    ramp = group.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements.new(0.4).color = (1.0, 0.5, 0.0, 1.0)
    group.links.new(g_in.outputs[1], ramp.inputs[0])
    group.links.new(ramp.outputs[0], g_out.inputs[0])
    lib = bpy.data.materials.new("Library")
    lib.use_fake_user = True
    lib.use_nodes = True
    tree = lib.node_tree
    frame = tree.nodes.new("NodeFrame")
    frame.label = "Tinting"
    gnode = tree.nodes.new("ShaderNodeGroup")
    gnode.node_tree = group
    gnode.parent = frame
    gnode.inputs[1].default_value = 1.5
    curves = tree.nodes.new("ShaderNodeRGBCurve")
    curves.mapping.curves[3].points.new(0.3, 0.7)
    curves.mute = True
    tree.links.new(gnode.outputs[0], curves.inputs["Color"])
    tree.links.new(curves.outputs[0], tree.nodes["Principled BSDF"].inputs["Base Color"])
    lib["category"] = "Paint"
    # Curves: a bezier curve with a bevel, a NURBS path, a text.
    cu = bpy.data.curves.new("Wire", "CURVE")
    cu.dimensions, cu.bevel_depth = "3D", 0.05
    sp = cu.splines.new("BEZIER")
    sp.bezier_points.add(2)
    for i, p in enumerate(sp.bezier_points):
        p.co = (i, i * i, 0.5 * i)
        p.handle_left_type = p.handle_right_type = "AUTO"
    nurbs = cu.splines.new("NURBS")
    nurbs.points.add(3)
    nurbs.points.foreach_set("co", [0, 0, 0, 1, 1, 0, 0, 1, 2, 1, 0, 0.5, 3, 0, 1, 1])
    nurbs.order_u, nurbs.use_endpoint_u = 3, True
    txt = bpy.data.curves.new("Title", "FONT")
    txt.body, txt.size = "Hello", 2.0
    txt.body_format[1].use_italic = True
    for data in (cu, txt):
        o = bpy.data.objects.new(data.name, data)
        bpy.context.scene.collection.objects.link(o)
    # An armature (two bones, one connected) whose object has a posed,
    # constrained bone with a custom property, and an object constraint.
    arm = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", arm)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    root = arm.edit_bones.new("root")
    root.head, root.tail, root.roll = (0, 0, 0), (0, 0, 1), 0.25
    arm_bone = arm.edit_bones.new("arm")
    arm_bone.head, arm_bone.tail = (0, 0, 1), (0, 1, 2)
    arm_bone.parent, arm_bone.use_connect = root, True
    bpy.ops.object.mode_set(mode="OBJECT")
    arm.bones["arm"].use_deform = False
    pb = rig.pose.bones["arm"]
    pb.rotation_mode = "XYZ"
    pb.rotation_euler = (0.2, 0.0, 0.4)
    pb["twist"] = 0.5
    pb.constraints.new("COPY_ROTATION").target = bpy.data.objects["Ground"]
    # A lattice with a moved point, a metaball with two elements, a script.
    lat = bpy.data.lattices.new("Cage")
    lat.points_u, lat.interpolation_type_v = 3, "KEY_LINEAR"
    lat.points[1].co_deform = (0.1, 0.6, -0.2)
    mb = bpy.data.metaballs.new("Blobs")
    mb.resolution = 0.3
    e = mb.elements.new(type="CAPSULE")
    e.co, e.size_x, e.use_negative = (1, 0, 0), 0.8, True
    mb.elements.new(type="BALL").radius = 1.5
    for data in (lat, mb):
        bpy.context.scene.collection.objects.link(bpy.data.objects.new(data.name, data))
    # A Grease Pencil drawing (Blender 3.x's, until 4.2): two layers, a
    # stroke of three points.
    if hasattr(bpy.types, "GPencilLayer"):
        gpd = bpy.data.grease_pencils.new("Sketch")
        gpd.materials.append(lib)
        ink = gpd.layers.new("Ink")
        ink.opacity, ink.tint_factor = 0.8, 0.25
        stroke = ink.frames.new(1).strokes.new()
        stroke.points.add(3)
        stroke.points.foreach_set("co", [0, 0, 0, 1, 0, 0.5, 2, 1, 0])
        stroke.points.foreach_set("pressure", [1.0, 0.5, 0.2])
        stroke.line_width, stroke.use_cyclic = 30, True
        stroke.points.update()      # as drawing does: bounds, fill triangles and UVs
        gpd.layers.new("Notes").frames.new(5).keyframe_type = "BREAKDOWN"
        bpy.context.scene.collection.objects.link(bpy.data.objects.new("Sketch", gpd))
    # A camera background image, a collection's instance offset, mist.
    bg = bpy.data.cameras["Cam"].background_images.new()
    bg.image, bg.alpha, bg.frame_method = bpy.data.images["Checker"], 0.4, "CROP"
    bpy.data.collections["Props"].instance_offset = (1.0, 2.0, 0.5)
    bpy.data.worlds["Sky"].mist_settings.depth = 40.0
    # A clouds texture with a color ramp, an irradiance volume, a speaker.
    clouds = bpy.data.textures.new("Clouds", "CLOUDS")
    clouds.noise_scale, clouds.use_color_ramp = 0.5, True
    clouds.color_ramp.elements.new(0.6)
    probe = bpy.data.lightprobes.new("Bounce", "GRID")
    probe.grid_resolution_x, probe.influence_distance = 6, 2.5
    horn = bpy.data.speakers.new("Horn")
    horn.volume, horn.pitch = 0.5, 1.25
    # A font file for the text and a sound file for the speaker (blobs).
    font_path = os.path.join(bpy.utils.system_resource("DATAFILES"), "fonts", "DejaVuSans.woff2")
    bpy.data.curves["Title"].font = bpy.data.fonts.load(font_path)
    wav = os.path.join(tempfile.mkdtemp(prefix="sessiond-kinds-sound-"), "beep.wav")
    import wave
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 16)
    horn.sound = bpy.data.sounds.load(wav)
    for data in (probe, horn):
        bpy.context.scene.collection.objects.link(bpy.data.objects.new(data.name, data))
    bpy.data.texts.new("notes.txt").from_string("light from the left\nno rim\n")
    c = bpy.data.objects["Camera"].constraints.new("TRACK_TO")
    c.target, c.track_axis = rig, "TRACK_NEGATIVE_Z"
    ground = bpy.data.meshes["Ground"]
    ground["lod"] = {"levels": [1, 2, 4], "name": "ground"}
    # Per-element data beyond positions: a color attribute, a generic
    # float attribute, seams, sharp edges, creases.
    col = ground.color_attributes.new("Dirt", "BYTE_COLOR", "CORNER")
    col.data.foreach_set("color", [0.5, 0.25, 0.0, 1.0] * len(col.data))
    ground.attributes.new("wetness", "FLOAT", "POINT").data[3].value = 0.75
    ground.edges[0].use_seam = ground.edges[1].use_edge_sharp = True
    ground.edges[2].crease = 0.5
    mover = bpy.data.objects["Mover"]
    mover.shape_key_add(name="Basis", from_mix=False)
    opened = mover.shape_key_add(name="Open", from_mix=False)
    opened.data[6].co = (1.5, 1.5, 1.5)
    opened.value, opened.vertex_group = 0.3, "left"
    opened.keyframe_insert("value", frame=12)
    fc = mover.data.shape_keys.animation_data.action.fcurves[0]
    fc.keyframe_points[0].easing, fc.keyframe_points[0].interpolation = "EASE_IN", "ELASTIC"
    fc.keyframe_points[0].amplitude, fc.keyframe_points[0].type = 1.5, "BREAKDOWN"
    fc.extrapolation = "LINEAR"
    fc.modifiers.new("NOISE").strength = 0.25
    ground_ob = bpy.data.objects["Ground"]
    ground_ob.vertex_groups.new(name="left").add([0, 1, 2], 0.75, "REPLACE")
    ground_ob.vertex_groups.new(name="right").add([3], 0.125, "REPLACE")
    ground_ob.vertex_groups["right"].lock_weight = True
    ids = {}
    store = {}
    cache = tempfile.mkdtemp(prefix="sessiond-kinds-")
    ctx = bridge.Context(ids=ids, store=store, cache_dir=cache)
    for u, m, idb in list(bridge.local_ids()):
        if u is None:
            ctx.ref(idb)
    for u, m, idb in bridge.local_ids():
        ids[u] = idb
    failures, checked, seconds = [], {}, {}
    # Users before what they use: removing a mesh removes its objects.
    for m in reversed(MODULES):
        for idb in list(getattr(bpy.data, m.COLLECTION)):
            if m.KIND == "Scene" and idb.name != "Second" and len(bpy.data.scenes) > 1 and \
                    idb == bpy.context.window.scene:
                continue
            if why_not_shared(idb, m) is not None:
                continue        # Blender's built-in font
            name = idb.name
            u = idb[UUID_PROP]
            try:
                ctx.reset()
                first = m.dump(idb, ctx)
                json.dumps(first)
                getattr(bpy.data, m.COLLECTION).remove(idb)
                ids.pop(u)
                ctx.reset()
                new = m.construct(first, ctx)
                new[UUID_PROP] = u
                ids[u] = new
                m.load(new, first, ctx)
                if getattr(m, "LOAD_AFTER_LINK", False):
                    # As the bridge does: linked, then loaded again.
                    bpy.context.scene.collection.objects.link(new)
                    m.load(new, first, ctx)
                ctx.reset()
                second = m.dump(new, ctx)
                seconds[(m.KIND, name)] = second
                if bridge.round_floats(first, 5) != bridge.round_floats(second, 5):
                    diff = {k: (first.get(k), second.get(k)) for k in set(first) | set(second)
                            if first.get(k) != second.get(k)}
                    failures.append("%s %s: %s" % (m.KIND, name, json.dumps(diff)[:2000]))
                checked[m.KIND] = checked.get(m.KIND, 0) + 1
            except Exception:
                failures.append("%s %s: %s" % (m.KIND, name, traceback.format_exc()))
    big_dump = None
    for me in bpy.data.meshes:
        if me.name == "Big":
            ctx.reset()
            big_dump = bl_mesh.dump(me, ctx)
    # What the rebuilt rig holds (so the equal dumps above are not empty).
    rig, rig_arm = seconds[("Object", "Rig")], seconds[("Armature", "Rig")]
    title = seconds[("Curve", "Title")]
    horn_dump = seconds[("Speaker", "Horn")]
    geometry = seconds[("Mesh", "Ground")]["geometry"]
    pose = {b["name"]: b for b in rig.get("pose", [])}
    scene_util.done("kinds", checked=checked, failures=failures,
                    gpencil_v2=hasattr(bpy.types, "GPencilLayer"),
                    ground_extra=sorted(k for k in geometry if k.startswith(("attr:", "edge."))),
                    wetness=geometry["attr:POINT:FLOAT:wetness"][3],
                    ground_groups=seconds[("Object", "Ground")].get("vertex_groups"),
                    camera_bg=[[round(b["alpha"], 4), b["frame_method"], bool(b.get("image"))]
                               for b in seconds[("Camera", "Cam")]["background_images"]],
                    props_offset=seconds[("Collection", "Props")]["instance_offset"],
                    mist=seconds[("World", "Sky")]["mist"]["depth"],
                    files=[bool(title.get("font")), bool(horn_dump.get("sound")),
                           sorted(k for k in checked if k in ("VectorFont", "Sound"))],
                    shape_keys=[[b["name"], b["relative_key"], round(b["value"], 1)] for b in
                                seconds[("Mesh", "CubeMesh")]["shape_keys"]["blocks"]],
                    key_animated="action" in seconds[("Mesh", "CubeMesh")]["shape_keys"],
                    open_co=seconds[("Mesh", "CubeMesh")]["geometry"]["key.Open"][18:21],
                    big_is_blob=bool(big_dump and "blob" in big_dump["geometry"]),
                    rig={"bones": [[b["name"], b.get("parent"), b["connect"]] for b in rig_arm["bones"]],
                         "euler": [round(x, 4) for x in pose["arm"]["rotation_euler"]],
                         "custom": pose["arm"].get("custom"),
                         "constraints": [c["type"] for c in pose["arm"].get("constraints", [])],
                         "camera": [c["type"] for c in
                                    seconds[("Object", "Camera")].get("constraints", [])]})


main()
