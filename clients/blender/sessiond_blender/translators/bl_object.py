"""Object: transform, parent, visibility (including H in the current view
layer), modifiers and their settings,
material slots, its data (mesh, camera, light, curve, armature), its
action (and, from Blender 4.4, the action's slot it is animated through:
`action_slot`, its identifier; a Blender before 4.4 keeps it as it was),
its constraints, its vertex groups with their weights, and for an
armature its pose (each pose bone's
transform, custom shape, custom and add-on properties such as Rigify's,
constraints). A Grease Pencil object's modifiers (`gpencil_modifiers`:
Grease Pencil v2's own stack, before 4.3) and visual effects
(`shader_effects`), each with its settings.

An object whose data is a kind that is not shared is not shared either
(translators.why_not_shared). A received object is only built once its
data is here and never as another type (no Empty standing in for a Curve),
and nothing received changes the type of an existing object. A parent, a
modifier's object or a slot's material that is not shared is left as it
is by what is received (the sender could not name it).
"""

import bpy

from . import bl_gpencil, drivers, modifiers, physics
from .common import custom_props, keep_local, load_custom, prev_of, rna_dump, rna_load

# Blender 4.4+: slotted actions.
SLOTTED = hasattr(bpy.types, "ActionSlot")

KIND = "Object"
COLLECTION = "objects"
LOAD_AFTER_LINK = True          # hide_set() needs the object in the view layer
# Every writable setting of the object is shared (transform, visibility,
# display, instancing, empty image, line art usage, ...) except these:
# set apart below, derived from others, or UI state.
EXCLUDE = ("data", "parent", "matrix_world", "matrix_basis", "matrix_local", "active_material",
           "active_material_index", "mode", "dimensions")
SPECIAL = ("type", "hide", "data", "parent", "modifiers", "material_slots", "action",
           "constraints", "pose", "lineart", "motion_path", "vertex_groups", "fake_user",
           "custom", "action_slot", "drivers", "physics", "grease_pencil_modifiers",
           "gpencil_modifiers", "shader_effects")


def dump(obj, ctx):
    prev = prev_of(ctx)
    d = rna_dump(obj, ctx, exclude=EXCLUDE + SPECIAL, prev=prev)
    d["lineart"] = rna_dump(obj.lineart, ctx, prev=prev_of(ctx, "lineart"))
    av = obj.animation_visualization
    mp = prev_of(ctx, "motion_path")
    d["motion_path"] = dict(rna_dump(av, ctx, exclude=("path",), prev=mp),
                            path=rna_dump(av.motion_path, ctx, prev=mp.get("path")))
    d["type"] = obj.type
    # Hidden in the viewport with H: a view layer setting, the current one's.
    try:
        if obj.hide_get():
            d["hide"] = True
    except RuntimeError:
        pass
    if obj.data is not None:
        d["data"] = ctx.ref(obj.data)
    if obj.parent is not None:
        d["parent"] = ctx.ref(obj.parent)
    old_mods = {(m.get("name"), m.get("type")): m.get("props") or {}
                for m in prev.get("modifiers", ()) if isinstance(m, dict)}
    d["modifiers"] = [_dump_modifier(m, ctx, old_mods.get((m.name, m.type)))
                      for m in obj.modifiers]
    slots = []
    for s in obj.material_slots:
        slot = {"link": s.link}
        if s.link == "OBJECT" and s.material is not None:
            slot["material"] = ctx.ref(s.material)
        slots.append(slot)
    d["material_slots"] = slots
    ad = obj.animation_data
    if ad is not None and ad.action is not None:
        d["action"] = ctx.ref(ad.action)
        if SLOTTED:
            # 4.4+: the slot it is animated through.
            if ad.action_slot is not None:
                d["action_slot"] = ad.action_slot.identifier
        elif prev.get("action_slot") and prev.get("action") == d["action"]:
            d["action_slot"] = prev["action_slot"]      # a 4.4+ Blender's, kept
    elif not SLOTTED and prev.get("action") and not _first_slot(ctx, prev):  # before 4.4
        # Before 4.4: animated through another slot than the first, which
        # this Blender cannot show (load() left it without the action).
        d["action"], d["action_slot"] = prev["action"], prev["action_slot"]
        if prev["action"] not in ctx.deps:
            ctx.deps.append(prev["action"])
    if len(obj.constraints):
        d["constraints"] = _dump_constraints(obj.constraints, ctx)
    if bl_gpencil.LEGACY and len(obj.grease_pencil_modifiers):     # before 4.3
        d["gpencil_modifiers"] = _dump_stack(obj.grease_pencil_modifiers, ctx,
                                             prev.get("gpencil_modifiers"))
    if len(obj.shader_effects):
        d["shader_effects"] = _dump_stack(obj.shader_effects, ctx, prev.get("shader_effects"))
    drv = drivers.dump(obj, ctx)
    if drv:
        d["drivers"] = drv
    phys = physics.dump(obj, ctx)
    if phys:
        d["physics"] = phys
    if obj.type == "ARMATURE" and obj.pose is not None:
        d["pose"] = [_dump_pose_bone(pb, ctx) for pb in obj.pose.bones]
    if len(obj.vertex_groups):
        d["vertex_groups"] = _vertex_groups(obj)
    return d


