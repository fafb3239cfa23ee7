"""What an object's modifier holds beyond its own settings (which
bl_object dumps through RNA), for the Object kind:

- a geometry-nodes modifier's inputs: the values it gives its node group's
  inputs, whether an input reads an attribute and which, and the names of
  the attributes its outputs write. Blender keeps them as the modifier's
  ID properties named by the interface sockets' identifiers ("Input_2" in
  3.x, "Socket_2" from 4.0), which each Blender makes per tree: the node
  data names them by position, `in#1`, `in#1_use_attribute`,
  `in#1_attribute_name`, `out#1_attribute_name`. A datablock input (an
  object, a material, ...) is a uuid in `ids`.
- the physics settings kept in structs of the modifier: cloth and soft
  body `settings`, cloth `collision_settings`, the `point_cache`'s
  frame range and settings, a particle system modifier's
  `particle_system` (name, seed, its ParticleSettings as a uuid, vertex
  groups, ...) (SUBSTRUCTS).
"""

import bpy

from . import bl_nodegroup
from .common import _jsonable, rna_dump, rna_load, shared

# Structs of a modifier shared with it (cloth, soft body: the settings and
# the cache's frame range).
SUBSTRUCTS = ("settings", "collision_settings", "point_cache", "particle_system")
# Not settings: the cache's state and its name in the UI list.
UUID_PROP = "sessiond_uuid"
CACHE_EXCLUDE = ("name", "is_baked", "is_baking", "is_outdated", "info", "frame_step")


def _names(mod):
    """{identifier: position name} of the group's inputs and outputs."""
    tree = mod.node_group
    if tree is None:
        return {}
    out = {}
    for io, is_out in (("in", False), ("out", True)):
        for i, (_, _, s) in enumerate(bl_nodegroup._sockets(tree, is_out)):
            out[s.identifier] = "%s#%d" % (io, i)
    return out


def _split(key, names):
    """(position name, suffix) of an ID property of the modifier, or None."""
    for ident, pos in names.items():
        if key == ident or (key.startswith(ident + "_") and key[len(ident):] in
                            ("_use_attribute", "_attribute_name")):
            return pos, key[len(ident):]
    return None


def dump_inputs(mod, ctx):
    """{"values": {name: value}, "ids": {name: uuid}} of a geometry-nodes
    modifier, or None."""
    if mod.type != "NODES" or mod.node_group is None or not shared(mod.node_group):
        return None
    names = _names(mod)
    values, ids = {}, {}
    for k in mod.keys():
        got = _split(k, names)
        if got is None:
            continue
        name = got[0] + got[1]
        v = mod[k]
        if isinstance(v, bpy.types.ID):
            r = ctx.ref(v) if ctx is not None else v.name
            if r:
                ids[name] = r
            continue
        v = _jsonable(v)
        if v is not None:
            values[name] = v
    out = {"values": values}
    if ids:
        out["ids"] = ids
    return out


def load_inputs(mod, d, ctx):
    if mod.type != "NODES" or mod.node_group is None or not d:
        return
    by_pos = {pos: ident for ident, pos in _names(mod).items()}
    changed = False
    for name, v in list(d.get("values", {}).items()) + [
            (n, ctx.resolve(u)) for n, u in d.get("ids", {}).items()]:
        pos, _, suffix = name.partition("_")
        ident = by_pos.get(pos)
        if ident is None:
            continue
        key = ident + ("_" + suffix if suffix else "")
        if key not in mod.keys() or v is None:
            continue
        cur = mod[key]
        if (isinstance(cur, bpy.types.ID) and cur == v) or _jsonable(cur) == v:
            continue
        try:
            mod[key] = v
            changed = True
        except (TypeError, ValueError, OverflowError):
            pass
    if changed:
        mod.show_viewport = mod.show_viewport       # evaluated again
        mod.id_data.update_tag()


def dump_structs(mod, ctx):
    """{struct name: its settings} of the physics structs the modifier has."""
    out = {}
    for k in SUBSTRUCTS:
        st = getattr(mod, k, None)
        if isinstance(st, bpy.types.bpy_struct) and not isinstance(st, bpy.types.ID):
            out[k] = rna_dump(st, ctx, exclude=CACHE_EXCLUDE if k == "point_cache" else ())
            ew = getattr(st, "effector_weights", None)
            if ew is not None:
                out[k]["effector_weights"] = rna_dump(ew, ctx)
    return out


def load_structs(mod, d, ctx):
    for k, want in d.items():
        st = getattr(mod, k, None) if k in SUBSTRUCTS else None
        if st is None:
            continue
        if k == "particle_system":
            _load_particle_system(st, want, ctx)
            continue
        rna_load(st, {kk: v for kk, v in want.items() if kk != "effector_weights"}, ctx,
                 exclude=CACHE_EXCLUDE if k == "point_cache" else ())
        if "effector_weights" in want and getattr(st, "effector_weights", None) is not None:
            rna_load(st.effector_weights, want["effector_weights"], ctx)


def _load_particle_system(psys, want, ctx):
    """A particle system's settings, and its ParticleSettings: a new
    particle system modifier comes with settings of its own, which are
    removed once the received ones replace them (else they would be
    shared as a new datablock)."""
    old = psys.settings
    rna_load(psys, want, ctx, clear=False)
    if old is not None and old != psys.settings and old.users == 0 and \
            not old.get(UUID_PROP):
        bpy.data.particles.remove(old)
