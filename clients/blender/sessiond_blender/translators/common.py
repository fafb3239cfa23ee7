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
    if p.type == "FLOAT":
        return float(v)
    return v


def local_only(idblock):
    """A datablock the session does not share (translators.shared): what
    points at it here is kept, never cleared by data from elsewhere."""
    from . import shared
    return idblock is not None and not shared(idblock)


def _shared_id_pointer(p):
    """A pointer to a datablock of a replicated kind. Pointers to other
    datablocks (a modifier's geometry node group, such as 4.1's "Smooth by
    Angle") are neither sent nor cleared: each Blender keeps its own."""
    t = getattr(p, "fixed_type", None)
    if not isinstance(t, bpy.types.ID):
        return False
    from . import KINDS
    return t.identifier in KINDS or t.identifier == "ID"


def rna_dump(struct, ctx, exclude=(), include=None, prev=None):
    """Writable simple properties and ID pointers of `struct` as a dict.
    `prev` is the node's data for this struct (made by any Blender): its
    keys that name no property of `struct` in this Blender (settings of
    another version) are kept as they are."""
    out = {}
    for p in struct.bl_rna.properties:
        k = p.identifier
        if include is not None and k not in include:
            continue
        if k in SKIP or k in exclude or k.startswith("bl_"):
            continue
        if p.is_readonly:
            continue
        if p.type in SIMPLE:
            try:
                v = getattr(struct, k)
            except AttributeError:
                continue
            if v is None:
                continue
            out[k] = _value(p, v)
        elif p.type == "POINTER" and _shared_id_pointer(p):
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
    props = struct.bl_rna.properties
    for k, v in prev.items():
        if (k not in out and k not in exclude and (include is None or k in include)
                and props.get(k) is None):
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
    dims = [d for d in getattr(p, "array_dimensions", ()) if d]
    if len(dims) == 2 and isinstance(v, list):
        n = dims[1]
        return [v[i:i + n] for i in range(0, len(v), n)]
    return v


def rna_load(struct, data, ctx, exclude=(), order=(), clear=True):
    """Set the properties of `data` on `struct`; keys in `order` first.
    With `clear`, ID pointers that `data` does not name are set to None."""
    props = struct.bl_rna.properties
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
                if not _shared_id_pointer(p):
                    continue
                target = ctx.resolve(v) if v else None
                cur = getattr(struct, k)
                if cur != target and not (target is None and local_only(cur)):
                    setattr(struct, k, target)
            elif p.type == "ENUM" and p.is_enum_flag:
                setattr(struct, k, set(v))
            else:
                cur = getattr(struct, k)
                if _value(p, cur) != v:
                    setattr(struct, k, _shape(p, v))
        except (AttributeError, TypeError, ValueError, RuntimeError):
            pass
    # Pointers that the data does not name are cleared.
    for p in props if clear else ():
        k = p.identifier
        if (p.type == "POINTER" and not p.is_readonly and k not in data and k not in exclude
                and k not in SKIP and not k.startswith("bl_")
                and _shared_id_pointer(p)):
            try:
                cur = getattr(struct, k)
                if cur is not None and not local_only(cur):
                    setattr(struct, k, None)
            except (AttributeError, TypeError, RuntimeError):
                pass


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
NODE_BASE = {"name", "label", "location", "width", "width_hidden", "height", "hide", "mute",
             "show_options", "show_preview", "show_texture", "use_custom_color", "color",
             "parent", "type", "dimensions", "internal_links", "inputs", "outputs"}


def _socket_value(s):
    v = s.default_value
    if hasattr(v, "__len__") and not isinstance(v, str):
        return [float(x) for x in v]
    if isinstance(v, float):
        return float(v)
    if isinstance(v, bpy.types.ID):
        return None
    return v


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


def _node_type_known(typ):
    return getattr(bpy.types, typ, None) is not None


