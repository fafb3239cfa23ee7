"""Per-kind translators: one module per Blender datablock type, the registry
mapping the type name (the node's `kind`) to it.

Every module defines
  KIND        the Blender type name, used as the node's kind ("Object", ...)
  COLLECTION  the bpy.data collection that holds it ("objects", ...)
  dump(id, ctx) -> dict        the datablock as JSON (no nulls)
  construct(data, ctx) -> id   a new datablock for data (then load() runs)
  load(id, data, ctx)          make the datablock match data
and may define
  fingerprint(id)              cheap value that changes whenever dump() would
  recreate(id, data) -> bool   the datablock cannot become data in place
  skip(id) -> bool             a datablock of this type that is not shared
  LOAD_AFTER_LINK = True       load() again once a new datablock is linked

The context object gives: ref(id) -> uuid (recorded as a dep), resolve(uuid)
-> id or None, put_bytes(bytes) -> reference, get_path(reference, ext) ->
local file or None (not yet downloaded), ref_hash(reference).

Adding a kind means adding one module and one line below.
"""

from . import (bl_action, bl_camera, bl_collection, bl_image, bl_light, bl_material, bl_mesh,
               bl_object, bl_scene, bl_world)

# Apply order for a full load: what is used before what uses it.
MODULES = [bl_image, bl_action, bl_material, bl_world, bl_mesh, bl_camera, bl_light,
           bl_object, bl_collection, bl_scene]
KINDS = {m.KIND: m for m in MODULES}
UUID_PROP = "sessiond_uuid"


def kind_of(idblock):
    """The registry's kind for a datablock, or None if it is not replicated."""
    for m in MODULES:
        if isinstance(idblock, getattr(__import__("bpy").types, m.KIND)):
            return m.KIND
    return None


def shared(idblock):
    """Whether a datablock is one the session shares: of a replicated kind
    and not skipped by its translator (an object whose data is of a kind
    that is not shared, such as a Grease Pencil or a text, stays local)."""
    kind = kind_of(idblock)
    if kind is None:
        return False
    skip = getattr(KINDS[kind], "skip", None)
    return skip is None or not skip(idblock)
