"""Action: f-curves and their keyframes (position, interpolation, handles,
easing, the elastic and back settings, keyframe type), each curve's
settings (extrapolation, ...) and its modifiers, and the action's frame
range settings.

Blender 4.4 made actions slotted: one action animates several datablocks,
each through a slot (layers -> keyframe strip -> one channelbag of f-curves
per slot), and Action.fcurves reaches only the first slot (gone in 5.0).
The node data stays readable by every version: `fcurves` are the first
slot's curves (an action before 4.4 is exactly that), and a 4.4+ Blender adds
`slots`, one {identifier, id_type} per slot in order, the second and later
with their own `fcurves`. A Blender before 4.4 keeps `slots` as it was (the
bridge hands the node's data to dump() as ctx.prev), so editing the first
slot's curves there loses none of the others.
"""

import array

import bpy

from .common import prev_of, rna_dump, rna_load

KIND = "Action"
# The name is set apart; frame_range is the keys' range unless the manual
# one is used (its own settings).
ACTION_EXCLUDE = ("name", "frame_range")
# The curve's identity (set apart) and editor state.
FCURVE_EXCLUDE = ("data_path", "array_index", "group", "select", "hide", "lock",
                  "is_valid", "driver")
COLLECTION = "actions"
# Blender 4.4+: slotted actions.
SLOTTED = hasattr(bpy.types, "ActionSlot")


def _floats(coll, prop, n):
    a = array.array("f", [0.0]) * n
    coll.foreach_get(prop, a)
    return [float(x) for x in a]


def _dump_curves(fcurves, ctx):
    curves = []
    for fc in fcurves:
        kp = fc.keyframe_points
        n = len(kp) * 2
        c = {"path": fc.data_path, "index": fc.array_index,
             "co": _floats(kp, "co", n),
             "handle_left": _floats(kp, "handle_left", n),
             "handle_right": _floats(kp, "handle_right", n),
             "interpolation": [k.interpolation for k in kp],
             "handle_types": [[k.handle_left_type, k.handle_right_type] for k in kp],
             "easing": [k.easing for k in kp], "type": [k.type for k in kp],
             "amplitude": _floats(kp, "amplitude", len(kp)), "back": _floats(kp, "back", len(kp)),
             "period": _floats(kp, "period", len(kp)),
             "settings": rna_dump(fc, ctx, exclude=FCURVE_EXCLUDE)}
        if len(fc.modifiers):
            c["modifiers"] = [dict(rna_dump(m, ctx, exclude=("active", "show_expanded")),
                                   type=m.type) for m in fc.modifiers]
        if fc.group is not None:
            c["group"] = fc.group.name
        curves.append(c)
    return curves


def _channelbags(action):
    """{slot handle: channelbag} of the first keyframe strip (4.4+)."""
    for layer in action.layers:
        for strip in layer.strips:
            if strip.type == "KEYFRAME":
                return {cb.slot_handle: cb for cb in strip.channelbags}
    return {}


def dump(action, ctx):
    d = {"name": action.name,
         "settings": rna_dump(action, ctx, exclude=ACTION_EXCLUDE, prev=prev_of(ctx, "settings"))}
    if not SLOTTED:                     # before 4.4: one set of curves
        d["fcurves"] = _dump_curves(action.fcurves, ctx)
        slots = (getattr(ctx, "prev", None) or {}).get("slots")
        if slots:
            d["slots"] = slots      # made by a 4.4+ Blender: kept as it was
        return d
    # 4.4+: the slots and their channelbags.
    bags = _channelbags(action)
    slots = []
    d["fcurves"] = []
    for i, slot in enumerate(action.slots):
        cb = bags.get(slot.handle)
        curves = _dump_curves(cb.fcurves, ctx) if cb is not None else []
        s = {"identifier": slot.identifier, "id_type": slot.target_id_type}
        if i == 0:
            d["fcurves"] = curves
        else:
            s["fcurves"] = curves
        slots.append(s)
    if slots:
        d["slots"] = slots
    return d


def construct(data, ctx):
    return bpy.data.actions.new(data.get("name", "Action"))


