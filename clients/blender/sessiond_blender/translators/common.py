"""Helpers the per-kind translators share: RNA properties to JSON and back,
node trees (materials, worlds), packed little-endian arrays.

Every dump is plain JSON without null values (a merge patch uses null for
"remove"), so a missing key means "none". References to other datablocks are
uuids obtained from ctx.ref(), which also records them as the node's deps.
"""

import array
import sys

import bpy

# Properties that are never data: bookkeeping, UI state, identity.
SKIP = {"rna_type", "name_full", "is_evaluated", "original", "users", "tag",
        "use_extra_user", "is_embedded_data", "is_library_indirect", "library",
        "library_weak_reference", "override_library", "preview", "asset_data",
        "is_missing", "is_runtime_data", "session_uid", "use_fake_user",
        "select", "show_expanded", "is_active", "is_override_data_local",
        "show_in_editmode", "show_on_cage", "show_viewport_ui", "is_override_data"}
SIMPLE = ("BOOLEAN", "INT", "FLOAT", "STRING", "ENUM")


def round_floats(v, places):
    if isinstance(v, float):
        return round(v, places)
    if isinstance(v, list):
        return [round_floats(x, places) for x in v]
    return v


def shared(idb):
    """The datablock is shared (translators.why_not_shared)."""
    from . import why_not_shared     # the registry imports this module
    return why_not_shared(idb) is None


def keep_local(current, incoming):
    """A pointer loaded from received data keeps its local value when the
    data does not name a datablock and the local one is not shared: the
    sender could not name it, so the absence says nothing."""
    if incoming is not None or current is None:
        return False
    try:
        return isinstance(current, bpy.types.ID) and not shared(current)
    except ReferenceError:
        return False


def _value(p, v):
    if p.type == "ENUM":
        return sorted(v) if p.is_enum_flag else v
    if getattr(p, "array_length", 0):
        flat = []
        for x in v:
            if hasattr(x, "__len__"):
                flat.extend(x)
            else:
                flat.append(x)
        if p.type == "FLOAT":
            return [float(x) for x in flat]
        if p.type == "BOOLEAN":
            return [bool(x) for x in flat]
        return [int(x) for x in flat]
    if p.type in ("FLOAT", "INT"):
        # Within the property's limits, as setting it would make it (files
        # from older versions may hold a value outside them).
        v = min(max(v, p.hard_min), p.hard_max)
    if p.type == "FLOAT":
        return float(v)
    return v


class _Prop:
    """What rna_dump and rna_load need of an RNA property, read once: going
    through bl_rna.properties on every call costs more than the values."""
    __slots__ = ("identifier", "type", "is_readonly", "is_enum_flag", "array_length",
                 "array_dimensions", "hard_min", "hard_max", "is_id")

    def __init__(self, p):
        self.identifier, self.type, self.is_readonly = p.identifier, p.type, p.is_readonly
        self.is_enum_flag = p.type == "ENUM" and p.is_enum_flag
        self.array_length = getattr(p, "array_length", 0)
        self.array_dimensions = tuple(getattr(p, "array_dimensions", ()))
        self.hard_min = getattr(p, "hard_min", None)
        self.hard_max = getattr(p, "hard_max", None)
        self.is_id = p.type == "POINTER" and isinstance(getattr(p, "fixed_type", None),
                                                         bpy.types.ID)


_PROPS = {}


def _props(struct):
    """({identifier: _Prop}, [the writable ones worth looking at]) of a
    struct's type; add-ons registering properties later make a new entry."""
    rna = struct.bl_rna
    key = (rna.identifier, len(rna.properties))
    got = _PROPS.get(key)
    if got is None:
        all_props = {p.identifier: _Prop(p) for p in rna.properties}
        usable = [p for k, p in all_props.items()
                  if not p.is_readonly and k not in SKIP and not k.startswith("bl_")
                  and (p.type in SIMPLE or p.is_id)]
        got = _PROPS[key] = (all_props, usable)
    return got


