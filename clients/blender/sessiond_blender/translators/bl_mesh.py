"""Mesh: vertices, edges, faces, UV layers, material indices, smooth flags
and the material list.

Geometry is a set of flat arrays (read and written with foreach_get/set):
co (3 floats per vertex), edges (2 ints per edge), loop_start and
loop_total (per face), loop_vert (vertex of each face corner),
material_index (per face), smooth (per face, 0/1), uv.NAME (2 floats per
corner). Up to LARGE vertices they are JSON lists in `geometry`; above it
they travel as one blob of packed little-endian arrays and `geometry`
holds {"blob": reference, "layout": [[name, typecode, count], ...]}.

Auto smooth: `auto_smooth` is the angle (radians) when it is on. Blender
before 4.1 reads and writes it (use_auto_smooth, auto_smooth_angle); 4.1
made it a modifier ("Smooth by Angle", a geometry node group, not shared):
there the mesh keeps `auto_smooth` as it was and marks its edges sharp from
that angle (set_sharp_from_angle; done again whenever the mesh arrives).
"""

import array
import hashlib

import bpy

from .common import pack_arrays, prev_of, unpack_arrays

KIND = "Mesh"
COLLECTION = "meshes"
LARGE = 10000
# Blender before 4.1: auto smooth is a mesh setting.
HAS_AUTO_SMOOTH = "use_auto_smooth" in bpy.types.Mesh.bl_rna.properties
# Blender before 4.0: face sizes are written (read-only from 4.0).
LOOP_TOTAL_WRITABLE = not bpy.types.MeshPolygon.bl_rna.properties["loop_total"].is_readonly


def _get(coll, prop, tc, n):
    a = array.array(tc, [0]) * n
    if n:
        coll.foreach_get(prop, a)
    return a


def arrays(me):
    nv, ne, nf, nl = len(me.vertices), len(me.edges), len(me.polygons), len(me.loops)
    out = [("co", _get(me.vertices, "co", "f", 3 * nv)),
           ("edges", _get(me.edges, "vertices", "i", 2 * ne)),
           ("loop_start", _get(me.polygons, "loop_start", "i", nf)),
           ("loop_total", _get(me.polygons, "loop_total", "i", nf)),
           ("loop_vert", _get(me.loops, "vertex_index", "i", nl)),
           ("material_index", _get(me.polygons, "material_index", "i", nf)),
           ("smooth", _get(me.polygons, "use_smooth", "b", nf))]
    for layer in me.uv_layers:
        out.append(("uv." + layer.name, _get(layer.data, "uv", "f", 2 * nl)))
    return out


def fingerprint(me):
    """Counts plus a hash of the positions: a few ms for 200,000 vertices."""
    co = _get(me.vertices, "co", "f", 3 * len(me.vertices))
    return (me.name, len(me.vertices), len(me.edges), len(me.polygons), len(me.loops),
            tuple(l.name for l in me.uv_layers), tuple(m.name if m else "" for m in me.materials),
            hashlib.blake2b(co.tobytes(), digest_size=16).digest(), _auto_smooth(me))


def _auto_smooth(me):
    """The auto smooth angle, or None when it is off (before 4.1)."""
    if HAS_AUTO_SMOOTH and me.use_auto_smooth:      # before 4.1
        return float(me.auto_smooth_angle)
    return None


def dump(me, ctx):
    d = {"name": me.name, "materials": [ctx.ref(m) if m is not None else "" for m in me.materials]}
    if HAS_AUTO_SMOOTH:                 # before 4.1
        if me.use_auto_smooth:
            d["auto_smooth"] = float(me.auto_smooth_angle)
    elif "auto_smooth" in prev_of(ctx):
        d["auto_smooth"] = prev_of(ctx)["auto_smooth"]     # 4.1+: kept as it was
    named = arrays(me)
    if len(me.vertices) > LARGE:
        blob, layout = pack_arrays(named)
        d["geometry"] = {"blob": ctx.put_bytes(blob), "layout": layout}
    else:
        geo = {}
        for name, a in named:
            if a.typecode == "f":
                geo[name] = [float(x) for x in a]
            else:
                geo[name] = a.tolist()
        d["geometry"] = geo
    return d


def construct(data, ctx):
    return bpy.data.meshes.new(data.get("name", "Mesh"))


def _geometry(data, ctx):
    g = data.get("geometry", {})
    if "blob" in g:
        raw = ctx.get_bytes(g["blob"])
        if raw is None:
            return None
        return unpack_arrays(raw, g["layout"])
    return {k: array.array("f" if k == "co" or k.startswith("uv.") else
                           ("b" if k == "smooth" else "i"), v) for k, v in g.items()}


def load(me, data, ctx):
    if me.name != data.get("name", me.name):
        me.name = data["name"]
    geo = _geometry(data, ctx)
    if geo is None:
        ctx.pending()           # the blob is on its way; load() runs again
    else:
        _load_geometry(me, geo)
    angle = data.get("auto_smooth")
    if HAS_AUTO_SMOOTH:                 # before 4.1
        if me.use_auto_smooth != (angle is not None):
            me.use_auto_smooth = angle is not None
        if angle is not None and abs(me.auto_smooth_angle - angle) > 1e-6:
            me.auto_smooth_angle = angle
    elif angle is not None and geo is not None:
        me.set_sharp_from_angle(angle=angle)        # 4.1+: edges sharp from the angle
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    if list(me.materials) != mats:
        me.materials.clear()
        for m in mats:
            me.materials.append(m)


def _load_geometry(me, g):
    nv = len(g.get("co", ())) // 3
    ne = len(g.get("edges", ())) // 2
    nf = len(g.get("loop_start", ()))
    nl = len(g.get("loop_vert", ()))
    cur = dict(arrays(me)) if len(me.vertices) == nv and len(me.loops) == nl else None
    same_topology = (cur is not None and len(me.edges) == ne and len(me.polygons) == nf
                     and cur["edges"] == g.get("edges") and cur["loop_vert"] == g.get("loop_vert")
                     and cur["loop_start"] == g.get("loop_start"))
    if not same_topology:
        me.clear_geometry()
        me.vertices.add(nv)
        me.edges.add(ne)
        me.loops.add(nl)
        me.polygons.add(nf)
        if ne:
            me.edges.foreach_set("vertices", g["edges"])
        if nl:
            me.loops.foreach_set("vertex_index", g["loop_vert"])
        if nf:
            me.polygons.foreach_set("loop_start", g["loop_start"])
            if LOOP_TOTAL_WRITABLE:
                # Before 4.0; 4.0+ derives face sizes from loop_start.
                me.polygons.foreach_set("loop_total", g["loop_total"])
    if nv:
        me.vertices.foreach_set("co", g["co"])
    if nf:
        me.polygons.foreach_set("material_index", g["material_index"])
        me.polygons.foreach_set("use_smooth", g["smooth"])
    uv_names = [k[3:] for k in g if k.startswith("uv.")]
    for layer in list(me.uv_layers):
        if layer.name not in uv_names:
            me.uv_layers.remove(layer)
    for name in uv_names:
        layer = me.uv_layers.get(name) or me.uv_layers.new(name=name, do_init=False)
        if nl:
            layer.data.foreach_set("uv", g["uv." + name])
    me.update()
