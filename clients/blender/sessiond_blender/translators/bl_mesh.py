"""Mesh: vertices, edges, faces, UV layers, material indices, smooth flags
and the material list.

Geometry is a set of flat arrays (read and written with foreach_get/set):
co (3 floats per vertex), edges (2 ints per edge), loop_start and
loop_total (per face), loop_vert (vertex of each face corner),
material_index (per face), smooth (per face, 0/1), uv.NAME (2 floats per
corner). Up to LARGE vertices they are JSON lists in `geometry`; above it
they travel as one blob of packed little-endian arrays and `geometry`
holds {"blob": reference, "layout": [[name, typecode, count], ...]}.
"""

import array
import hashlib

import bpy

from .common import keep_local, pack_arrays, unpack_arrays

KIND = "Mesh"
COLLECTION = "meshes"
LARGE = 10000


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
    """A hash of every array the dump sends (positions, topology, material
    indices, smooth flags, UVs) plus the names: a face shaded smooth, a
    material index changed or a topology change that keeps the counts is
    seen. Reads the arrays like the dump does, without building JSON."""
    h = hashlib.blake2b(digest_size=16)
    for name, a in arrays(me):
        h.update(name.encode())
        h.update(a.tobytes())
    return (me.name, tuple(m.name if m else "" for m in me.materials), h.digest())


def dump(me, ctx):
    d = {"name": me.name, "materials": [ctx.ref(m) if m is not None else "" for m in me.materials]}
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
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    cur = list(me.materials)
    # A slot holding a material that is not shared keeps it.
    mats = [cur[i] if i < len(cur) and keep_local(cur[i], m) else m for i, m in enumerate(mats)]
    if cur != mats:
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
            try:
                me.polygons.foreach_set("loop_total", g["loop_total"])
            except (AttributeError, TypeError, RuntimeError):
                pass    # Blender 4.x derives face sizes from loop_start
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