def rna_dump(struct, ctx, exclude=(), include=None, prev=None):
    """Writable simple properties and ID pointers of `struct` as a dict.
    `prev` is the node's data for this struct (made by any Blender): its
    keys that name no property of `struct` in this Blender (settings of
    another version) are kept as they are. An ID pointer is sent when the
    datablock it points at is shared (ctx.ref sends nothing for one that is
    not, and keep_local never clears one)."""
    out = {}
    for p in _props(struct)[1]:
        k = p.identifier
        if (include is not None and k not in include) or k in exclude:
            continue
        if p.type in SIMPLE:
            try:
                v = getattr(struct, k)
            except AttributeError:
                continue
            if v is None:
                continue
            out[k] = _value(p, v)
        else:
            v = getattr(struct, k)
            if v is not None and ctx is not None:
                r = ctx.ref(v)
                if r:
                    out[k] = r
    keep_foreign(out, prev, struct, exclude, include)
    return out


def keep_foreign(out, prev, struct, exclude=(), include=None):
    """Copy into `out` the keys of `prev` that are no property of `struct`
    here: another Blender version's settings, kept as that version made
    them (a patch from here never removes them)."""
    if not prev:
        return out
    props = _props(struct)[0]
    for k, v in prev.items():
        if (k not in out and k not in exclude and (include is None or k in include)
                and k not in props):
            out[k] = v
    return out


def prev_of(ctx, key=None):
    """The node's data for this dump (ctx.prev, {} outside the bridge), or
    the dict under `key` in it."""
    prev = getattr(ctx, "prev", None) or {}
    if key is None:
        return prev
    v = prev.get(key)
    return v if isinstance(v, dict) else {}


def _shape(p, v):
    dims = [d for d in p.array_dimensions if d]
    if len(dims) == 2 and isinstance(v, list):
        n = dims[1]
        return [v[i:i + n] for i in range(0, len(v), n)]
    return v


def rna_load(struct, data, ctx, exclude=(), order=(), clear=True):
    """Set the properties of `data` on `struct`; keys in `order` first.
    With `clear`, ID pointers that `data` does not name are set to None."""
    props, usable = _props(struct)
    keys = [k for k in order if k in data] + [k for k in data if k not in order]
    for k in keys:
        if k in exclude or k in SKIP:
            continue
        p = props.get(k)
        if p is None or p.is_readonly:
            continue
        v = data[k]
        try:
            if p.type == "POINTER":
                target = ctx.resolve(v) if v else None
                cur = getattr(struct, k)
                if cur != target and not keep_local(cur, target):
                    setattr(struct, k, target)
            elif p.is_enum_flag:
                setattr(struct, k, set(v))
            else:
                cur = getattr(struct, k)
                if _value(p, cur) != v:
                    setattr(struct, k, _shape(p, v))
        except (AttributeError, TypeError, ValueError, RuntimeError):
            pass
    # Pointers that the data does not name are cleared.
    for p in usable if clear else ():
        k = p.identifier
        if p.is_id and k not in data and k not in exclude:
            try:
                cur = getattr(struct, k)
                if cur is not None and not keep_local(cur, None):
                    setattr(struct, k, None)
            except (AttributeError, TypeError, RuntimeError):
                pass


# -- what every datablock has ---------------------------------------------------
UUID_PROP = "sessiond_uuid"


def _jsonable(v):
    if hasattr(v, "to_dict"):
        v = v.to_dict()
    elif hasattr(v, "to_list"):
        v = v.to_list()
    if isinstance(v, float):
        return float(v)
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, (list, tuple)):
        out = [_jsonable(x) for x in v]
        return out if all(x is not None for x in out) else None
    if isinstance(v, dict):
        out = {k: _jsonable(x) for k, x in v.items()}
        return out if all(x is not None for x in out.values()) else None
    return None         # an ID or something JSON cannot hold: stays local


