"""Object: transform, parent, visibility (including H in the current view
layer), modifiers and their settings,
material slots, its data (mesh, camera, light) and its action (and, from
Blender 4.4, the action's slot it is animated through: `action_slot`, its
identifier; a Blender before 4.4 keeps it as it was)."""

import bpy

from .common import local_only, prev_of, rna_dump, rna_load

# Blender 4.4+: slotted actions.
SLOTTED = hasattr(bpy.types, "ActionSlot")

KIND = "Object"
COLLECTION = "objects"
LOAD_AFTER_LINK = True          # hide_set() needs the object in the view layer
FIELDS = ("name", "location", "rotation_mode", "rotation_euler", "rotation_quaternion",
          "rotation_axis_angle", "scale", "delta_location", "delta_rotation_euler", "delta_scale",
          "hide_viewport", "hide_render", "hide_select", "display_type", "show_name",
          "show_wire", "show_in_front", "color", "empty_display_type", "empty_display_size",
          "parent_type", "matrix_parent_inverse", "pass_index")


def skip(obj):
    """Objects whose data is of a kind that is not shared (Grease Pencil,
    curves, text, armatures, ...) stay local: elsewhere they could only be
    empties, and an empty sent back would replace the original."""
    from . import kind_of
    return obj.data is not None and kind_of(obj.data) is None


def dump(obj, ctx):
    prev = prev_of(ctx)
    d = rna_dump(obj, ctx, include=FIELDS, prev=prev)
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
    d["modifiers"] = [dict(name=m.name, type=m.type,
                           props=rna_dump(m, ctx, exclude=("name",),
                                          prev=old_mods.get((m.name, m.type))))
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
    return d


def _first_slot(ctx, data):
    """Whether the object's slot (data made by a 4.4+ Blender) is its
    action's first: the only one a Blender before 4.4 has (its fcurves)."""
    slot = data.get("action_slot")
    if not slot:
        return True
    slots = ctx.node_data(data.get("action")).get("slots") or []
    return not slots or slots[0].get("identifier") == slot


def recreate(obj, data):
    return obj.type != data.get("type", obj.type)


def construct(data, ctx):
    od = ctx.resolve(data["data"]) if data.get("data") else None
    return bpy.data.objects.new(data.get("name", "Object"), od)


def load(obj, data, ctx):
    od = ctx.resolve(data["data"]) if data.get("data") else None
    if od is not None and obj.data != od:
        obj.data = od
    parent = ctx.resolve(data["parent"]) if data.get("parent") else None
    if obj.parent != parent and not (parent is None and local_only(obj.parent)):
        obj.parent = parent
    rna_load(obj, {k: v for k, v in data.items() if k in FIELDS}, ctx,
             order=("rotation_mode",), clear=False)
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
    for s, sd in zip(obj.material_slots, data.get("material_slots", ())):
        if s.link != sd.get("link", "DATA"):
            s.link = sd.get("link", "DATA")
        if s.link == "OBJECT":
            mat = ctx.resolve(sd["material"]) if sd.get("material") else None
            if s.material != mat:
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
