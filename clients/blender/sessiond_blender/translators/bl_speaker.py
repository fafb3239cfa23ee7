"""Speaker: every writable setting (volume, pitch, distances, cone, muted).
Its sound is not shared yet (sounds are not a shared kind): each side keeps
its own."""

import bpy

from .common import rna_dump, rna_load

KIND = "Speaker"
COLLECTION = "speakers"


def dump(speaker, ctx):
    return rna_dump(speaker, ctx)


def construct(data, ctx):
    return bpy.data.speakers.new(data.get("name", "Speaker"))


def load(speaker, data, ctx):
    rna_load(speaker, data, ctx)
