"""Mesh: vertices, edges, faces, UV layers, material indices, smooth flags
and the material list.

Geometry is a set of flat arrays (read and written with foreach_get/set):
co (3 floats per vertex), edges (2 ints per edge), loop_start and
loop_total (per face), loop_vert (vertex of each face corner),
material_index (per face), smooth (per face, 0/1), loop_edge (edge of each
face corner), uv.NAME (2 floats per corner); when set, edge.seam,
edge.sharp (0/1 per edge), edge.crease, edge.bevel, vert.bevel (weights);
every generic attribute (color attributes included) as
attr:DOMAIN:TYPE:NAME (1 to 4 values per element); key.NAME, the
positions of each shape key (whose settings are in `shape_keys`). Up to LARGE vertices they are JSON lists in `geometry`; above it
they travel as one blob of packed little-endian arrays and `geometry`
holds {"blob": reference, "layout": [[name, typecode, count], ...]}; the
blob's chunks (protocol 1.2) are cut along the arrays.

Auto smooth: `auto_smooth` is the angle (radians) when it is on, and
`auto_smooth_angle` the angle while it is off (Blender keeps it, and uses
it when auto smooth is turned on again). Blender before 4.1 reads and
writes them (use_auto_smooth, auto_smooth_angle); 4.1 made it a modifier
("Smooth by Angle", a geometry node group, not shared): there the mesh
keeps both as they were and marks its edges sharp from `auto_smooth`
(set_sharp_from_angle; done again whenever the mesh arrives).

Custom split normals: `custom_normals` (mesh_normals.py); the sculpt mask:
`sculpt_mask` (sculpt_mask.py).
"""

import array
import hashlib

import bpy

from . import mesh_normals, sculpt_mask
from .common import keep_local, pack_arrays, prev_of, rna_dump, rna_load, unpack_arrays

# The mesh's own settings (auto smooth, symmetry, remesh, texture space,
# ...) travel in `settings`; not the UI's active layer indices, not an
# automatic texture space (computed).
# Auto smooth travels as `auto_smooth` (see above).
SETTINGS_EXCLUDE = ("name", "texspace_location", "texspace_size", "texture_mesh",
                    "use_auto_smooth", "auto_smooth_angle")

KIND = "Mesh"
COLLECTION = "meshes"
LARGE = 10000
# Blender 4.4+: slotted actions (a shape key's animation goes through a slot).
SLOTTED = hasattr(bpy.types, "ActionSlot")
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
           ("loop_edge", _get(me.loops, "edge_index", "i", nl)),
           ("material_index", _get(me.polygons, "material_index", "i", nf)),
           ("smooth", _get(me.polygons, "use_smooth", "b", nf))]
    for layer in me.uv_layers:
        out.append(("uv." + layer.name, _get(layer.data, "uv", "f", 2 * nl)))
    return out + extra_arrays(me) + key_arrays(me)


def key_arrays(me):
    """The positions of each shape key (relative or absolute)."""
    key = me.shape_keys
    if key is None:
        return []
    return [("key." + kb.name, _get(kb.data, "co", "f", 3 * len(kb.data)))
            for kb in key.key_blocks]


KEY_BLOCK = ("value", "interpolation", "vertex_group", "mute", "slider_min", "slider_max")


def dump_shape_keys(me, ctx):
    key = me.shape_keys
    if key is None:
        return None
    d = {"use_relative": key.use_relative, "eval_time": float(key.eval_time),
         "blocks": [dict(rna_dump(kb, ctx, include=KEY_BLOCK), name=kb.name,
                         relative_key=kb.relative_key.name) for kb in key.key_blocks]}
    ad = key.animation_data
    if ad is not None and ad.action is not None:
        d["action"] = ctx.ref(ad.action) if ctx is not None else ad.action.name
    return d


# Per-element flags and weights that Blender 3.x keeps outside the generic
# attributes (4.0 made them attributes, which the generic part below
# shares): sent only when one of them is set.
FLAGS = (("edge.seam", "edges", "use_seam", "b"), ("edge.sharp", "edges", "use_edge_sharp", "b"),
         ("edge.crease", "edges", "crease", "f"), ("edge.bevel", "edges", "bevel_weight", "f"),
         ("vert.bevel", "vertices", "bevel_weight", "f"))
# Blender before 4.0: creases and bevel weights are edge and vertex
# properties; 4.0+ keeps them as the attributes named here (the node data
# names them edge.crease, ... in every version).
WEIGHT_PROPS = "crease" in bpy.types.MeshEdge.bl_rna.properties
FLAG_ATTR = {"edge.crease": ("crease_edge", "EDGE"), "edge.bevel": ("bevel_weight_edge", "EDGE"),
             "vert.bevel": ("bevel_weight_vert", "POINT")}


