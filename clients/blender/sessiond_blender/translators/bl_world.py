"""World: every writable setting (background colour, mist, light
settings, ...) and its node tree."""

import bpy

from .common import dump_tree, load_tree, rna_dump, rna_load

KIND = "World"
COLLECTION = "worlds"


def dump(world, ctx):
    d = rna_dump(world, ctx)
    d["mist"] = rna_dump(world.mist_settings, ctx)
    if world.use_nodes and world.node_tree is not None:
        d["tree"] = dump_tree(world.node_tree, ctx)
    return d


def construct(data, ctx):
    return bpy.data.worlds.new(data.get("name", "World"))


def load(world, data, ctx):
    rna_load(world, data, ctx, exclude=("tree", "mist"), order=("use_nodes",))
    if "mist" in data:
        rna_load(world.mist_settings, data["mist"], ctx)
    if "tree" in data and world.node_tree is not None:
        load_tree(world.node_tree, data["tree"], ctx)
