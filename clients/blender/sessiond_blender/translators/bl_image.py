"""Image: the file's bytes (packed or on disk) as a blob; generated images
without pixels of their own as their settings only.

A received image is written to the local blob cache, loaded from there and
packed, so the .blend stays self-contained and dumping it again gives the
same bytes (and the same hash).

The file's blob is cut into 256 KiB chunks (protocol 1.2, chunks.py): the
server stores, and a Blender downloads, only the chunks it does not hold.
"""

import os

import bpy

from .common import rna_dump, rna_load

KIND = "Image"
COLLECTION = "images"
FIELDS = ("name", "alpha_mode", "use_view_as_render")
GENERATED = ("generated_type", "generated_width", "generated_height", "generated_color",
             "use_generated_float")


SKIP_REASON = "a render result or viewer, not data"


def skip(img):
    """Render results and viewer images are views, not data."""
    return img.source == "VIEWER" or img.type in ("RENDER_RESULT", "COMPOSITING")


def _bytes(img):
    if img.packed_file is not None:
        return img.packed_file.data
    if img.source == "FILE" and img.filepath:
        try:
            with open(bpy.path.abspath(img.filepath), "rb") as f:
                return f.read()
        except OSError:
            return None
    return None


def fingerprint(img):
    """Settings, and where the bytes come from: a packed file's size (it
    changes only by packing again, which painting in Blender marks dirty),
    a file on disk's modification time and size (a file re-saved by a
    paint program and reloaded is seen)."""
    pf = img.packed_file
    if pf is not None:
        data_fp = pf.size
    else:
        try:
            st = os.stat(bpy.path.abspath(img.filepath)) if img.filepath else None
            data_fp = (st.st_mtime_ns, st.st_size) if st is not None else None
        except OSError:
            data_fp = None
    return (img.name, img.source, img.filepath, data_fp, img.is_dirty,
            img.colorspace_settings.name, img.alpha_mode, tuple(img.size),
            img.generated_type, tuple(img.generated_color))


def dump(img, ctx):
    d = rna_dump(img, ctx, include=FIELDS)
    d["colorspace"] = img.colorspace_settings.name
    if img.source == "GENERATED" and not img.is_dirty:
        d["source"] = "GENERATED"
        d.update(rna_dump(img, ctx, include=GENERATED))
        return d
    if img.is_dirty and img.packed_file is None:
        img.pack()              # pixels painted in memory become a PNG
    data = _bytes(img)
    d["source"] = "FILE"
    d["format"] = img.file_format
    if data is not None:
        d["file"] = ctx.put_bytes(data)
        d["ext"] = os.path.splitext(img.filepath)[1].lower() or ".png"
    return d


def construct(data, ctx):
    if data.get("source") == "GENERATED":
        return bpy.data.images.new(data.get("name", "Image"), data.get("generated_width", 1024),
                                   data.get("generated_height", 1024))
    img = bpy.data.images.new(data.get("name", "Image"), 1, 1)
    img.source = "FILE"
    return img


def load(img, data, ctx):
    if data.get("source") == "GENERATED":
        if img.source != "GENERATED":
            img.source = "GENERATED"
        rna_load(img, {k: v for k, v in data.items() if k in GENERATED}, ctx, clear=False)
    elif "file" in data:
        if ctx.ref_hash(data["file"]) != ctx.bytes_hash(_bytes(img)):
            path = ctx.get_path(data["file"], data.get("ext", ".png"))
            if path is None:
                ctx.pending()
            else:
                if img.packed_file is not None:
                    img.unpack(method="REMOVE")
                img.source = "FILE"
                img.filepath = path
                img.reload()
                img.pack()
    rna_load(img, {k: v for k, v in data.items() if k in FIELDS}, ctx, clear=False)
    cs = data.get("colorspace")
    if cs and img.colorspace_settings.name != cs:
        try:
            img.colorspace_settings.name = cs
        except TypeError:
            pass
