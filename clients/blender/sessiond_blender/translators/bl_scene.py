"""Scene: frame range, current frame, active camera, world, render
resolution, and the objects and collections of its master collection."""

import bpy

from . import bl_collection
from .common import rna_dump, rna_load

KIND = "Scene"
COLLECTION = "scenes"
FIELDS = ("name", "frame_start", "frame_end", "frame_current", "frame_step", "camera", "world")
RENDER = ("resolution_x", "resolution_y", "resolution_percentage", "fps", "fps_base", "engine")


def dump(scene, ctx):
    d = rna_dump(scene, ctx, include=FIELDS)
    d["render"] = rna_dump(scene.render, ctx, include=RENDER)
    d["collection"] = bl_collection.dump_links(scene.collection, ctx)
    return d


def construct(data, ctx):
    return bpy.data.scenes.new(data.get("name", "Scene"))


def load(scene, data, ctx):
    fields = {k: v for k, v in data.items() if k in FIELDS and k != "frame_current"}
    for k in ("camera", "world"):
        fields.setdefault(k, "")
    rna_load(scene, fields, ctx, exclude=("frame_current",), clear=False)
    if "frame_current" in data and scene.frame_current != data["frame_current"]:
        scene.frame_current = data["frame_current"]
    rna_load(scene.render, data.get("render", {}), ctx)
    bl_collection.load_links(scene.collection, data.get("collection", {}), ctx)
