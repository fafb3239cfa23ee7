"""Light: type, colour, energy, the settings of its type, Cycles' settings
(custom properties), and its node tree when it uses nodes."""

import bpy

from .common import dump_tree, load_tree, rna_dump, rna_load

KIND = "Light"
COLLECTION = "lights"


def dump(light, ctx):
    d = rna_dump(light, ctx)
    if light.use_nodes and light.node_tree is not None:
        d["tree"] = dump_tree(light.node_tree, ctx)
    return d


def construct(data, ctx):
    return bpy.data.lights.new(data.get("name", "Light"), data.get("type", "POINT"))


def load(light, data, ctx):
    if "type" in data and light.type != data["type"]:
        light.type = data["type"]
        # The RNA struct of a light depends on its type: look it up again.
        light = bpy.data.lights[light.name]
    rna_load(light, data, ctx, exclude=("type", "tree"), order=("use_nodes",))
    if "tree" in data and light.node_tree is not None:
        load_tree(light.node_tree, data["tree"], ctx)
