"""In-Blender: a digest of everything a datablock holds, independent of
what the add-on shares. RNA is walked generically: every property of the
datablock (read-only ones too, so an object's type and its data's kind
count), the structs it owns (render settings, modifiers, node trees with
their nodes, sockets and links, constraints, F-curves, ...), its custom
properties (the add-on's own uuid left out) and, for meshes, a hash of the
geometry arrays. Another datablock is named by its type and name, so a
cut pointer (a group node losing its tree) or a kind swapped (a Curve
object becoming an Empty) changes the digest.

digests() -> {"collection/name": (hex, structure)} for every local
datablock in bpy.data; diff(a, b) names the first paths that differ.
"""

import array
import hashlib
import json

import bpy

UUID_PROP = "sessiond_uuid"
# Bookkeeping and evaluation state, not content.
SKIP = {"rna_type", "bl_rna", "users", "is_evaluated", "original", "session_uid", "tag",
        "is_runtime_data", "preview", "name_full", "is_library_indirect", "use_extra_user",
        "library_weak_reference", "override_library", "is_missing", "select", "select_head",
        "select_tail", "select_control_point", "select_left_handle", "select_right_handle",
        "is_editmode", "bound_box", "matrix_world", "dimensions", "is_dirty", "bindcode",
        "is_float", "has_data", "is_active", "active_material_index", "is_updated",
        "is_updated_data", "show_expanded", "mode", "is_in_editmode", "is_embedded_data",
        "depsgraph", "frame_current_final", "is_nla_tweakmode", "statistics", "keying_sets_all",
        "cursor", "tool_settings", "is_dirty", "packed_files", "filepath_raw", "size",
        "resolution", "users_collection", "users_scene", "matrix_local", "matrix_basis",
        "is_multi_input", "link_limit", "is_linked", "is_unavailable", "dirty", "is_hidden",
        "active", "active_index", "is_active_output", "internal_links", "texture_mapping",
        "is_property_group",
        # UI list positions; socket identifiers, which Blender makes per tree
        # for node groups' interfaces (and their group nodes) and which
        # cannot be set.
        "active_input", "active_output", "identifier",
        # Where the node editor's view of a tree is; a collapsed node's
        # width, which Blender computes.
        "view_center", "width_hidden",
        # The outliner's active collection; the mode a Grease Pencil object
        # was left in.
        "active_layer_collection", "is_stroke_paint_mode", "is_stroke_sculpt_mode",
        "is_stroke_weight_mode", "is_stroke_vertex_mode",
        # An action slot's handle (4.4+): a number Blender draws for each
        # slot it makes, which cannot be set (slots are matched by name).
        "handle", "slot_handle",
        # A modifier's persistent_uid (4.2+): a number Blender draws from
        # the modifier's name when it makes one (an older file's converted
        # ones count from 1), which cannot be set.
        "persistent_uid"}
# Collections that name members owned elsewhere: a bone's children and
# its bone collections, a bone collection's bones and child collections
# (every bone is walked once in its armature's `bones`, every bone
# collection in `collections_all`). Walked as members they nest without
# end (a bone, its collection, that collection's bones, ...): Blender 4's
# bone collections took the walk of a meta-rig to minutes. Their members
# are kept by name, in order.
MEMBERS = {("Bone", "children"), ("Bone", "collections"), ("BoneCollection", "bones"),
           ("BoneCollection", "children")}
# Collections whose order is no content: Blender 3.x lists every strip of
# the sequencer from a hash set (its order follows memory addresses).
UNORDERED = ("sequences_all", "strips_all")
MAX_DEPTH = 7
MAX_ITEMS = 512
PLACES = 4


def _num(v):
    if isinstance(v, float):
        r = round(v, PLACES)
        return 0.0 if r == 0 else r
    return v


def _simple(v):
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, set):
        return sorted(v)
    try:
        return [_simple(x) for x in v]
    except TypeError:
        return repr(v)


def _idref(v):
    return ["ID", type(v).__name__, v.name]


def _has_name(s):
    return "name" in s.bl_rna.properties


def _made_curves(m):
    """A view transform's curve mapping as Blender makes it when the curves
    are first turned on (a file may have none yet: the same thing)."""
    return (m.tone == "STANDARD" and m.use_clip and m.extend == "EXTRAPOLATED"
            and [m.clip_min_x, m.clip_min_y, m.clip_max_x, m.clip_max_y] == [0, 0, 1, 1]
            and list(m.black_level) == [0, 0, 0] and list(m.white_level) == [1, 1, 1]
            and len(m.curves) == 4
            and all([(tuple(p.location), p.handle_type) for p in c.points]
                    == [((0, 0), "AUTO"), ((1, 1), "AUTO")] for c in m.curves))


