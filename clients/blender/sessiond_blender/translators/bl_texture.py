"""Texture (bpy.data.textures: brush, displacement and legacy textures):
its type and every writable setting of that type (its image as a uuid),
its color ramp and the image user's frame settings."""

import bpy

from .common import dump_ramp, load_ramp, rna_dump, rna_load

KIND = "Texture"
COLLECTION = "textures"


def dump(tex, ctx):
    d = rna_dump(tex, ctx)
    if tex.use_color_ramp and tex.color_ramp is not None:
        d["ramp"] = dump_ramp(tex.color_ramp)
    iu = getattr(tex, "image_user", None)
    if iu is not None:
        d["image_user"] = rna_dump(iu, ctx, exclude=("frame_current",))
    return d


def construct(data, ctx):
    return bpy.data.textures.new(data.get("name", "Texture"), data.get("type", "IMAGE"))


def load(tex, data, ctx):
    # The type first: it changes which settings there are.
    rna_load(tex, {k: v for k, v in data.items() if k not in ("ramp", "image_user")}, ctx,
             order=("type",))
    tex = bpy.data.textures[tex.name]      # of its new type
    if "ramp" in data and tex.color_ramp is not None:
        load_ramp(tex.color_ramp, data["ramp"])
    iu = getattr(tex, "image_user", None)
    if iu is not None and "image_user" in data:
        rna_load(iu, data["image_user"], ctx)
