"""Font (VectorFont): the font file's bytes as a blob. A received font is
written to the local blob cache, loaded from there and packed, so the
.blend stays self-contained. Blender's built-in font is not sent: every
Blender has it (a Text using it uses the receiver's own)."""

import bpy

from .common import file_bytes, file_ref

KIND = "VectorFont"
COLLECTION = "fonts"
SKIP_REASON = "Blender's built-in font: every Blender has it"


def skip(font):
    return font.filepath == "<builtin>"


def dump(font, ctx):
    d = {"name": font.name}
    d.update(file_ref(font, ctx))
    return d


def construct(data, ctx):
    if "file" not in data:
        return None
    path = ctx.get_path(data["file"], data.get("ext") or ".ttf")
    if path is None:
        return None             # still downloading: waits for the blob
    font = bpy.data.fonts.load(path, check_existing=False)
    font.pack()
    return font


def load(font, data, ctx):
    if font.name != data.get("name", font.name):
        font.name = data["name"]
    if "file" in data and ctx.ref_hash(data["file"]) != ctx.bytes_hash(file_bytes(font)):
        path = ctx.get_path(data["file"], data.get("ext") or ".ttf")
        if path is None:
            ctx.pending()
            return
        if font.packed_file is not None:
            font.unpack(method="REMOVE")
        font.filepath = path
        font.pack()