def _system(idb, create=False):
    """Blender 5.0+: where the settings add-ons register (bpy.props) are
    kept, apart from custom properties (None before 5.0, or when there are
    none and `create` is false)."""
    get = getattr(idb, "bl_system_properties_get", None)
    return get(do_create=create) if get is not None else None


def _custom_keys(idb):
    """(holder, key) of every custom property and, from 5.0, of every
    registered setting stored apart: the node data holds them together,
    as Blender before 5.0 did. (What 5.0 stores apart for a setting no
    add-on registers, such as a camera's Cycles settings of an old file,
    is shown nowhere: left as it is, as before 5.0.)"""
    out = [(idb, k) for k in idb.keys()]
    system = _system(idb)
    if system is not None:
        mine, props = {k for _, k in out}, idb.bl_rna.properties
        out += [(system, k) for k in system.keys() if k not in mine and k in props]
    return out


def _holder(idb, k, create=False):
    """Where key k is kept: a registered setting in 5.0+ apart."""
    if k in idb.bl_rna.properties and getattr(idb, "bl_system_properties_get", None):
        return _system(idb, create)
    return idb


def custom_props(idb, prev=None):
    """The custom properties of a datablock (or a pose bone) that JSON can
    hold, the settings add-ons register included (Cycles', Rigify's: they
    are stored the same way); not the uuid. Of a group an add-on registers,
    only the settings it has in this Blender: a file from another version
    may hold others (Cycles' displacement_method before 4.1), which setting
    the group elsewhere would drop; those of `prev` (the node's `custom`)
    are kept as another version sent them."""
    out = {}
    props = idb.bl_rna.properties
    for holder, k in _custom_keys(idb):
        if k == UUID_PROP or k == "_RNA_UI":
            continue
        v = _jsonable(holder[k])
        if isinstance(v, dict) and k in props:
            group = getattr(idb, k, None)
            if isinstance(group, bpy.types.PropertyGroup):
                names = group.bl_rna.properties
                v = {kk: vv for kk, vv in v.items() if kk in names}
                old = (prev or {}).get(k)
                if isinstance(old, dict):
                    v.update({kk: vv for kk, vv in old.items() if kk not in names})
        if v is not None:
            out[k] = v
    return out


def dump_common(idb, d, prev=None):
    """What every kind shares: the fake user (a material library's
    materials are kept by it) and custom properties. Replaces what a
    kind's dump kept of the node's data (common keys are no property)."""
    d.pop("fake_user", None)
    d.pop("custom", None)
    if idb.use_fake_user:
        d["fake_user"] = True
    props = custom_props(idb, (prev or {}).get("custom"))
    if props:
        d["custom"] = props
    return d


def load_common(idb, data):
    if idb.use_fake_user != bool(data.get("fake_user")):
        idb.use_fake_user = bool(data.get("fake_user"))
    load_custom(idb, data.get("custom", {}))


def load_custom(idb, want):
    have = custom_props(idb)
    for k in have:
        if k not in want:
            holder = _holder(idb, k)
            if holder is not None and k in holder:
                del holder[k]
    for k, v in want.items():
        if have.get(k) != v:
            try:
                _set_custom(_holder(idb, k, create=True), k, v, idb)
            except (TypeError, ValueError):
                pass


def _set_custom(holder, k, v, owner):
    """holder[k] = v, but an existing group takes v's items one by one:
    Blender 4+ refuses a dict for a group that exists (a group an add-on
    registers, Cycles' settings of a scene, exists as soon as it is read)."""
    cur = holder.get(k)
    if not (isinstance(v, dict) and hasattr(cur, "to_dict") and hasattr(cur, "keys")):
        holder[k] = v
        return
    group = getattr(owner, k, None) if owner is not None and k in owner.bl_rna.properties \
        else None
    names = group.bl_rna.properties if isinstance(group, bpy.types.PropertyGroup) else None
    for kk in list(cur.keys()):
        # Of a registered group, only the settings this Blender has are
        # shared (custom_props): the others are left as they are.
        if kk not in v and (names is None or kk in names):
            del cur[kk]
    for kk, vv in v.items():
        _set_custom(cur, kk, vv, None)


