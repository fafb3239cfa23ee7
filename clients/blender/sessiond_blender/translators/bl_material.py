"""Material: viewport settings and its shader node tree (nodes, their
settings and input values, links)."""

import bpy

from .common import dump_tree, load_tree, rna_dump, rna_load

KIND = "Material"
COLLECTION = "materials"
FIELDS = ("name", "use_nodes", "diffuse_color", "metallic", "roughness", "specular_intensity",
          "blend_method", "shadow_method", "use_backface_culling", "pass_index")


def dump(mat, ctx):
    d = rna_dump(mat, ctx, include=FIELDS)
    if mat.use_nodes and mat.node_tree is not None:
        d["tree"] = dump_tree(mat.node_tree, ctx)
    return d


def construct(data, ctx):
    return bpy.data.materials.new(data.get("name", "Material"))


def load(mat, data, ctx):
    rna_load(mat, data, ctx, exclude=("tree",), order=("use_nodes",))
    if "tree" in data and mat.node_tree is not None:
        load_tree(mat.node_tree, data["tree"], ctx)