def _flag(me, name, coll, prop, tc):
    """The flag's values, or None when this Blender has no place for them."""
    c = getattr(me, coll)
    if not len(c):
        return None
    if hasattr(c[0], prop):
        return _get(c, prop, tc, len(c))
    if not WEIGHT_PROPS and name in FLAG_ATTR:      # 4.0+
        a = me.attributes.get(FLAG_ATTR[name][0])
        return _get(a.data, "value", tc, len(c)) if a is not None else array.array(tc)
    return None


def _set_flag(me, name, coll, prop, values):
    c = getattr(me, coll)
    if hasattr(c[0], prop):
        c.foreach_set(prop, values)
    elif not WEIGHT_PROPS and name in FLAG_ATTR:    # 4.0+
        attr, domain = FLAG_ATTR[name]
        a = me.attributes.get(attr) or me.attributes.new(attr, "FLOAT", domain)
        a.data.foreach_set("value", values)


# Generic attribute data: (foreach property, values per element, typecode).
ATTR = {"FLOAT": ("value", 1, "f"), "INT": ("value", 1, "i"), "INT8": ("value", 1, "b"),
        "BOOLEAN": ("value", 1, "b"), "FLOAT_VECTOR": ("vector", 3, "f"),
        "FLOAT2": ("vector", 2, "f"), "FLOAT_COLOR": ("color", 4, "f"),
        "BYTE_COLOR": ("color", 4, "f")}
# Attributes that the arrays above already carry (Blender 4.x names).
# 5.0 made seams the attribute uv_seam.
BUILTIN = {"position", "material_index", "sharp_face", "sharp_edge", "crease_edge",
           "crease_vert", "bevel_weight_edge", "bevel_weight_vert", "uv_seam"}


def _shared_attr(me, a):
    try:
        name = a.name
    except UnicodeDecodeError:
        # Blender 4.2 may leave the name of a UV map's pin layer, made
        # when the pins are first read, unset: an internal layer anyway.
        return False
    return (not name.startswith(".") and name not in BUILTIN and a.data_type in ATTR
            and name not in me.uv_layers)


def _nonzero(a):
    return a.tobytes() != bytes(len(a) * a.itemsize)


def extra_arrays(me, flags=True):
    out = []
    for name, coll, prop, tc in FLAGS if flags else ():
        a = _flag(me, name, coll, prop, tc)
        if a is not None and _nonzero(a):
            out.append((name, a))
    for a in me.attributes:
        if _shared_attr(me, a):
            prop, width, tc = ATTR[a.data_type]
            out.append(("attr:%s:%s:%s" % (a.domain, a.data_type, a.name),
                        _get(a.data, prop, tc, width * len(a.data))))
    return out


def _typecode(name):
    if name.startswith("attr:"):
        return ATTR[name.split(":", 3)[2]][2]
    if name.startswith("key."):
        return "f"
    for n, _, _, tc in FLAGS:
        if n == name:
            return tc
    return "f" if name == "co" or name.startswith("uv.") else ("b" if name == "smooth" else "i")


# Blender 3.x reads edge flags and weights one element at a time (about
# 150 ms for 400,000 edges): the fingerprint looks at them for small meshes
# and for a mesh in edit mode (where seams and creases are marked; leaving
# edit mode changes the fingerprint, so the last marks are sent).
FLAGS_IN_FINGERPRINT = 2000


def fingerprint(me):
    """A hash of every array the dump sends (positions, edges, faces, face
    corners, material indices, smooth flags, UVs), of the other per-element
    data and of the settings: a face shaded smooth, a material index changed
    or a topology change that keeps the counts is seen. A few ms for
    200,000 vertices."""
    h = hashlib.blake2b(digest_size=16)
    names = []
    flags = len(me.vertices) <= FLAGS_IN_FINGERPRINT or me.is_editmode
    for name, a in arrays(me) + extra_arrays(me, flags) + key_arrays(me):
        names.append(name)
        h.update(a.tobytes())
    if me.shape_keys is not None:
        names.append(repr(dump_shape_keys(me, None)))
    return (me.name, repr(_settings(me, None)), len(me.vertices), len(me.edges),
            len(me.polygons), len(me.loops), tuple(l.name for l in me.uv_layers),
            tuple(m.name if m else "" for m in me.materials), flags, tuple(names), h.digest(),
            _auto_smooth(me), mesh_normals.fingerprint(me, flags), sculpt_mask.fingerprint(me))