def fingerprint_common(idb):
    return (idb.use_fake_user, repr(custom_props(idb)))


# -- files (fonts, sounds) ------------------------------------------------------
def file_bytes(idb):
    """The bytes of a datablock made from a file: packed, or read from disk."""
    pf = getattr(idb, "packed_file", None)
    if pf is not None:
        return pf.data
    try:
        with open(bpy.path.abspath(idb.filepath), "rb") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def file_ref(idb, ctx):
    """{"file": blob reference, "ext"} of the datablock's file, or {}."""
    import os
    data = file_bytes(idb)
    if data is None:
        return {}
    return {"file": ctx.put_bytes(data), "ext": os.path.splitext(idb.filepath)[1].lower()}


# -- packed arrays ---------------------------------------------------------
def to_le(arr):
    """bytes of an array.array, little-endian."""
    if sys.byteorder == "big":
        arr = array.array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def from_le(typecode, data):
    arr = array.array(typecode)
    arr.frombytes(data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def pack_arrays(named):
    """[(name, array)] -> (bytes, layout [[name, typecode, count]])."""
    parts, layout = [], []
    for name, arr in named:
        parts.append(to_le(arr))
        layout.append([name, arr.typecode, len(arr)])
    return b"".join(parts), layout


def unpack_arrays(data, layout):
    out, pos = {}, 0
    for name, tc, count in layout:
        size = array.array(tc).itemsize * count
        out[name] = from_le(tc, data[pos:pos + size])
        pos += size
    return out


# -- node trees ---------------------------------------------------------------
# (width_hidden is computed by Blender when a node is collapsed.)
NODE_BASE = {"name", "label", "location", "width", "width_hidden", "height", "hide", "mute",
             "use_custom_color", "color", "parent", "type", "dimensions", "internal_links",
             "inputs", "outputs"}


def _socket_value(s):
    v = s.default_value
    if hasattr(v, "__len__") and not isinstance(v, str):
        return [float(x) for x in v]
    if isinstance(v, float):
        return float(v)
    if isinstance(v, bpy.types.ID):
        return None
    return v


def _by_index(node):
    """A node whose sockets come from a node group's interface (a group
    node, Group Input, Group Output): its socket identifiers are made by
    Blender per tree and differ between two Blenders, so such sockets are
    named by position, "#0", "#1", ... So is a reroute's (its one socket
    is "input" in files made by older Blenders, "Input" in new ones)."""
    return hasattr(node, "node_tree") or node.bl_idname in ("NodeGroupInput", "NodeGroupOutput",
                                                            "NodeReroute")


# Blender 4.0 renamed inputs of the Principled BSDF; the node data names
# them as 4.0+ does, whatever the Blender. A 3.x input whose 4.0 successor
# has another type (a tint factor became a colour) keeps its own name with
# " (3.x)", and an input one version has no socket for is kept as it was.
PRINCIPLED = "ShaderNodeBsdfPrincipled"
PRINCIPLED_3X = {"Subsurface": "Subsurface Weight", "Specular": "Specular IOR Level",
                 "Sheen": "Sheen Weight", "Clearcoat": "Coat Weight",
                 "Clearcoat Roughness": "Coat Roughness", "Clearcoat Normal": "Coat Normal",
                 "Transmission": "Transmission Weight", "Emission": "Emission Color",
                 "Specular Tint": "Specular Tint (3.x)", "Sheen Tint": "Sheen Tint (3.x)"}
# Blender before 4.0: the 3.x Principled BSDF.
OLD_PRINCIPLED = bpy.app.version < (4, 0, 0)
TO_NEUTRAL = PRINCIPLED_3X if OLD_PRINCIPLED else {}
FROM_NEUTRAL = {v: k for k, v in TO_NEUTRAL.items()}


def _neutral(node_type, ident):
    """The node data's name for a socket of this Blender."""
    return TO_NEUTRAL.get(ident, ident) if node_type == PRINCIPLED else ident


def _local(node_type, name):
    """This Blender's socket identifier for the node data's name."""
    return FROM_NEUTRAL.get(name, name) if node_type == PRINCIPLED else name


# A node of a type this Blender does not have, read from a file (Blender
# 5.0 opening a Point Density texture): it cannot be made, only kept.
UNDEFINED = "NodeUndefined"


def _node_type_known(typ):
    return typ != UNDEFINED and getattr(bpy.types, typ, None) is not None


def _undefined(node):
    return node.bl_idname == UNDEFINED


def _sid(node, sockets, s):
    """The node data's name for a socket: its position for a node whose
    sockets come from an interface, else its (version-neutral) identifier."""
    if _by_index(node):
        for i, x in enumerate(sockets):
            if x == s:
                return "#%d" % i
    return _neutral(node.bl_idname, s.identifier)


def _find_sid(node, sockets, ident):
    if ident.startswith("#") and _by_index(node):
        try:
            return sockets[int(ident[1:])]
        except (ValueError, IndexError):
            return None
    return _find(sockets, _local(node.bl_idname, ident))


def _find(sockets, ident):
    for s in sockets:
        if s.identifier == ident:
            return s
    return None


def _can_link(tree, link):
    """Whether this Blender can make a link of the node data (it has both
    nodes and both sockets)."""
    fn, fs, tn, ts = link
    a, b = tree.nodes.get(fn), tree.nodes.get(tn)
    return (a is not None and b is not None and _find_sid(a, a.outputs, fs) is not None
            and _find_sid(b, b.inputs, ts) is not None)


def _link_key(l):
    return [l.from_node.name, _sid(l.from_node, l.from_node.outputs, l.from_socket),
            l.to_node.name, _sid(l.to_node, l.to_node.inputs, l.to_socket)]


def _holds_unshared(node):
    """The node uses a datablock that is not shared (a group node whose
    group is not): received data cannot describe it, so it is kept."""
    nt = getattr(node, "node_tree", None)
    return nt is not None and not shared(nt)


def _socket_values(node, sockets):
    out = {}
    # A reroute's socket takes the type of what it is linked to: no value.
    for s in (sockets if node.bl_idname != "NodeReroute" else ()):
        if hasattr(s, "default_value"):
            v = _socket_value(s)
            if v is not None:
                out[_sid(node, sockets, s)] = v
    return out


def dump_ramp(ramp):
    d = rna_dump(ramp, None)
    d["elements"] = [[float(e.position)] + [float(c) for c in e.color] for e in ramp.elements]
    return d


def load_ramp(ramp, d):
    rna_load(ramp, {k: v for k, v in d.items() if k != "elements"}, None)
    want = d.get("elements") or []
    have = [[float(e.position)] + [float(c) for c in e.color] for e in ramp.elements]
    if not want or round_floats(want, 5) == round_floats(have, 5):
        return
    els = ramp.elements
    while len(els) > 1:
        els.remove(els[-1])
    els[0].position, els[0].color = want[0][0], want[0][1:5]
    for e in want[1:]:
        new = els.new(e[0])
        new.color = e[1:5]


def _dump_mapping(m):
    d = rna_dump(m, None)
    d["curves"] = [[[float(p.location[0]), float(p.location[1]), p.handle_type]
                    for p in c.points] for c in m.curves]
    return d


def _load_mapping(m, d):
    rna_load(m, {k: v for k, v in d.items() if k != "curves"}, None)
    for c, want in zip(m.curves, d.get("curves", ())):
        have = [[float(p.location[0]), float(p.location[1]), p.handle_type] for p in c.points]
        if round_floats(have, 5) == round_floats(want, 5):
            continue
        pts = c.points
        while len(pts) > max(2, len(want)):
            pts.remove(pts[len(pts) - 1])
        for p, w in zip(pts, want):
            p.location = w[:2]
        for w in want[len(pts):]:
            pts.new(w[0], w[1])
        for p, w in zip(pts, want):
            p.handle_type = w[2]
    m.update()


def _width(n):
    """As Blender shows it: files from older versions may hold a width
    outside the node type's limits, which setting it again clamps."""
    return float(min(max(n.width, n.bl_width_min), n.bl_width_max))


def dump_tree(tree, ctx, prev=None):
    """The tree as node data; `prev` (the node data's tree) gives back what
    this Blender cannot hold: nodes of a type it does not have, inputs it
    has no socket for, node settings it has no property for, and links to
    them."""
    prev = prev if isinstance(prev, dict) else {}
    old_nodes = {(n.get("name"), n.get("type")): n for n in prev.get("nodes", ())
                 if isinstance(n, dict)}
    nodes = []
    # Undefined nodes (and links to them) come last, where a Blender that
    # receives them keeps them (it cannot make them): one order on all sides.
    for n in [n for n in tree.nodes if not _undefined(n)] + \
            [n for n in tree.nodes if _undefined(n)]:
        old = old_nodes.get((n.name, n.bl_idname), {})
        inputs = _socket_values(n, n.inputs)
        for k, v in (old.get("inputs") or {}).items():
            if k not in inputs and _find_sid(n, n.inputs, k) is None:
                inputs[k] = v       # no such socket here: another version's
        d = {"name": n.name, "type": n.bl_idname,
             "location": [float(n.location[0]), float(n.location[1])],
             "width": _width(n),
             "props": rna_dump(n, ctx, exclude=NODE_BASE, prev=old.get("props")),
             "inputs": inputs}
        outputs = _socket_values(n, n.outputs)
        if outputs:
            d["outputs"] = outputs      # a Value or RGB node keeps its value here
        if n.label:
            d["label"] = n.label
        if n.parent is not None:
            d["parent"] = n.parent.name
        d["height"] = float(n.height)
        hidden = [_sid(n, socks, x) for socks in (n.inputs, n.outputs) for x in socks if x.hide]
        if hidden:
            d["hidden"] = hidden
        # Sockets whose gizmo is pinned (Blender 4.3+; older files opened
        # there may have it set on any node's sockets).
        pinned = [_sid(n, socks, x) for socks in (n.inputs, n.outputs) for x in socks
                  if getattr(x, "pin_gizmo", False)]
        if pinned:
            d["pinned"] = pinned
        for k in ("hide", "mute"):
            if getattr(n, k):
                d[k] = True
        if n.use_custom_color:
            d["color"] = [float(c) for c in n.color]
        ramp = getattr(n, "color_ramp", None)
        if isinstance(ramp, bpy.types.ColorRamp):
            d["ramp"] = dump_ramp(ramp)
        mapping = getattr(n, "mapping", None)
        if isinstance(mapping, bpy.types.CurveMapping):
            d["mapping"] = _dump_mapping(mapping)
        iu = getattr(n, "image_user", None)
        if isinstance(iu, bpy.types.ImageUser):
            d["image_user"] = rna_dump(iu, ctx, exclude=("frame_current",))
        nodes.append(d)
    mine = {n["name"] for n in nodes}
    nodes += [n for n in prev.get("nodes", ()) if isinstance(n, dict)
              and not _node_type_known(n.get("type", "")) and n.get("name") not in mine]
    links = [_link_key(l) for l in tree.links
             if not (_undefined(l.from_node) or _undefined(l.to_node))] + \
        [_link_key(l) for l in tree.links if _undefined(l.from_node) or _undefined(l.to_node)]
    # Links this Blender cannot make (a node or socket it does not have).
    for link in prev.get("links", ()):
        if link not in links and not _can_link(tree, link):
            links.append(link)
    return {"nodes": nodes, "links": links}


def _load_values(node, sockets, values):
    for ident, v in values.items():
        s = _find_sid(node, sockets, ident)
        if s is not None and hasattr(s, "default_value"):
            try:
                if _socket_value(s) != v:
                    s.default_value = v
            except (TypeError, ValueError, AttributeError):
                pass


def load_tree(tree, data, ctx):
    known = [n for n in data.get("nodes", ()) if _node_type_known(n["type"])]
    want = [(n["name"], n["type"]) for n in known]
    have = [(n.name, n.bl_idname) for n in tree.nodes if not _undefined(n)]
    kept = {n.name for n in tree.nodes if _holds_unshared(n) or _undefined(n)}
    if want != have:
        if not kept:
            tree.nodes.clear()
        else:
            wanted = set(want)
            for n in list(tree.nodes):
                if (n.name, n.bl_idname) not in wanted and n.name not in kept:
                    tree.nodes.remove(n)
        for name, typ in want:
            if tree.nodes.get(name) is None:
                node = tree.nodes.new(typ)
                node.name = name
    # Frames first: a node's location is relative to its parent frame.
    for nd in known:
        node = tree.nodes.get(nd["name"])
        if node is None:
            continue
        parent = tree.nodes.get(nd["parent"]) if nd.get("parent") else None
        if node.parent != parent and parent is not node:
            try:
                node.parent = parent
            except (TypeError, ValueError, RuntimeError):
                pass
    for nd in known:
        node = tree.nodes.get(nd["name"])
        if node is None:
            continue
        node.location = nd.get("location", (0, 0))
        for k in ("width", "height"):
            if nd.get(k) and abs(getattr(node, k) - nd[k]) > 1e-4:
                setattr(node, k, nd[k])
        node.label = nd.get("label", "")
        node.hide, node.mute = bool(nd.get("hide")), bool(nd.get("mute"))
        node.use_custom_color = "color" in nd
        if "color" in nd:
            node.color = nd["color"]
        rna_load(node, nd.get("props", {}), ctx, exclude=NODE_BASE)
        if "ramp" in nd and getattr(node, "color_ramp", None) is not None:
            load_ramp(node.color_ramp, nd["ramp"])
        if "mapping" in nd and getattr(node, "mapping", None) is not None:
            _load_mapping(node.mapping, nd["mapping"])
        if "image_user" in nd and getattr(node, "image_user", None) is not None:
            rna_load(node.image_user, nd["image_user"], ctx)
        hidden = set(nd.get("hidden", ()))
        for socks in (node.inputs, node.outputs):
            for x in socks:
                h = _sid(node, socks, x) in hidden
                if x.hide != h:
                    x.hide = h
        pinned = set(nd.get("pinned", ()))
        for socks in (node.inputs, node.outputs):
            for x in socks:
                p = _sid(node, socks, x) in pinned
                if getattr(x, "pin_gizmo", p) != p:
                    try:
                        x.pin_gizmo = p
                    except (AttributeError, TypeError, ValueError):
                        pass
        _load_values(node, node.inputs, nd.get("inputs", {}))
        _load_values(node, node.outputs, nd.get("outputs", {}))
    want_links = [l for l in data.get("links", []) if _can_link(tree, l)]
    if want_links == [_link_key(l) for l in tree.links]:
        return
    # Links to a kept node stay: the data cannot describe them.
    if not kept:
        tree.links.clear()
    for l in list(tree.links):
        if (_link_key(l) not in want_links and l.from_node.name not in kept
                and l.to_node.name not in kept):
            tree.links.remove(l)
    have_links = [_link_key(l) for l in tree.links]
    for key in want_links:
        if key in have_links:
            continue
        fn, fs, tn, ts = key
        a, b = tree.nodes.get(fn), tree.nodes.get(tn)
        if a is None or b is None:
            continue
        sa, sb = _find_sid(a, a.outputs, fs), _find_sid(b, b.inputs, ts)
        if sa is not None and sb is not None:
            tree.links.new(sa, sb)
