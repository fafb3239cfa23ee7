"""Grease Pencil as Blender 3.x has it (bpy.types.GreasePencil with
GPencilLayer layers; Grease Pencil v3, Blender 4.3's new type which 5.0
names GreasePencil, has other layers and is not handled here: `skip`
leaves it unshared, so it is never touched): the data's settings, its
materials, its layers (settings, parent as uuid, transform), their frames
(frame number, keyframe type) and each frame's strokes (settings, and the
points' position, pressure, strength, vertex colour and UV values).

When anything of the layers differs, they are rebuilt from the data:
drawings are small next to meshes, and a stroke has no identity to patch.
"""

import array

import bpy

from .common import keep_local, rna_dump, rna_load

KIND = "GreasePencil"
COLLECTION = "grease_pencils"
LAYER_EXCLUDE = ("info", "select")
STROKE_EXCLUDE = ("select", "select_index")
POINT = (("co", 3), ("pressure", 1), ("strength", 1), ("vertex_color", 4), ("uv_factor", 1),
         ("uv_rotation", 1), ("uv_fill", 2))


SKIP_REASON = "Grease Pencil v3 is not shared yet"


def skip(gpd):
    layers = gpd.bl_rna.properties.get("layers")
    return layers is None or layers.fixed_type.identifier != "GPencilLayer"


def _get(points, prop, width):
    a = array.array("f", [0.0]) * (len(points) * width)
    if len(points):
        points.foreach_get(prop, a)
    return [float(x) for x in a]


def _dump_layers(gpd, ctx):
    layers = []
    for layer in gpd.layers:
        frames = []
        for fr in layer.frames:
            strokes = []
            for st in fr.strokes:
                s = {"props": rna_dump(st, ctx, exclude=STROKE_EXCLUDE), "count": len(st.points)}
                for k, w in POINT:
                    s[k] = _get(st.points, k, w)
                strokes.append(s)
            frames.append({"frame": fr.frame_number, "keyframe_type": fr.keyframe_type,
                           "strokes": strokes})
        layers.append({"name": layer.info, "props": rna_dump(layer, ctx, exclude=LAYER_EXCLUDE),
                       "frames": frames})
    return layers


def dump(gpd, ctx):
    d = rna_dump(gpd, ctx)
    d["materials"] = [ctx.ref(m) if m is not None else "" for m in gpd.materials]
    d["layers"] = _dump_layers(gpd, ctx)
    return d


def construct(data, ctx):
    return bpy.data.grease_pencils.new(data.get("name", "GPencil"))


def _build(gpd, layers, ctx):
    for layer in list(gpd.layers):
        gpd.layers.remove(layer)
    for ld in layers:
        layer = gpd.layers.new(ld["name"], set_active=False)
        for fd in ld.get("frames", ()):
            fr = layer.frames.new(fd["frame"])
            fr.keyframe_type = fd.get("keyframe_type", "KEYFRAME")
            for sd in fd.get("strokes", ()):
                st = fr.strokes.new()
                st.points.add(sd.get("count", 0))
                for k, w in POINT:
                    v = sd.get(k)
                    if v is not None and len(v) == len(st.points) * w:
                        st.points.foreach_set(k, v)
                rna_load(st, sd.get("props", {}), ctx, exclude=STROKE_EXCLUDE)
                st.points.update()      # bounds and fill triangles from the points


def load(gpd, data, ctx):
    rna_load(gpd, {k: v for k, v in data.items()
                   if k not in ("materials", "layers", "fake_user", "custom")}, ctx)
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    cur = list(gpd.materials)
    mats = [cur[i] if i < len(cur) and keep_local(cur[i], m) else m for i, m in enumerate(mats)]
    if cur != mats:
        gpd.materials.clear()
        for m in mats:
            gpd.materials.append(m)
    layers = data.get("layers", [])
    if _dump_layers(gpd, ctx) != layers:
        _build(gpd, layers, ctx)
    for layer, ld in zip(gpd.layers, layers):
        rna_load(layer, ld.get("props", {}), ctx, exclude=LAYER_EXCLUDE)