def _dump_modifier(m, ctx, prev):
    d = dict(name=m.name, type=m.type, props=rna_dump(m, ctx, exclude=("name",), prev=prev))
    inputs = modifiers.dump_inputs(m, ctx)
    if inputs:
        d["inputs"] = inputs
    structs = modifiers.dump_structs(m, ctx)
    if structs:
        d["structs"] = structs
    return d


def _dump_stack(stack, ctx, prev):
    """[{name, type, props}] of a Grease Pencil modifier or effect stack."""
    old = {(m.get("name"), m.get("type")): m.get("props") or {}
           for m in (prev if isinstance(prev, list) else ()) if isinstance(m, dict)}
    return [{"name": m.name, "type": m.type,
             "props": rna_dump(m, ctx, exclude=("name",), prev=old.get((m.name, m.type)))}
            for m in stack]


def _load_stack(stack, items, ctx):
    if [(m.name, m.type) for m in stack] != [(i["name"], i["type"]) for i in items]:
        stack.clear()
        for i in items:
            stack.new(i["name"], i["type"])
    for m, i in zip(stack, items):
        rna_load(m, i.get("props", {}), ctx, exclude=("name",))


def _first_slot(ctx, data):
    """Whether the object's slot (data made by a 4.4+ Blender) is its
    action's first: the only one a Blender before 4.4 has (its fcurves)."""
    slot = data.get("action_slot")
    if not slot:
        return True
    slots = ctx.node_data(data.get("action")).get("slots") or []
    return not slots or slots[0].get("identifier") == slot


# Vertex weights are read one vertex at a time: they are read again only
# when the object is where weights change (weight paint, edit mode) or its
# mesh or groups changed, else the last reading is used.
_weights = {}


def _vertex_groups(obj):
    me = obj.data if obj.type == "MESH" else None
    groups = [{"name": g.name, "lock_weight": g.lock_weight} for g in obj.vertex_groups]
    if me is None:
        return groups
    key = (obj.name, me.name, len(me.vertices), tuple(g["name"] for g in groups))
    cached = _weights.get(obj.as_pointer())
    if cached is None or cached[0] != key or obj.mode in ("WEIGHT_PAINT", "EDIT") or \
            me.is_editmode:
        per = [([], []) for _ in groups]
        for v in me.vertices:
            for e in v.groups:
                if e.group < len(per):
                    per[e.group][0].append(v.index)
                    per[e.group][1].append(round(e.weight, 6))
        cached = (key, per)
        _weights[obj.as_pointer()] = cached
    for g, (idx, w) in zip(groups, cached[1]):
        g["indices"], g["weights"] = idx, w
    return groups


def _load_vertex_groups(obj, want):
    vgs = obj.vertex_groups
    if [g.name for g in vgs] != [w["name"] for w in want]:
        vgs.clear()
        for w in want:
            vgs.new(name=w["name"])
    have = _vertex_groups(obj) if obj.type == "MESH" else []
    for vg, w, h in zip(vgs, want, have or [{}] * len(want)):
        if vg.lock_weight != w.get("lock_weight", False):
            vg.lock_weight = w.get("lock_weight", False)
        if obj.type != "MESH" or (h.get("indices") == w.get("indices")
                                  and h.get("weights") == w.get("weights")):
            continue
        vg.remove(list(range(len(obj.data.vertices))))
        by_weight = {}
        for i, x in zip(w.get("indices", ()), w.get("weights", ())):
            by_weight.setdefault(x, []).append(i)
        for x, idx in by_weight.items():
            vg.add(idx, x, "REPLACE")
    _weights.pop(obj.as_pointer(), None)


POSE = ("location", "rotation_mode", "rotation_quaternion", "rotation_euler",
        "rotation_axis_angle", "scale", "custom_shape", "custom_shape_scale_xyz",
        "custom_shape_translation", "custom_shape_rotation_euler", "use_custom_shape_bone_size",
        "ik_stretch", "lock_location", "lock_rotation", "lock_rotation_w", "lock_scale")


def _dump_constraints(cons, ctx):
    return [{"name": c.name, "type": c.type,
             "props": rna_dump(c, ctx, exclude=("name", "active", "is_valid"))} for c in cons]


def _load_constraints(cons, items, ctx):
    if [(c.name, c.type) for c in cons] != [(i["name"], i["type"]) for i in items]:
        for c in list(cons):
            cons.remove(c)          # pose bones' constraints have no clear()
        for i in items:
            cons.new(i["type"]).name = i["name"]
    for c, i in zip(cons, items):
        rna_load(c, i.get("props", {}), ctx, exclude=("name", "active", "is_valid"))


def _dump_pose_bone(pb, ctx):
    d = rna_dump(pb, ctx, include=POSE)
    d["name"] = pb.name
    props = custom_props(pb)
    if props:
        d["custom"] = props
    if len(pb.constraints):
        d["constraints"] = _dump_constraints(pb.constraints, ctx)
    return d