def dump_tree(tree, ctx, prev=None):
    """The tree as node data; `prev` (the node data's tree) gives back what
    this Blender cannot hold: nodes of a type it does not have, inputs it
    has no socket for, and links to them."""
    prev = prev if isinstance(prev, dict) else {}
    old_nodes = {(n.get("name"), n.get("type")): n for n in prev.get("nodes", ())
                 if isinstance(n, dict)}
    nodes = []
    for n in tree.nodes:
        typ = n.bl_idname
        old = old_nodes.get((n.name, typ), {})
        inputs = {}
        for s in n.inputs:
            if hasattr(s, "default_value"):
                v = _socket_value(s)
                if v is not None:
                    inputs[_neutral(typ, s.identifier)] = v
        for k, v in (old.get("inputs") or {}).items():
            if k not in inputs and _find(n.inputs, _local(typ, k)) is None:
                inputs[k] = v       # no such socket here: another version's
        d = {"name": n.name, "type": typ,
             "location": [float(n.location[0]), float(n.location[1])],
             "props": rna_dump(n, ctx, exclude=NODE_BASE, prev=old.get("props")),
             "inputs": inputs}
        if n.label:
            d["label"] = n.label
        nodes.append(d)
    foreign = [n for n in prev.get("nodes", ()) if isinstance(n, dict)
               and not _node_type_known(n.get("type", ""))]
    nodes += foreign
    links = [[l.from_node.name, _neutral(l.from_node.bl_idname, l.from_socket.identifier),
              l.to_node.name, _neutral(l.to_node.bl_idname, l.to_socket.identifier)]
             for l in tree.links]
    # Links this Blender cannot make (a node or socket it does not have).
    for link in prev.get("links", ()):
        if link not in links and not _can_link(tree, link):
            links.append(link)
    return {"nodes": nodes, "links": links}


def _can_link(tree, link):
    fn, fs, tn, ts = link
    a, b = tree.nodes.get(fn), tree.nodes.get(tn)
    return (a is not None and b is not None
            and _find(a.outputs, _local(a.bl_idname, fs)) is not None
            and _find(b.inputs, _local(b.bl_idname, ts)) is not None)


def _find(sockets, ident):
    for s in sockets:
        if s.identifier == ident:
            return s
    return None


def load_tree(tree, data, ctx):
    known = [n for n in data.get("nodes", ()) if _node_type_known(n["type"])]
    want = [(n["name"], n["type"]) for n in known]
    have = [(n.name, n.bl_idname) for n in tree.nodes]
    if want != have:
        tree.nodes.clear()
        for name, typ in want:
            node = tree.nodes.new(typ)
            node.name = name
    for nd in known:
        node = tree.nodes.get(nd["name"])
        if node is None:
            continue
        node.location = nd.get("location", (0, 0))
        node.label = nd.get("label", "")
        rna_load(node, nd.get("props", {}), ctx, exclude=NODE_BASE)
        for name, v in nd.get("inputs", {}).items():
            s = _find(node.inputs, _local(node.bl_idname, name))
            if s is not None and hasattr(s, "default_value"):
                try:
                    if _socket_value(s) != v:
                        s.default_value = v
                except (TypeError, ValueError, AttributeError):
                    pass
    want_links = [l for l in data.get("links", []) if _can_link(tree, l)]
    have_links = [[l.from_node.name, _neutral(l.from_node.bl_idname, l.from_socket.identifier),
                   l.to_node.name, _neutral(l.to_node.bl_idname, l.to_socket.identifier)]
                  for l in tree.links]
    if want_links != have_links:
        tree.links.clear()
        for fn, fs, tn, ts in want_links:
            a, b = tree.nodes.get(fn), tree.nodes.get(tn)
            sa = _find(a.outputs, _local(a.bl_idname, fs))
            sb = _find(b.inputs, _local(b.bl_idname, ts))
            tree.links.new(sa, sb)
