"""World: background colour and its node tree."""

import bpy

from .common import dump_tree, load_tree, prev_of, rna_dump, rna_load

KIND = "World"
COLLECTION = "worlds"


def dump(world, ctx):
    d = rna_dump(world, ctx, include=("name", "color", "use_nodes"))
    if world.use_nodes and world.node_tree is not None:
        d["tree"] = dump_tree(world.node_tree, ctx, prev_of(ctx).get("tree"))
    return d


def construct(data, ctx):
    return bpy.data.worlds.new(data.get("name", "World"))


def load(world, data, ctx):
    rna_load(world, data, ctx, exclude=("tree",), order=("use_nodes",))
    if "tree" in data and world.node_tree is not None:
        load_tree(world.node_tree, data["tree"], ctx)
