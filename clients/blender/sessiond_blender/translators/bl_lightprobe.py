"""Light probe (reflection cubemap, reflection plane, irradiance volume):
its type and every writable setting (influence, clipping, visibility
collection as a uuid, ...)."""

import bpy

from .common import rna_dump, rna_load

KIND = "LightProbe"
COLLECTION = "lightprobes"


def dump(probe, ctx):
    d = rna_dump(probe, ctx)
    d["type"] = probe.type
    return d


def construct(data, ctx):
    return bpy.data.lightprobes.new(data.get("name", "LightProbe"), data.get("type", "CUBE"))


def load(probe, data, ctx):
    rna_load(probe, data, ctx)