def _editing_state(attribute):
    try:
        return attribute.name.startswith((".select", ".uv_select", ".pn.", ".vs.", ".es."))
    except UnicodeDecodeError:
        return True     # a UV map's lazily made layer whose name 4.2 left unset


def walk(s, depth=0):
    """A JSON-able structure of RNA struct s."""
    out = {}
    reroute = isinstance(s, bpy.types.NodeReroute)
    # Computed by Blender: an automatic texture space; the NURBS settings
    # of a bezier spline (unused, clamped when set).
    skip = ()
    if getattr(s, "use_auto_texspace", False):
        skip = ("texspace_location", "texspace_size")
    elif isinstance(s, bpy.types.Material) and bpy.app.version[:2] == (4, 2):
        # Blender 4.2 still stores EEVEE Legacy's shadow_method beside EEVEE
        # Next's use_transparent_shadow, and no renderer of 4.2 reads it; the
        # add-on shares the pair 4.2 uses (and derives a 3.x pair from it).
        skip = ("shadow_method",)
    elif isinstance(s, bpy.types.ImageUser):
        skip = ("frame_current",)   # the sequence's frame shown now: follows the scene
    elif isinstance(s, bpy.types.Spline):
        if s.type == "BEZIER":
            skip = ("order_u", "order_v", "point_count_u", "point_count_v")
        if not isinstance(s.id_data, bpy.types.SurfaceCurve):
            skip += ("order_v", "point_count_v")     # a curve has no V direction
    for p in s.bl_rna.properties:
        k = p.identifier
        if k in SKIP or k.startswith("bl_"):
            continue
        if k in skip:
            continue
        if reroute and k in ("inputs", "outputs"):
            continue    # a reroute's socket: typed by its links, its value unused
        try:
            v = getattr(s, k)
        except (AttributeError, RuntimeError, TypeError, ValueError):
            continue
        if p.type in ("BOOLEAN", "INT", "FLOAT", "STRING", "ENUM"):
            if p.type in ("INT", "FLOAT") and hasattr(v, "foreach_get") and \
                    not getattr(p, "array_length", 0):
                # An array of any length (a loaded image's pixels, its
                # first tile's for a tiled image): a hash of its values.
                a = array.array("f" if p.type == "FLOAT" else "i", [0]) * len(v)
                v.foreach_get(a)
                out[k] = hashlib.sha256(a.tobytes()).hexdigest()
                continue
            if p.type in ("INT", "FLOAT") and not getattr(p, "array_length", 0):
                v = min(max(v, p.hard_min), p.hard_max)     # as it can be set
            out[k] = _simple(v)
            if k == "width" and isinstance(s, bpy.types.Node):
                # As drawn: older files may hold a width outside the limits.
                out[k] = _num(float(min(max(v, s.bl_width_min), s.bl_width_max)))
        elif p.type == "POINTER":
            if v is None:
                out[k] = None
            elif isinstance(v, bpy.types.ID):
                # An embedded tree (a material's, a world's) belongs to it;
                # its name is shown nowhere and Blender gives it one as it
                # goes ("Shader Nodetree" when made, "Material Node Tree
                # Versioning" when 5.0 converts a Grease Pencil material).
                if getattr(v, "is_embedded_data", False) and depth < MAX_DEPTH:
                    out[k] = walk(v, depth + 1)
                    out[k].pop("name", None)
                else:
                    out[k] = _idref(v)
            elif k == "curve_mapping" and isinstance(s, bpy.types.ColorManagedViewSettings) \
                    and _made_curves(v):
                # Not made yet in some files, made as this in others.
                out[k] = None
            elif k in ("field", "collision") and not (
                    getattr(v, "type", "") not in ("", "NONE") or getattr(v, "use", False)):
                # No force field / collision: allocated by some files and
                # not others, the same thing either way.
                out[k] = None
            elif _has_name(v) or depth >= MAX_DEPTH:
                # A named struct reached by pointer (a link's node, a
                # bone's parent) is a reference, not owned.
                out[k] = ["ref", type(v).__name__, getattr(v, "name", "")]
            else:
                out[k] = walk(v, depth + 1)
        elif p.type == "COLLECTION":
            if k in ("attributes", "vertex_colors", "color_attributes") and \
                    isinstance(s, bpy.types.Mesh):
                # Selection is kept as internal attributes (UV selection
                # too from 5.0), and so are a UV map's pins and its
                # vertex and edge selection (".pn.", ".vs.", ".es." before
                # 5.0): editing state, not content. Reading a UV map's pins
                # (this walk does) makes that layer in Blender 4.x, and 4.2
                # may leave its name unset (garbage, or not even text under
                # MALLOC_PERTURB_, which meson sets).
                v = [a for a in v if not _editing_state(a)]
            if (type(s).__name__, k) in MEMBERS:
                out[k] = [["ref", type(x).__name__, x.name] for x in v]
                continue
            n = len(v)
            if n > MAX_ITEMS or depth >= MAX_DEPTH:
                out[k] = ["len", n]
                continue
            items = []
            for x in v:
                if x is None:
                    items.append(None)
                elif isinstance(x, bpy.types.ID):
                    items.append(_idref(x))
                else:
                    items.append(walk(x, depth + 1))
            if k in UNORDERED:
                items.sort(key=lambda x: json.dumps(x, sort_keys=True, default=repr))
            out[k] = items
    return out