def _load_pose(obj, items, ctx):
    if obj.pose is None:
        bpy.context.view_layer.update()     # the pose is built by an evaluation
    if obj.pose is None:
        ctx.pending()
        return
    for i in items:
        pb = obj.pose.bones.get(i["name"])
        if pb is None:
            continue
        rna_load(pb, {k: v for k, v in i.items() if k in POSE}, ctx,
                 order=("rotation_mode",), clear=False)
        cs = ctx.resolve(i["custom_shape"]) if i.get("custom_shape") else None
        if pb.custom_shape != cs and not keep_local(pb.custom_shape, cs):
            pb.custom_shape = cs
        load_custom(pb, i.get("custom", {}))
        _load_constraints(pb.constraints, i.get("constraints", []), ctx)


def construct(data, ctx):
    typ = data.get("type", "EMPTY")
    od = ctx.resolve(data["data"]) if data.get("data") else None
    if od is None and typ != "EMPTY":
        return None     # its data is not here (yet): ctx.missing says what
    obj = bpy.data.objects.new(data.get("name", "Object"), od)
    if obj.type != typ:
        bpy.data.objects.remove(obj)
        return None
    return obj


def load(obj, data, ctx):
    od = ctx.resolve(data["data"]) if data.get("data") else None
    if od is not None and obj.data != od:
        try:
            obj.data = od
        except (TypeError, RuntimeError, ValueError):
            pass        # another type of data: the object's type never changes
    parent = ctx.resolve(data["parent"]) if data.get("parent") else None
    if obj.parent != parent and not keep_local(obj.parent, parent):
        obj.parent = parent
    rna_load(obj, {k: v for k, v in data.items() if k not in SPECIAL}, ctx,
             order=("rotation_mode",), exclude=EXCLUDE)
    if "lineart" in data:
        rna_load(obj.lineart, data["lineart"], ctx)
    key = getattr(obj.data, "shape_keys", None)
    if key is not None and "active_shape_key_index" in data:
        # Read back as 0 also when no key is active: set it every time.
        obj.active_shape_key_index = data["active_shape_key_index"]
    if "motion_path" in data:
        av = obj.animation_visualization
        rna_load(av, {k: v for k, v in data["motion_path"].items() if k != "path"}, ctx)
        rna_load(av.motion_path, data["motion_path"].get("path", {}), ctx)
    try:
        if obj.hide_get() != bool(data.get("hide")):
            obj.hide_set(bool(data.get("hide")))
    except RuntimeError:
        pass                    # not in the current view layer (yet)
    mods = data.get("modifiers", [])
    if [(m["name"], m["type"]) for m in mods] != [(m.name, m.type) for m in obj.modifiers]:
        obj.modifiers.clear()
        for m in mods:
            obj.modifiers.new(m["name"], m["type"])
    for m, md in zip(obj.modifiers, mods):
        rna_load(m, md.get("props", {}), ctx, exclude=("name",))
        modifiers.load_inputs(m, md.get("inputs"), ctx)
        modifiers.load_structs(m, md.get("structs", {}), ctx)
    for s, sd in zip(obj.material_slots, data.get("material_slots", ())):
        if s.link != sd.get("link", "DATA"):
            s.link = sd.get("link", "DATA")
        if s.link == "OBJECT":
            mat = ctx.resolve(sd["material"]) if sd.get("material") else None
            if s.material != mat and not keep_local(s.material, mat):
                s.material = mat
    action = ctx.resolve(data["action"]) if data.get("action") else None
    if action is not None and not SLOTTED and not _first_slot(ctx, data):    # before 4.4
        action = None           # before 4.4: another slot's curves are not here
    ad = obj.animation_data
    if action is not None:
        if ad is None:
            ad = obj.animation_data_create()
        if ad.action != action:
            ad.action = action
        if SLOTTED:
            # 4.4+: the slot named in the data, else (data made before
            # 4.4: the action has one slot) the first.
            slot = action.slots.get(data.get("action_slot", "")) or (
                action.slots[0] if len(action.slots) else None)
            if slot is not None and ad.action_slot != slot:
                ad.action_slot = slot
    elif ad is not None and ad.action is not None:
        ad.action = None
    _load_constraints(obj.constraints, data.get("constraints", []), ctx)
    if bl_gpencil.LEGACY:               # before 4.3
        if data.get("gpencil_modifiers") or len(obj.grease_pencil_modifiers):
            _load_stack(obj.grease_pencil_modifiers, data.get("gpencil_modifiers", []), ctx)
    if data.get("shader_effects") or len(obj.shader_effects):
        _load_stack(obj.shader_effects, data.get("shader_effects", []), ctx)
    if data.get("drivers") or (obj.animation_data is not None and
                               len(obj.animation_data.drivers)):
        drivers.load(obj, data.get("drivers"), ctx)
    physics.load(obj, data.get("physics", {}), ctx)
    if obj.type == "ARMATURE" and "pose" in data:
        _load_pose(obj, data["pose"], ctx)
    if data.get("vertex_groups") or len(obj.vertex_groups):
        _load_vertex_groups(obj, data.get("vertex_groups", []))
