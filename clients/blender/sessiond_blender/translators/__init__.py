"""Per-kind translators: one module per Blender datablock type, the registry
mapping the type name (the node's `kind`) to it.

Every module defines
  KIND        the Blender type name, used as the node's kind ("Object", ...)
  COLLECTION  the bpy.data collection that holds it ("objects", ...)
  dump(id, ctx) -> dict        the datablock as JSON (no nulls)
  construct(data, ctx) -> id   a new datablock for data (then load() runs), or
                               None while what it needs is missing (an object's
                               data, a font file still downloading)
  load(id, data, ctx)          make the datablock match data
and may define
  fingerprint(id)              cheap value that changes whenever dump() would
  recreate(id, data) -> bool   the datablock cannot become data in place
  skip(id) -> bool             a datablock of this type that is not shared
  SKIP_REASON                  why, in words (the panel's "Not shared" list)
  LOAD_AFTER_LINK = True       load() again once a new datablock is linked

Every kind also shares what every datablock has (fake user, custom
properties): _with_common() below adds it around each module's functions.
A load that cannot happen now (ctx.pending() without a missing dep or
blob, as an armature in edit mode) is tried again by the bridge.

The context object gives: ref(id) -> uuid (recorded as a dep), resolve(uuid)
-> id or None, put_bytes(bytes) -> reference, get_path(reference, ext) ->
local file or None (not yet downloaded), ref_hash(reference).

Adding a kind means adding one module and one line below.

What is not shared is never touched: a datablock of a kind without a
module (or that `skip` rejects, or linked from a library) gets no uuid
and is no dep; an object whose data is such a kind is not shared at all;
a reference to it is left out of dumps, and loading data that does not
name it leaves the local pointer as it is (see `shared` and common.py).
"""

from . import (bl_action, bl_armature, bl_camera, bl_collection, bl_curve, bl_font, bl_gpencil,
               bl_image, bl_lattice, bl_linestyle, bl_light, bl_lightprobe, bl_material, bl_mesh,
               bl_metaball, bl_nodegroup, bl_object, bl_particles, bl_scene, bl_sound, bl_speaker,
               bl_text, bl_texture, bl_volume, bl_world)

# Apply order for a full load: what is used before what uses it.
MODULES = [bl_text, bl_image, bl_font, bl_sound, bl_texture, bl_particles, bl_action,
           bl_nodegroup, bl_material, bl_world, bl_mesh, bl_curve, bl_armature, bl_lattice,
           bl_metaball, bl_volume, bl_gpencil, bl_camera, bl_light, bl_lightprobe, bl_speaker,
           bl_object, bl_collection, bl_linestyle, bl_scene]
KINDS = {m.KIND: m for m in MODULES}
UUID_PROP = "sessiond_uuid"


def _with_common(m):
    """Every kind also shares what every datablock has (common.dump_common:
    fake user, custom properties): added around the module's own code."""
    from . import common
    dump, load, fp = m.dump, m.load, getattr(m, "fingerprint", None)

    def dump_all(idb, ctx):
        return common.dump_common(idb, dump(idb, ctx), common.prev_of(ctx))

    def load_all(idb, data, ctx):
        load(idb, data, ctx)
        common.load_common(idb, data)
    m.dump, m.load = dump_all, load_all
    if fp is not None:
        m.fingerprint = lambda idb: (fp(idb), common.fingerprint_common(idb))


for _m in MODULES:
    _with_common(_m)


def module_of(idblock):
    """The translator module for a datablock's type, or None."""
    types = __import__("bpy").types
    for m in MODULES:
        if isinstance(idblock, getattr(types, m.KIND)):
            return m
    return None


def kind_of(idblock):
    """The registry's kind for a datablock, or None if it is not replicated."""
    m = module_of(idblock)
    return m.KIND if m is not None else None


def why_not_shared(idblock, m=None):
    """None when the datablock is shared, else the reason in words. `m`:
    its module when the caller knows it."""
    if idblock is None:
        return "nothing"
    try:
        if idblock.library is not None:
            return "linked from a library"
        if getattr(idblock, "is_embedded_data", False):
            return "part of another datablock"
    except ReferenceError:
        return "removed"
    if m is None:
        m = module_of(idblock)
    if m is None:
        return "%s is not a shared kind" % type(idblock).__name__
    skip = getattr(m, "skip", None)
    if skip is not None and skip(idblock):
        return getattr(m, "SKIP_REASON", "not data")
    data = getattr(idblock, "data", None) if m.KIND == "Object" else None
    if data is not None and why_not_shared(data) is not None:
        return "its data is a %s, not a shared kind" % type(data).__name__
    return None


def shared(idblock):
    """Whether a datablock is one the session shares (why_not_shared: of a
    replicated kind, not skipped, not linked; an object whose data is of a
    kind that is not shared, such as a Grease Pencil v3 or a point cloud, stays
    local)."""
    return why_not_shared(idblock) is None


def leave_out(kind):
    """Stop sharing a kind (for pipelines that keep one local, and for the
    tests of what is not shared). Call before connecting."""
    m = KINDS.pop(kind, None)
    if m is not None:
        MODULES.remove(m)


# Every datablock collection of bpy.data that can hold scene content, for
# the list of what is not shared.
ALL_COLLECTIONS = ("actions", "armatures", "cameras", "collections", "curves", "fonts",
                   "grease_pencils", "images", "lattices", "lightprobes", "lights", "linestyles",
                   "masks",
                   "materials", "meshes", "metaballs", "movieclips", "node_groups", "objects",
                   "particles", "pointclouds", "scenes", "sounds", "speakers", "texts",
                   "textures", "volumes", "worlds", "hair_curves")


def not_shared():
    """[(collection, name, reason)] of the local datablocks not shared."""
    out = []
    data = __import__("bpy").data
    for coll in ALL_COLLECTIONS:
        for idb in getattr(data, coll, ()):
            why = why_not_shared(idb)
            if why is not None:
                out.append((coll, idb.name, why))
    return out
