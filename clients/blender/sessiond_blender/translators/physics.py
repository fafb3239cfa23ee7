"""Physics settings that live outside modifiers, for the Object and Scene
kinds (cloth and soft body settings travel with their modifiers:
modifiers.py):

- an object's rigid body (`rigid_body`: type, shape, mass, friction,
  damping, collision collections, ...) and its force field (`field`, when
  it has one);
- the scene's rigid body world (`rigidbody_world`: enabled, time scale,
  substeps, solver iterations, its collection of objects and of constraints
  as uuids, `point_cache` (its frame range) and `effector_weights`).

Blender makes these only through operators (rigidbody.world_add,
object.forcefield_toggle), run here with a context override. An object
gets its rigid body from the world: Blender gives one to every object of
the world's collection when the collection is set, so a received rigid
body is made by the scene's load (the world and its collection are there
then), and the object's settings are loaded from its node.
"""

import bpy

from .common import rna_dump, rna_load

CACHE_EXCLUDE = ("name", "index", "filepath", "use_external", "use_library_path",
                 "use_disk_cache", "compression")
UUID_PROP = "sessiond_uuid"


def dump(obj, ctx):
    """{"rigid_body"?, "field"?} of an object, or {}."""
    out = {}
    if obj.rigid_body is not None:
        out["rigid_body"] = rna_dump(obj.rigid_body, ctx)
    if obj.field is not None and obj.field.type != "NONE":
        out["field"] = rna_dump(obj.field, ctx)
    return out


def _op(op, **override):
    try:
        with bpy.context.temp_override(**override):
            op()
        return True
    except (RuntimeError, TypeError, AttributeError):
        return False


def load(obj, d, ctx):
    rb = d.get("rigid_body")
    if rb is not None and obj.rigid_body is not None:
        rna_load(obj.rigid_body, rb, ctx, order=("type",))
    # (A rigid body that is not here yet is made by the scene's load.)
    field = d.get("field")
    if field is not None and obj.field is None:
        _op(bpy.ops.object.forcefield_toggle, object=obj, active_object=obj)
    if obj.field is not None and (field is not None or obj.field.type != "NONE"):
        rna_load(obj.field, field or {"type": "NONE"}, ctx, order=("type", "shape"))


def dump_world(scene, ctx):
    rbw = scene.rigidbody_world
    if rbw is None:
        return None
    d = rna_dump(rbw, ctx)
    d["point_cache"] = rna_dump(rbw.point_cache, ctx, exclude=CACHE_EXCLUDE)
    d["effector_weights"] = rna_dump(rbw.effector_weights, ctx)
    return d


def load_world(scene, d, ctx):
    """The scene's rigid body world, and the rigid bodies of the objects in
    its collection. A world removed on the other side is left here."""
    if d is None:
        return
    rbw = scene.rigidbody_world
    if rbw is None:
        _op(bpy.ops.rigidbody.world_add, scene=scene)
        rbw = scene.rigidbody_world
        if rbw is None:
            return
    rna_load(rbw, {k: v for k, v in d.items() if k not in ("point_cache", "effector_weights")},
             ctx)
    rna_load(rbw.point_cache, d.get("point_cache", {}), ctx, exclude=CACHE_EXCLUDE)
    rna_load(rbw.effector_weights, d.get("effector_weights", {}), ctx)
    for obj in rbw.collection.all_objects if rbw.collection is not None else ():
        rb = ctx.node_data(obj.get(UUID_PROP)).get("physics", {}).get("rigid_body")
        if rb is not None and obj.rigid_body is not None:
            rna_load(obj.rigid_body, rb, ctx, order=("type",))