def _auto_smooth(me):
    """Whether auto smooth is on and its angle, or None (4.1+)."""
    if HAS_AUTO_SMOOTH:                             # before 4.1
        return (me.use_auto_smooth, _angle(me))
    return None


def _angle(me):
    """The auto smooth angle as setting it makes it (before 4.1): older
    files may hold one above 180 degrees."""
    p = me.bl_rna.properties["auto_smooth_angle"]
    return float(min(max(me.auto_smooth_angle, p.hard_min), p.hard_max))


def dump(me, ctx):
    d = {"name": me.name, "materials": [ctx.ref(m) if m is not None else "" for m in me.materials],
         "settings": _settings(me, ctx)}
    sk = dump_shape_keys(me, ctx)
    if sk is not None:
        d["shape_keys"] = sk
    if HAS_AUTO_SMOOTH:                 # before 4.1
        key = "auto_smooth" if me.use_auto_smooth else "auto_smooth_angle"
        d[key] = _angle(me)
    else:                               # 4.1+: kept as they were
        for key in ("auto_smooth", "auto_smooth_angle"):
            if key in prev_of(ctx):
                d[key] = prev_of(ctx)[key]
    named = arrays(me)
    if len(me.vertices) > LARGE:
        blob, layout = pack_arrays(named)
        # Chunks cut along the arrays: moving a few vertices changes a few
        # chunks of `co`, and only those travel (protocol 1.2).
        parts = [a.itemsize * len(a) for _, a in named]
        d["geometry"] = {"blob": ctx.put_bytes(blob, parts), "layout": layout}
    else:
        geo = {}
        for name, a in named:
            if a.typecode == "f":
                geo[name] = [float(x) for x in a]
            else:
                geo[name] = a.tolist()
        d["geometry"] = geo
    d.update(mesh_normals.dump(me, ctx, len(me.vertices) > LARGE))
    d.update(sculpt_mask.dump(me, ctx, len(me.vertices) > LARGE))
    return d


def _settings(me, ctx):
    ex = SETTINGS_EXCLUDE if me.use_auto_texspace else ("name", "texture_mesh", "use_auto_smooth",
                                                        "auto_smooth_angle")
    return rna_dump(me, ctx, exclude=ex, prev=prev_of(ctx, "settings") if ctx else None)


def construct(data, ctx):
    return bpy.data.meshes.new(data.get("name", "Mesh"))


def _geometry(data, ctx):
    g = data.get("geometry", {})
    if "blob" in g:
        raw = ctx.get_bytes(g["blob"])
        if raw is None:
            return None
        return unpack_arrays(raw, g["layout"])
    return {k: array.array(_typecode(k), v) for k, v in g.items()}


def load(me, data, ctx):
    if me.name != data.get("name", me.name):
        me.name = data["name"]
    if "settings" in data:
        rna_load(me, data["settings"], ctx,
                 exclude=("name", "use_auto_smooth", "auto_smooth_angle"),
                 order=("use_auto_texspace",))
    geo = _geometry(data, ctx)
    if geo is None:
        ctx.pending()           # the blob is on its way; load() runs again
    else:
        _load_geometry(me, geo)
        _load_shape_keys(me, data.get("shape_keys"), geo, ctx)
    angle = data.get("auto_smooth")
    if HAS_AUTO_SMOOTH:                 # before 4.1
        if me.use_auto_smooth != (angle is not None):
            me.use_auto_smooth = angle is not None
        kept = angle if angle is not None else data.get("auto_smooth_angle")
        if kept is not None and abs(me.auto_smooth_angle - kept) > 1e-6:
            me.auto_smooth_angle = kept
    elif angle is not None and geo is not None:
        me.set_sharp_from_angle(angle=angle)        # 4.1+: edges sharp from the angle
    if geo is not None:
        sculpt_mask.load(me, data, ctx)     # (before 4.1 through BMesh: first)
        mesh_normals.load(me, data, ctx)
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    cur = list(me.materials)
    # A slot holding a material that is not shared keeps it.
    mats = [cur[i] if i < len(cur) and keep_local(cur[i], m) else m for i, m in enumerate(mats)]
    if cur != mats:
        me.materials.clear()
        for m in mats:
            me.materials.append(m)


