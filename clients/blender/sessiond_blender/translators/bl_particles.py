"""ParticleSettings: every writable setting (type, count, frame range,
lifetime, emission, physics, render as object or collection with their
datablocks as uuids, children, hair length and segments, ...), its
effector weights, its two force fields (`force_field_1`, `force_field_2`),
its fluid and boid settings (not the boid rules), and its clump, roughness
and twist curves.

The particle systems that use it travel with their object: the particle
system modifier, with its `particle_system` (name, seed, settings as a
uuid, vertex groups, ...: modifiers.py). Particles themselves (positions,
styled hair keys) are computed by each Blender, or not shared (hair
combed in particle edit mode).
"""

import bpy

from .common import _dump_mapping, _load_mapping, rna_dump, rna_load

KIND = "ParticleSettings"
COLLECTION = "particles"
STRUCTS = ("effector_weights", "force_field_1", "force_field_2", "fluid", "boids")
CURVES = ("clump_curve", "roughness_curve", "twist_curve")
# Settings that decide which others apply: set first.
ORDER = ("type", "render_type", "physics_type", "child_type", "emit_from")


def dump(ps, ctx):
    d = rna_dump(ps, ctx, exclude=STRUCTS + CURVES)
    for k in STRUCTS:
        st = getattr(ps, k, None)
        if st is not None:
            d[k] = rna_dump(st, ctx, exclude=("active_boid_state_index",))
    for k in CURVES:
        m = getattr(ps, k, None)
        if m is not None:
            d[k] = _dump_mapping(m)
    return d


def construct(data, ctx):
    return bpy.data.particles.new(data.get("name", "ParticleSettings"))


def load(ps, data, ctx):
    rna_load(ps, {k: v for k, v in data.items() if k not in STRUCTS + CURVES}, ctx,
             order=ORDER)
    for k in STRUCTS:
        st = getattr(ps, k, None)
        if st is not None and k in data:
            rna_load(st, data[k], ctx, exclude=("active_boid_state_index",),
                     order=("type", "shape"))
    for k in CURVES:
        m = getattr(ps, k, None)
        if m is not None and k in data:
            _load_mapping(m, data[k])
