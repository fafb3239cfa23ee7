"""Light: type, colour, energy and the settings of its type."""

import bpy

from .common import prev_of, rna_dump, rna_load

KIND = "Light"
COLLECTION = "lights"


def dump(light, ctx):
    return rna_dump(light, ctx, prev=prev_of(ctx))


def construct(data, ctx):
    return bpy.data.lights.new(data.get("name", "Light"), data.get("type", "POINT"))


def load(light, data, ctx):
    if "type" in data and light.type != data["type"]:
        light.type = data["type"]
        # The RNA struct of a light depends on its type: look it up again.
        light = bpy.data.lights[light.name]
    rna_load(light, data, ctx, exclude=("type",))
