"""Node groups (bpy.data.node_groups), shader and geometry: the group's
interface (its input and output sockets with their defaults and limits)
and its node tree (nodes, settings, input values, links; a group used
inside the group is a dep). Materials' group nodes and geometry-nodes
modifiers reference them by uuid, so both travel whole.

Compositor, texture and add-on node trees are not shared (skip).

Blender 4.0 replaced tree.inputs/outputs by tree.interface, whose sockets
have the base types (NodeSocketFloat) where 3.x has subtypes
(NodeSocketFloatFactor): socket types are compared by their base type, and
a 4.0+ Blender creates the base type.
"""

import bpy

from .common import dump_tree, load_tree, prev_of

KIND = "NodeTree"
COLLECTION = "node_groups"
TYPES = ("ShaderNodeTree", "GeometryNodeTree")
SKIP_REASON = "compositor, texture and add-on node groups are not shared"
# (subtype: 4.0+ interface sockets, e.g. FACTOR; 3.x has it in the type.)
LIMITS = ("subtype", "min_value", "max_value", "hide_value", "description")
# Blender 4.0+: the node group interface.
INTERFACE = "interface" in bpy.types.NodeTree.bl_rna.properties
SUBTYPED = ("NodeSocketFloat", "NodeSocketInt", "NodeSocketVector")


def _base(typ):
    """A socket type without its 3.x subtype (NodeSocketFloatFactor ->
    NodeSocketFloat): what 4.0+'s interface sockets are."""
    for b in SUBTYPED:
        if typ.startswith(b):
            return b
    return typ


def skip(tree):
    return tree.bl_idname not in TYPES


def _value(v):
    if hasattr(v, "__len__") and not isinstance(v, str):
        return [float(x) for x in v]
    if isinstance(v, float):
        return float(v)
    if isinstance(v, (int, bool, str)):
        return v
    return None


def _sockets(tree, out):
    """(name, socket type, interface socket) of the inputs or outputs.
    Blender 4.0 replaced tree.inputs/outputs by tree.interface."""
    if INTERFACE:                       # 4.0+
        want = "OUTPUT" if out else "INPUT"
        return [(s.name, s.socket_type, s) for s in tree.interface.items_tree
                if getattr(s, "item_type", "") == "SOCKET" and s.in_out == want]
    return [(s.name, s.bl_socket_idname, s) for s in (tree.outputs if out else tree.inputs)]


def _dump_sockets(tree, out):
    items = []
    for name, typ, s in _sockets(tree, out):
        d = {"name": name, "type": typ}
        if hasattr(s, "default_value"):
            v = _value(s.default_value)
            if v is not None:
                d["default"] = v
        for k in LIMITS:
            if hasattr(s, k):
                v = _value(getattr(s, k))
                if v is not None and v != "":
                    d[k] = v
        items.append(d)
    return items


def _load_sockets(tree, items, out):
    cur = _sockets(tree, out)
    have = [(n, _base(t)) for n, t, _ in cur]
    want = [(d["name"], _base(d["type"])) for d in items]
    if have != want:
        # The sockets both lists begin with stay: a modifier using the group
        # keeps the values it gives them (Blender keeps them by socket
        # identifier, and a socket made again gets a new one).
        keep = 0
        while keep < min(len(have), len(want)) and have[keep] == want[keep]:
            keep += 1
        if INTERFACE:                   # 4.0+
            for _, _, s in cur[keep:]:
                tree.interface.remove(s)
            for d in items[keep:]:
                tree.interface.new_socket(d["name"], in_out="OUTPUT" if out else "INPUT",
                                          socket_type=_base(d["type"]))
        else:
            coll = tree.outputs if out else tree.inputs
            for _, _, s in reversed(cur[keep:]):
                coll.remove(s)
            for d in items[keep:]:
                coll.new(d["type"], d["name"])
        cur = _sockets(tree, out)
    for (_, _, s), d in zip(cur, items):
        for k, v in d.items():
            attr = "default_value" if k == "default" else k
            if attr in ("name", "type") or not hasattr(s, attr):
                continue
            try:
                if _value(getattr(s, attr)) != v:
                    setattr(s, attr, v)
            except (TypeError, ValueError, AttributeError):
                pass


def dump(tree, ctx):
    return {"name": tree.name, "type": tree.bl_idname,
            "inputs": _dump_sockets(tree, False), "outputs": _dump_sockets(tree, True),
            "tree": dump_tree(tree, ctx, prev_of(ctx, "tree"))}


def construct(data, ctx):
    typ = data.get("type", "ShaderNodeTree")
    if typ not in TYPES:
        return None
    return bpy.data.node_groups.new(data.get("name", "NodeGroup"), typ)


def load(tree, data, ctx):
    if tree.name != data.get("name", tree.name):
        tree.name = data["name"]
    _load_sockets(tree, data.get("inputs", []), False)
    _load_sockets(tree, data.get("outputs", []), True)
    load_tree(tree, data.get("tree", {}), ctx)
