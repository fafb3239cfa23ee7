"""A mesh's custom split normals, for the Mesh kind: `custom_normals`, the
normal of each face corner (3 floats per corner, rounded to 5 places)
when the mesh has custom normals. Loaded with normals_split_custom_set,
which Blender stores in its own compact form: a Blender reading back what
it was given gets the same values.

Blender before 4.1 computes corner normals on request (calc_normals_split,
freed again after reading so the mesh is left as it was); 4.1+ has them
in `corner_normals`. Free normals (a `custom_normal` attribute of float
vectors) travel with the mesh's other attributes (bl_mesh): this module
then does nothing.
"""

import array

import bpy

from .common import from_le, prev_of, to_le

# The step of Blender's stored form of custom normals (two 16-bit numbers
# per corner): a normal read back within it is the one the node holds.
TOLERANCE = 1e-3
# Blender 4.1+: computed corner normals (before: calc_normals_split).
CORNER_NORMALS = "corner_normals" in bpy.types.Mesh.bl_rna.properties


def _attribute(me):
    """Free custom normals (a float vector per corner, Blender 4.5+'s
    `custom_normal` attribute of type FLOAT_VECTOR): they travel as any
    other attribute (bl_mesh). Blender 4.1-4.5 keep the normals that
    normals_split_custom_set makes in the same attribute as INT16_2D (not
    an attribute bl_mesh shares): those are read and set here."""
    a = me.attributes.get("custom_normal")
    return a is not None and a.data_type == "FLOAT_VECTOR"


def _encoded(me):
    """Blender 4.5+: the `custom_normal` attribute of INT16_2D values (two
    per corner, the form Blender stores custom normals in), or None."""
    a = me.attributes.get("custom_normal")
    return a if a is not None and a.data_type == "INT16_2D" else None


def _int16(me):
    a = _encoded(me)
    if a is None or not len(me.loops):
        return None
    v = array.array("h", [0]) * (len(me.loops) * 2)
    a.data.foreach_get("value", v)
    return v


def dump(me, ctx, large):
    """The node data's `custom_normals` (a list, or for a large mesh
    {"blob": reference} of the float32 values little-endian) and, from a
    Blender that keeps them as the INT16_2D attribute (4.5+),
    `custom_normals_int16` (the stored values, 2 per corner: setting the
    normals from floats again may round them otherwise); {} without."""
    cn = read(me)
    if cn is None:
        return {}
    prev = prev_of(ctx).get("custom_normals") if ctx is not None else None
    if isinstance(prev, list) and len(prev) == len(cn) and \
            all(abs(a - b) <= TOLERANCE for a, b in zip(cn, prev)):
        # What the node holds, as Blender stored it: Blender 4.1-4.4 read
        # back normals it was given a step of its encoding away.
        cn = prev
    enc = _int16(me)
    if large:
        out = {"custom_normals": {"blob": ctx.put_bytes(to_le(array.array("f", cn)))}}
        if enc is not None:
            out["custom_normals_int16"] = {"blob": ctx.put_bytes(to_le(enc))}
        return out
    out = {"custom_normals": cn}
    if enc is not None:
        out["custom_normals_int16"] = enc.tolist()
    return out


def _values(v, tc, ctx):
    """The list of a value sent inline or as a blob; None while the blob
    is on its way."""
    if isinstance(v, dict):
        raw = ctx.get_bytes(v.get("blob"))
        return None if raw is None else from_le(tc, raw)
    return array.array(tc, v)


def fingerprint(me, look):
    """Whether the mesh has custom normals and, when `look` (a small mesh,
    or one in edit mode), their values."""
    if not me.has_custom_normals:
        return None
    return tuple(read(me) or ()) if look else True


def read(me):
    """[3 floats per face corner] of a mesh with custom normals, or None."""
    if not me.has_custom_normals or _attribute(me) or not len(me.loops):
        return None
    a = array.array("f", [0.0]) * (len(me.loops) * 3)
    if CORNER_NORMALS:                  # 4.1+
        me.corner_normals.foreach_get("vector", a)
    else:                               # before 4.1
        me.calc_normals_split()
        me.loops.foreach_get("normal", a)
        me.free_normals_split()
    return [float(x) for x in a]


def load(me, data, ctx):
    """Set the custom normals to those of the node data (none without)."""
    if _attribute(me):
        return
    if data.get("custom_normals") is None:
        if me.has_custom_normals:
            _clear(me)
        return
    want = _values(data["custom_normals"], "f", ctx)
    enc = _values(data["custom_normals_int16"], "h", ctx) \
        if "custom_normals_int16" in data else None
    if want is None or ("custom_normals_int16" in data and enc is None):
        ctx.pending()           # a blob is on its way
        return
    if len(want) != len(me.loops) * 3:
        return
    have_enc = _int16(me)
    if enc is not None and have_enc is not None and have_enc == enc:
        return
    have = read(me)
    if have is None or any(abs(a - b) > TOLERANCE for a, b in zip(have, want)):
        _set(me, want)
    # A Blender that stores them as INT16_2D (4.5+) takes the sender's
    # values as they are, when the sender had them.
    a = _encoded(me)
    if enc is not None and a is not None and len(enc) == len(me.loops) * 2 and \
            _int16(me) != enc:
        a.data.foreach_set("value", enc)
        me.update()


def _set(me, want):
    """normals_split_custom_set, then corrected by what was read back: a
    Blender stores normals in its own encoding, and reading back what it
    was given may be a step of it away (Blender 4.1-4.4); given the normal
    moved by that error, it mostly stores the sender's value. A few tries."""
    given = list(want)
    for _ in range(4):
        me.normals_split_custom_set([given[i:i + 3] for i in range(0, len(given), 3)])
        got = read(me)
        if got is None:
            return
        err = [w - g for w, g in zip(want, got)]
        if max((abs(e) for e in err), default=0.0) < 1e-6:
            return
        given = [x + e for x, e in zip(given, err)]


def _clear(me):
    """Remove the custom normals: only an operator does, run on a
    temporary object."""
    tmp = bpy.data.objects.new("sessiond-normals", me)
    try:
        with bpy.context.temp_override(object=tmp, active_object=tmp):
            bpy.ops.mesh.customdata_custom_splitnormals_clear()
    except (RuntimeError, TypeError, AttributeError):
        pass
    finally:
        bpy.data.objects.remove(tmp)
