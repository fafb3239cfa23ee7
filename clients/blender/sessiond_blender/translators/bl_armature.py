"""Armature: its settings and its bones (name, head and tail in armature
space, roll, parent, connected, and every setting of the bone: deform,
inheritance, envelope, B-Bone, layers, ...).

Bones are made through edit bones, which need an object in edit mode: a
temporary object is linked to the scene for that and removed after. An
armature being edited here (edit mode) is not rebuilt under the artist's
hands: the change waits until edit mode is left.
Pose bones (pose transforms, constraints, custom shapes, custom
properties) belong to the object: bl_object shares them.
Blender 4.0 replaced bone layers (`layers`, 32 booleans) with bone
collections (`armature.collections`): shared from 4.0 as
`bone_collections` (each one's name, parent, settings and the bones it
holds, in Blender's order); a 3.x Blender has no bone collections and keeps
them in the node data as they were (as 4.x keeps no `layers`).
"""

import bpy

from .common import prev_of, rna_dump, rna_load

KIND = "Armature"
COLLECTION = "armatures"
# Edit-bone geometry, set apart; selection and such are not data.
BONE_EXCLUDE = ("name", "head", "tail", "head_local", "tail_local", "select", "select_head",
                "select_tail", "hide_select", "use_inherit_scale")


def _roll(bone):
    return float(bpy.types.Bone.AxisRollFromMatrix(bone.matrix_local.to_3x3())[1])


def _bone(b):
    d = {"name": b.name, "head": [float(x) for x in b.head_local],
         "tail": [float(x) for x in b.tail_local], "roll": round(_roll(b), 5),
         "connect": b.use_connect, "props": rna_dump(b, None, exclude=BONE_EXCLUDE)}
    if b.parent is not None:
        d["parent"] = b.parent.name
    for k in ("bbone_custom_handle_start", "bbone_custom_handle_end"):
        h = getattr(b, k, None)
        if h is not None:
            d[k] = h.name
    return d


# Bone collections: set apart (name, parent, bones) or computed.
BC_EXCLUDE = ("name", "bones", "parent", "children", "index", "child_number",
              "is_visible_ancestors", "is_visible_effectively", "is_editable",
              "is_local_override")


def _all_collections(arm):
    """Every bone collection (4.1+: `collections_all`, 4.0: `collections`),
    None before 4.0."""
    return getattr(arm, "collections_all", getattr(arm, "collections", None))


def _dump_collections(arm):
    out = []
    for bc in _all_collections(arm):
        d = {"name": bc.name, "props": rna_dump(bc, None, exclude=BC_EXCLUDE),
             "bones": [b.name for b in bc.bones]}
        if getattr(bc, "parent", None) is not None:
            d["parent"] = bc.parent.name
        out.append(d)
    return out


def dump(arm, ctx):
    d = rna_dump(arm, ctx, exclude=("layers_protected",))
    d["bones"] = [_bone(b) for b in arm.bones]
    if _all_collections(arm) is not None:
        d["bone_collections"] = _dump_collections(arm)
    elif "bone_collections" in prev_of(ctx):
        d["bone_collections"] = prev_of(ctx)["bone_collections"]   # a 4.x Blender's
    return d


def _load_collections(arm, want):
    colls, all_ = arm.collections, _all_collections(arm)
    if [(w["name"], w.get("parent")) for w in want] != \
            [(bc.name, getattr(getattr(bc, "parent", None), "name", None)) for bc in all_]:
        for bc in list(all_):
            if bc.name in all_:
                colls.remove(bc)
        for w in want:
            parent = all_.get(w["parent"]) if w.get("parent") else None
            bc = colls.new(w["name"], parent=parent) if parent is not None else \
                colls.new(w["name"])
            bc.name = w["name"]
    for w in want:
        bc = all_.get(w["name"])
        if bc is None:
            continue
        rna_load(bc, w.get("props", {}), None, exclude=BC_EXCLUDE)
        members = set(w.get("bones", ()))
        for bone in arm.bones:
            inside = any(c.name == bc.name for c in bone.collections)
            if inside and bone.name not in members:
                bc.unassign(bone)
            elif not inside and bone.name in members:
                bc.assign(bone)


def construct(data, ctx):
    return bpy.data.armatures.new(data.get("name", "Armature"))


def _geometry(bones):
    return [(b["name"], b.get("parent"), b["connect"], [round(x, 4) for x in b["head"]],
             [round(x, 4) for x in b["tail"]], round(b["roll"], 4)) for b in bones]


def _edit(arm, bones):
    """Rebuild the bones through edit mode on a temporary object."""
    ctx = bpy.context
    tmp = bpy.data.objects.new("sessiond-edit", arm)
    ctx.scene.collection.objects.link(tmp)
    vl = ctx.view_layer
    prev = vl.objects.active
    vl.objects.active = tmp
    try:
        bpy.ops.object.mode_set(mode="EDIT")
        eb = arm.edit_bones
        for b in list(eb):
            eb.remove(b)
        made = {}
        for b in bones:
            e = eb.new(b["name"])
            e.head, e.tail, e.roll = b["head"], b["tail"], b["roll"]
            made[b["name"]] = e
        for b in bones:
            e = made[b["name"]]
            if b.get("parent") in made:
                e.parent = made[b["parent"]]
                e.use_connect = b["connect"]
            for k in ("bbone_custom_handle_start", "bbone_custom_handle_end"):
                if b.get(k) in made:
                    setattr(e, k, made[b[k]])
        bpy.ops.object.mode_set(mode="OBJECT")
    finally:
        vl.objects.active = prev
        bpy.data.objects.remove(tmp)


def load(arm, data, ctx):
    rna_load(arm, {k: v for k, v in data.items() if k not in ("bones", "fake_user", "custom")},
             ctx, exclude=("layers_protected",))
    bones = data.get("bones", [])
    if _geometry(bones) != _geometry([_bone(b) for b in arm.bones]):
        if arm.is_editmode or bpy.context.mode != "OBJECT":
            ctx.pending()       # not under the artist's hands: after edit mode
            return
        _edit(arm, bones)
    for b in bones:
        bone = arm.bones.get(b["name"])
        if bone is not None:
            rna_load(bone, b.get("props", {}), None, exclude=BONE_EXCLUDE)
    if "bone_collections" in data and _all_collections(arm) is not None:
        _load_collections(arm, data["bone_collections"])
