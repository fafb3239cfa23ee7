"""Action: f-curves and their keyframes (position, interpolation, handles,
easing, the elastic and back settings, keyframe type), each curve's
settings (extrapolation, ...) and its modifiers, and the action's frame
range settings."""

import array

import bpy

from .common import rna_dump, rna_load

KIND = "Action"
# The name is set apart; frame_range is the keys' range unless the manual
# one is used (its own settings).
ACTION_EXCLUDE = ("name", "frame_range")
# The curve's identity (set apart) and editor state.
FCURVE_EXCLUDE = ("data_path", "array_index", "group", "select", "hide", "lock",
                  "is_valid", "driver")
COLLECTION = "actions"


def _floats(coll, prop, n):
    a = array.array("f", [0.0]) * n
    coll.foreach_get(prop, a)
    return [float(x) for x in a]


def dump(action, ctx):
    curves = []
    for fc in action.fcurves:
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
    return {"name": action.name, "fcurves": curves,
            "settings": rna_dump(action, ctx, exclude=ACTION_EXCLUDE)}


def construct(data, ctx):
    return bpy.data.actions.new(data.get("name", "Action"))


def load(action, data, ctx):
    if action.name != data.get("name", action.name):
        action.name = data["name"]
    settings = data.get("settings", {})
    rna_load(action, settings, ctx, exclude=ACTION_EXCLUDE)
    # Setting the range turns the manual range on: its switch comes last.
    if "use_frame_range" in settings and action.use_frame_range != settings["use_frame_range"]:
        action.use_frame_range = settings["use_frame_range"]
    curves = data.get("fcurves", [])
    shape = [(c["path"], c["index"], len(c["co"]) // 2, c.get("group", "")) for c in curves]
    have = [(fc.data_path, fc.array_index, len(fc.keyframe_points),
             fc.group.name if fc.group else "") for fc in action.fcurves]
    if shape != have:
        for fc in list(action.fcurves):
            action.fcurves.remove(fc)
        for c in curves:
            if c.get("group"):
                fc = action.fcurves.new(c["path"], index=c["index"], action_group=c["group"])
            else:
                fc = action.fcurves.new(c["path"], index=c["index"])
            fc.keyframe_points.add(len(c["co"]) // 2)
    for fc, c in zip(action.fcurves, curves):
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