def _load_shape_keys(me, sk, g, ctx):
    key = me.shape_keys
    if sk is None and key is None:
        return
    want = [b["name"] for b in sk["blocks"]] if sk else []
    have = [kb.name for kb in key.key_blocks] if key is not None else []
    if want != have or (key is not None and any(len(kb.data) != len(me.vertices)
                                                for kb in key.key_blocks)):
        # Shape keys are made through an object: a temporary one.
        tmp = bpy.data.objects.new("sessiond-keys", me)
        try:
            tmp.shape_key_clear()
            for name in want:
                tmp.shape_key_add(name=name, from_mix=False)
        finally:
            bpy.data.objects.remove(tmp)
        key = me.shape_keys
    if not sk or key is None:
        return
    key.use_relative = sk.get("use_relative", True)
    if abs(key.eval_time - sk.get("eval_time", 0.0)) > 1e-6:
        key.eval_time = sk.get("eval_time", 0.0)
    for kb, b in zip(key.key_blocks, sk["blocks"]):
        co = g.get("key." + kb.name)
        if co is not None and len(co) == 3 * len(kb.data):
            kb.data.foreach_set("co", co)
        rna_load(kb, {k: v for k, v in b.items() if k in KEY_BLOCK}, ctx)
        rel = key.key_blocks.get(b.get("relative_key", ""))
        if rel is not None and kb.relative_key != rel:
            kb.relative_key = rel
    action = ctx.resolve(sk["action"]) if sk.get("action") else None
    if action is not None:
        ad = key.animation_data or key.animation_data_create()
        if ad.action != action:
            ad.action = action
        if SLOTTED and ad.action_slot is None and len(action.slots):   # 4.4+
            ad.action_slot = action.slots[0]
    elif key.animation_data is not None and key.animation_data.action is not None:
        key.animation_data.action = None


def _load_extra(me, g):
    for name, coll, prop, tc in FLAGS:
        c = getattr(me, coll)
        have = _flag(me, name, coll, prop, tc)
        if have is None:
            continue
        if name in g:
            if len(g[name]) == len(c):
                _set_flag(me, name, coll, prop, g[name])
        elif _nonzero(have):
            _set_flag(me, name, coll, prop, array.array(tc, [0]) * len(c))  # cleared elsewhere
    want = {}
    for k in g:
        if k.startswith("attr:"):
            domain, dt, name = k.split(":", 3)[1:]
            want[name] = (domain, dt, k)
    # By name: removing an attribute moves the others in memory, so a list
    # of them taken before a removal points at the wrong ones after it.
    for name in [a.name for a in me.attributes if _shared_attr(me, a) and a.name not in want]:
        a = me.attributes.get(name)
        if a is not None:
            me.attributes.remove(a)
    for name, (domain, dt, k) in want.items():
        a = me.attributes.get(name)
        if a is not None and (a.domain != domain or a.data_type != dt):
            me.attributes.remove(a)
            a = None
        if a is None:
            a = me.attributes.new(name, dt, domain)
        prop, width, _ = ATTR[dt]
        if len(g[k]) == width * len(a.data):
            a.data.foreach_set(prop, g[k])


def _load_geometry(me, g):
    nv = len(g.get("co", ())) // 3
    ne = len(g.get("edges", ())) // 2
    nf = len(g.get("loop_start", ()))
    nl = len(g.get("loop_vert", ()))
    # Only the arrays that say whether the topology is the same are read
    # (reading every array of a 200,000-vertex mesh costs 150 ms or more).
    same_topology = (len(me.vertices) == nv and len(me.loops) == nl and len(me.edges) == ne
                     and len(me.polygons) == nf
                     and _get(me.loops, "vertex_index", "i", nl) == g.get("loop_vert")
                     and _get(me.polygons, "loop_start", "i", nf) == g.get("loop_start")
                     and _get(me.edges, "vertices", "i", 2 * ne) == g.get("edges"))
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
            if "loop_edge" in g:
                me.loops.foreach_set("edge_index", g["loop_edge"])
        if nf:
            me.polygons.foreach_set("loop_start", g["loop_start"])
            if LOOP_TOTAL_WRITABLE:
                # Before 4.0; 4.0+ derives face sizes from loop_start.
                me.polygons.foreach_set("loop_total", g["loop_total"])
    if nv:
        me.vertices.foreach_set("co", g["co"])
    if nf:
        # All zero is also what a mesh without the attribute means: writing
        # it would add a material_index attribute the sender does not have.
        if any(g["material_index"]) or "material_index" in me.attributes:
            me.polygons.foreach_set("material_index", g["material_index"])
        me.polygons.foreach_set("use_smooth", g["smooth"])
    uv_names = [k[3:] for k in g if k.startswith("uv.")]
    for name in [x.name for x in me.uv_layers if x.name not in uv_names]:
        me.uv_layers.remove(me.uv_layers[name])      # by name, as attributes
    for name in uv_names:
        layer = me.uv_layers.get(name) or me.uv_layers.new(name=name, do_init=False)
        if nl:
            layer.data.foreach_set("uv", g["uv." + name])
    _load_extra(me, g)
    me.update()
