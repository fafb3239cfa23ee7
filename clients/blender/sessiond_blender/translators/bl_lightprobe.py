"""Light probe (reflection cubemap, reflection plane, irradiance volume):
its type and every writable setting (influence, clipping, visibility
collection as a uuid, ...).

The type is named as Blender before 4.1 names it (CUBE, PLANAR, GRID);
4.1+ reads and writes SPHERE, PLANE, VOLUME for them. Settings of another
version (keys that name no property here) are kept as it sent them."""

import bpy

from .common import prev_of, rna_dump, rna_load

KIND = "LightProbe"
COLLECTION = "lightprobes"
# Blender 4.1+: the probe types' new names.
NEW_TYPES = "SPHERE" in {e.identifier for e in
                         bpy.types.LightProbe.bl_rna.properties["type"].enum_items}
TO_NEUTRAL = {"SPHERE": "CUBE", "PLANE": "PLANAR", "VOLUME": "GRID"} if NEW_TYPES else {}
FROM_NEUTRAL = {v: k for k, v in TO_NEUTRAL.items()}


def dump(probe, ctx):
    d = rna_dump(probe, ctx, exclude=("type",), prev=prev_of(ctx))
    d["type"] = TO_NEUTRAL.get(probe.type, probe.type)
    return d


def construct(data, ctx):
    typ = data.get("type", "CUBE")
    return bpy.data.lightprobes.new(data.get("name", "LightProbe"), FROM_NEUTRAL.get(typ, typ))


def load(probe, data, ctx):
    rna_load(probe, data, ctx, exclude=("type",))