def _shape(curves):
    return [(c["path"], c["index"], len(c["co"]) // 2, c.get("group", "")) for c in curves]


def _have(fcurves):
    return [(fc.data_path, fc.array_index, len(fc.keyframe_points),
             fc.group.name if fc.group else "") for fc in fcurves]


def _load_keys(fcurves, curves, ctx):
    for fc, c in zip(fcurves, curves):
        kp = fc.keyframe_points
        for k, t in zip(kp, c.get("handle_types", ())):
            k.handle_left_type, k.handle_right_type = t
        for k, i in zip(kp, c.get("interpolation", ())):
            k.interpolation = i
        kp.foreach_set("co", c["co"])
        kp.foreach_set("handle_left", c["handle_left"])
        kp.foreach_set("handle_right", c["handle_right"])
        for k, e, t in zip(kp, c.get("easing", ()), c.get("type", ())):
            if k.easing != e:
                k.easing = e
            if k.type != t:
                k.type = t
        for prop in ("amplitude", "back", "period"):
            if prop in c and len(c[prop]) == len(kp):
                kp.foreach_set(prop, c[prop])
        rna_load(fc, c.get("settings", {}), ctx, exclude=FCURVE_EXCLUDE)
        mods = c.get("modifiers", [])
        if [m.type for m in fc.modifiers] != [m["type"] for m in mods]:
            for m in list(fc.modifiers):
                fc.modifiers.remove(m)
            for m in mods:
                fc.modifiers.new(m["type"])
        for m, md in zip(fc.modifiers, mods):
            rna_load(m, {k: v for k, v in md.items() if k != "type"}, ctx,
                     exclude=("active", "show_expanded"))


def load(action, data, ctx):
    if action.name != data.get("name", action.name):
        action.name = data["name"]
    settings = data.get("settings", {})
    rna_load(action, settings, ctx, exclude=ACTION_EXCLUDE)
    # Setting the range turns the manual range on: its switch comes last.
    if "use_frame_range" in settings and action.use_frame_range != settings["use_frame_range"]:
        action.use_frame_range = settings["use_frame_range"]
    if SLOTTED:                         # 4.4+
        _load_slotted(action, data, ctx)
        return
    curves = data.get("fcurves", [])
    if _shape(curves) != _have(action.fcurves):
        for fc in list(action.fcurves):
            action.fcurves.remove(fc)
        for c in curves:
            if c.get("group"):
                fc = action.fcurves.new(c["path"], index=c["index"], action_group=c["group"])
            else:
                fc = action.fcurves.new(c["path"], index=c["index"])
            fc.keyframe_points.add(len(c["co"]) // 2)
    _load_keys(action.fcurves, curves, ctx)


def _wanted_slots(data):
    """[(identifier, id_type, curves)] of node data; data without `slots`
    (made before 4.4) is one slot for its curves, as Blender's own
    versioning makes of an old action."""
    slots = data.get("slots")
    curves = data.get("fcurves", [])
    if not slots:
        # A shape key's animation (its curves are the key blocks') has a
        # slot for a Key (KE), as Blender's versioning gives it.
        if curves and all(c["path"].startswith("key_blocks[") for c in curves):
            return [("KELegacy Slot", "KEY", curves)]
        return [("OBLegacy Slot", "OBJECT", curves)] if curves else []
    out = []
    for i, s in enumerate(slots):
        out.append((s["identifier"], s.get("id_type", "OBJECT"),
                    curves if i == 0 else s.get("fcurves", [])))
    return out


def _load_slotted(action, data, ctx):
    """Blender 4.4+: slots, one layer with one keyframe strip, a
    channelbag per slot."""
    want = _wanted_slots(data)
    bags = _channelbags(action)
    have = [(s.identifier, _have(bags[s.handle].fcurves) if s.handle in bags else [])
            for s in action.slots]
    if have != [(ident, _shape(curves)) for ident, _, curves in want]:
        # Made again: datablocks animated through a slot get it back by
        # its identifier.
        users = [(o.animation_data, o.animation_data.action_slot.identifier)
                 for o in bpy.data.objects
                 if o.animation_data is not None and o.animation_data.action == action
                 and o.animation_data.action_slot is not None]
        for layer in list(action.layers):
            action.layers.remove(layer)
        for slot in list(action.slots):
            action.slots.remove(slot)
        strip = action.layers.new("Layer").strips.new(type="KEYFRAME") if want else None
        for ident, id_type, curves in want:
            slot = action.slots.new(id_type=id_type, name=ident[2:])
            cb = strip.channelbag(slot, ensure=True)
            for c in curves:
                fc = cb.fcurves.new(c["path"], index=c["index"])
                if c.get("group"):
                    fc.group = cb.groups.get(c["group"]) or cb.groups.new(c["group"])
                fc.keyframe_points.add(len(c["co"]) // 2)
        for ad, ident in users:
            slot = action.slots.get(ident)
            if slot is not None:
                ad.action_slot = slot
        bags = _channelbags(action)
    for slot, (_, _, curves) in zip(action.slots, want):
        cb = bags.get(slot.handle)
        if cb is not None:
            _load_keys(cb.fcurves, curves, ctx)