def _mesh_arrays(me):
    h = hashlib.sha256()
    for coll, prop, tc, width in ((me.vertices, "co", "f", 3), (me.edges, "vertices", "i", 2),
                                  (me.polygons, "loop_start", "i", 1),
                                  (me.polygons, "material_index", "i", 1),
                                  (me.loops, "vertex_index", "i", 1)):
        a = array.array(tc, [0]) * (len(coll) * width)
        if len(coll):
            coll.foreach_get(prop, a)
        if tc == "f":
            a = array.array("f", [round(x, PLACES) for x in a])
        h.update(a.tobytes())
    for layer in me.uv_layers:
        a = array.array("f", [0.0]) * (len(me.loops) * 2)
        if len(me.loops):
            layer.data.foreach_get("uv", a)
        h.update(array.array("f", [round(x, PLACES) for x in a]).tobytes())
    return h.hexdigest()


def id_structure(idb):
    if isinstance(idb, bpy.types.Volume) and idb.filepath:
        idb.grids.load()    # as drawing it would: its file's grids
    d = walk(idb)
    d["__type"] = type(idb).__name__
    if isinstance(idb, bpy.types.Volume) and idb.filepath:
        # A volume's file by its bytes, not where it is (a received one is
        # read from the local blob cache: a volume cannot be packed).
        with open(bpy.path.abspath(idb.filepath), "rb") as f:
            d["filepath"] = hashlib.sha256(f.read()).hexdigest()
    props = {}
    registered = idb.bl_rna.properties
    for k in idb.keys():
        if k == UUID_PROP or k in registered:
            continue    # registered settings (Cycles') are walked as RNA above
        try:
            props[k] = _simple(idb[k].to_dict() if hasattr(idb[k], "to_dict") else idb[k])
        except Exception:
            props[k] = repr(idb[k])
    d["__props"] = props
    if isinstance(idb, bpy.types.Mesh):
        d["__geometry"] = _mesh_arrays(idb)
    return d


# Scene content (tool settings such as brushes and palettes left out).
COLLECTIONS = ("actions", "armatures", "cameras", "collections", "curves", "fonts",
               "grease_pencils", "images", "lattices", "lights", "lightprobes", "masks",
               "materials", "meshes", "metaballs", "movieclips", "node_groups", "objects",
               "particles", "pointclouds", "scenes", "sounds", "speakers", "texts", "textures",
               "volumes", "worlds", "hair_curves")


def digests():
    out = {}
    for coll in COLLECTIONS:
        for idb in getattr(bpy.data, coll, ()):
            if idb.library is not None:
                continue
            if isinstance(idb, bpy.types.Image) and idb.type in ("RENDER_RESULT", "COMPOSITING"):
                continue    # what the last render showed, not scene content
            st = id_structure(idb)
            text = json.dumps(st, sort_keys=True, separators=(",", ":"), default=repr)
            out["%s/%s" % (coll, idb.name)] = (hashlib.sha256(text.encode()).hexdigest(), st)
    return out


def diff(a, b, path="", limit=4):
    """Up to `limit` paths where structures a and b differ, with values."""
    found = []

    def rec(x, y, p):
        if len(found) >= limit or x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                rec(x.get(k, "<absent>"), y.get(k, "<absent>"), p + "." + k)
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                rec(u, v, "%s[%d]" % (p, i))
        else:
            sx, sy = json.dumps(x, default=repr), json.dumps(y, default=repr)
            found.append("%s: %s -> %s" % (p, sx[:120], sy[:120]))
    rec(a, b, path)
    return found
