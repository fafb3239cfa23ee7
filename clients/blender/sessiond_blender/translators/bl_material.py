"""Material: every setting of the material (viewport, EEVEE, line art),
Cycles' settings when Cycles is there, the Grease Pencil style of a Grease
Pencil material, and its shader node tree (nodes, their settings and
input values, color ramps, curve mappings, frames, links)."""

import bpy

from .common import dump_tree, load_tree, rna_dump, rna_load

KIND = "Material"
COLLECTION = "materials"
# Set apart: the node tree (`tree`), the per-engine settings.
OWN = ("tree", "cycles", "gpencil")
# Paint and UI state, not the material.
EXCLUDE = ("paint_active_slot", "paint_clone_slot")


def dump(mat, ctx):
    d = rna_dump(mat, ctx, exclude=EXCLUDE)
    cycles = getattr(mat, "cycles", None)
    if cycles is not None:
        d["cycles"] = rna_dump(cycles, ctx)
    if mat.is_grease_pencil and mat.grease_pencil is not None:
        d["gpencil"] = rna_dump(mat.grease_pencil, ctx)
    if mat.use_nodes and mat.node_tree is not None:
        d["tree"] = dump_tree(mat.node_tree, ctx)
    return d


def construct(data, ctx):
    return bpy.data.materials.new(data.get("name", "Material"))


def load(mat, data, ctx):
    rna_load(mat, data, ctx, exclude=OWN + EXCLUDE, order=("use_nodes",))
    cycles = getattr(mat, "cycles", None)
    if cycles is not None and "cycles" in data:
        rna_load(cycles, data["cycles"], ctx)
    if "gpencil" in data:
        if not mat.is_grease_pencil:
            bpy.data.materials.create_gpencil_data(mat)
        rna_load(mat.grease_pencil, data["gpencil"], ctx)
    if "tree" in data and mat.node_tree is not None:
        load_tree(mat.node_tree, data["tree"], ctx)
