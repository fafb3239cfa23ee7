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
        elif p.type == "POINTER" and isinstance(getattr(p, "fixed_type", None), bpy.types.ID):
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
                target = ctx.resolve(v) if v else None
                if getattr(struct, k) != target:
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
                and isinstance(getattr(p, "fixed_type", None), bpy.types.ID)):
            try:
                if getattr(struct, k) is not None:
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


def dump_tree(tree, ctx):
    nodes = []
    for n in tree.nodes:
        inputs = {}
        for s in n.inputs:
            if hasattr(s, "default_value"):
                v = _socket_value(s)
                if v is not None:
                    inputs[s.identifier] = v
        d = {"name": n.name, "type": n.bl_idname,
             "location": [float(n.location[0]), float(n.location[1])],
             "props": rna_dump(n, ctx, exclude=NODE_BASE), "inputs": inputs}
        if n.label:
            d["label"] = n.label
        nodes.append(d)
    links = [[l.from_node.name, l.from_socket.identifier, l.to_node.name, l.to_socket.identifier]
             for l in tree.links]
    return {"nodes": nodes, "links": links}


def _find(sockets, ident):
    for s in sockets:
        if s.identifier == ident:
            return s
    return None


def load_tree(tree, data, ctx):
    want = [(n["name"], n["type"]) for n in data.get("nodes", ())]
    have = [(n.name, n.bl_idname) for n in tree.nodes]
    if want != have:
        tree.nodes.clear()
        for name, typ in want:
            node = tree.nodes.new(typ)
            node.name = name
    for nd in data.get("nodes", ()):
        node = tree.nodes.get(nd["name"])
        if node is None:
            continue
        node.location = nd.get("location", (0, 0))
        node.label = nd.get("label", "")
        rna_load(node, nd.get("props", {}), ctx, exclude=NODE_BASE)
        for ident, v in nd.get("inputs", {}).items():
            s = _find(node.inputs, ident)
            if s is not None and hasattr(s, "default_value"):
                try:
                    if _socket_value(s) != v:
                        s.default_value = v
                except (TypeError, ValueError, AttributeError):
                    pass
    want_links = data.get("links", [])
    have_links = [[l.from_node.name, l.from_socket.identifier, l.to_node.name, l.to_socket.identifier]
                  for l in tree.links]
    if want_links != have_links:
        tree.links.clear()
        for fn, fs, tn, ts in want_links:
            a, b = tree.nodes.get(fn), tree.nodes.get(tn)
            if a is None or b is None:
                continue
            sa, sb = _find(a.outputs, fs), _find(b.inputs, ts)
            if sa is not None and sb is not None:
                tree.links.new(sa, sb)
