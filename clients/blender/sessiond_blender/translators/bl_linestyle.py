"""FreestyleLineStyle: a Freestyle line style's every writable setting
(colour, alpha, thickness, chaining, splitting, sorting, caps, dashes,
...) and its four stacks of modifiers (`color_modifiers`,
`alpha_modifiers`, `thickness_modifiers`, `geometry_modifiers`: [{`name`,
`type`, `props` (its settings, objects as uuids), `ramp`? (its colour
ramp), `mapping`? (its curve)}]).

Not shared yet: its texture slots and its node tree (`use_nodes`). The
view layers' Freestyle settings and line sets, which name line styles,
travel with the scene (freestyle.py).
"""

import bpy

from .common import _dump_mapping, _load_mapping, dump_ramp, load_ramp, rna_dump, rna_load

KIND = "FreestyleLineStyle"
COLLECTION = "linestyles"
STACKS = ("color_modifiers", "alpha_modifiers", "thickness_modifiers", "geometry_modifiers")
EXCLUDE = ("use_nodes", "active_texture", "active_texture_index", "node_tree")
MOD_EXCLUDE = ("name", "type", "expanded")


def _dump_mod(m, ctx):
    d = {"name": m.name, "type": m.type, "props": rna_dump(m, ctx, exclude=MOD_EXCLUDE)}
    ramp = getattr(m, "color_ramp", None)
    if ramp is not None:
        d["ramp"] = dump_ramp(ramp)
    curve = getattr(m, "curve", None)
    if isinstance(curve, bpy.types.CurveMapping):
        d["mapping"] = _dump_mapping(curve)
    return d


def dump(ls, ctx):
    d = rna_dump(ls, ctx, exclude=EXCLUDE)
    for k in STACKS:
        d[k] = [_dump_mod(m, ctx) for m in getattr(ls, k)]
    return d


def construct(data, ctx):
    return bpy.data.linestyles.new(data.get("name", "LineStyle"))


def load(ls, data, ctx):
    rna_load(ls, {k: v for k, v in data.items() if k not in STACKS}, ctx, exclude=EXCLUDE)
    for k in STACKS:
        stack, want = getattr(ls, k), data.get(k, [])
        if [(m.name, m.type) for m in stack] != [(w["name"], w["type"]) for w in want]:
            for m in list(stack):
                stack.remove(m)
            for w in want:
                stack.new(w["name"], w["type"])
        for m, w in zip(stack, want):
            rna_load(m, w.get("props", {}), ctx, exclude=MOD_EXCLUDE)
            if "ramp" in w and getattr(m, "color_ramp", None) is not None:
                load_ramp(m.color_ramp, w["ramp"])
            if "mapping" in w and isinstance(getattr(m, "curve", None), bpy.types.CurveMapping):
                _load_mapping(m.curve, w["mapping"])
