"""A mesh's sculpt mask, for the Mesh kind: `sculpt_mask`, one float per
vertex, when the mesh has one (a large mesh sends it as a blob of
little-endian float32).

Blender 4.1+ keeps it as the `.sculpt_mask` attribute (its name starts
with a dot, so bl_mesh's attributes leave it out); before 4.1 it is the
mesh's paint mask layer (`vertex_paint_masks`), which only BMesh can add
and remove.
"""

import array

import bpy

from .common import from_le, to_le

# Before 4.1: the paint mask layer (vertex_paint_masks).
MASK_LAYER = "vertex_paint_masks" in bpy.types.Mesh.bl_rna.properties
NAME = ".sculpt_mask"


def _data(me):
    """The mask's per-vertex data, or None."""
    if MASK_LAYER:                          # before 4.1
        return me.vertex_paint_masks[0].data if len(me.vertex_paint_masks) else None
    a = me.attributes.get(NAME)             # 4.1+
    return a.data if a is not None and a.domain == "POINT" else None


def read(me):
    data = _data(me)
    if data is None or not len(data):
        return None
    a = array.array("f", [0.0]) * len(data)
    data.foreach_get("value", a)
    return a


def dump(me, ctx, large):
    a = read(me)
    if a is None:
        return {}
    if large:
        return {"sculpt_mask": {"blob": ctx.put_bytes(to_le(a))}}
    return {"sculpt_mask": [float(x) for x in a]}


def fingerprint(me):
    a = read(me)
    return None if a is None else hash(a.tobytes())


def _add(me):
    if MASK_LAYER:                          # before 4.1: through BMesh
        import bmesh
        bm = bmesh.new()
        try:
            bm.from_mesh(me)
            bm.verts.layers.paint_mask.verify()
            bm.to_mesh(me)
        finally:
            bm.free()
    else:                                   # 4.1+
        me.attributes.new(NAME, "FLOAT", "POINT")


def _remove(me):
    if MASK_LAYER:                          # before 4.1: through BMesh
        import bmesh
        bm = bmesh.new()
        try:
            bm.from_mesh(me)
            layer = bm.verts.layers.paint_mask.active
            if layer is not None:
                bm.verts.layers.paint_mask.remove(layer)
            bm.to_mesh(me)
        finally:
            bm.free()
    else:                                   # 4.1+
        me.attributes.remove(me.attributes[NAME])


def load(me, data, ctx):
    v = data.get("sculpt_mask")
    if v is None:
        if _data(me) is not None:
            _remove(me)
        return
    if isinstance(v, dict):
        raw = ctx.get_bytes(v.get("blob"))
        if raw is None:
            ctx.pending()
            return
        want = from_le("f", raw)
    else:
        want = array.array("f", v)
    if len(want) != len(me.vertices) or read(me) == want:
        return
    if _data(me) is None:
        _add(me)
    data_ = _data(me)
    if data_ is not None and len(data_) == len(want):
        data_.foreach_set("value", want)
        me.update()
