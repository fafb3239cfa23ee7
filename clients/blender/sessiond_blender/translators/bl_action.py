"""Action: f-curves and their keyframes (position, interpolation, handles)."""

import array

import bpy

KIND = "Action"
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
             "handle_types": [[k.handle_left_type, k.handle_right_type] for k in kp]}
        if fc.group is not None:
            c["group"] = fc.group.name
        curves.append(c)
    return {"name": action.name, "fcurves": curves}


def construct(data, ctx):
    return bpy.data.actions.new(data.get("name", "Action"))


def load(action, data, ctx):
    if action.name != data.get("name", action.name):
        action.name = data["name"]
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
