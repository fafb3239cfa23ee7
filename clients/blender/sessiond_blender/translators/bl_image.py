"""Image: the file's bytes (packed or on disk) as a blob; generated images
without pixels of their own as their settings only; a tiled (UDIM) image
as its tiles (number, label) with each tile's file bytes as a blob.

A received image is written to the local blob cache (a tiled one's tiles
with the <UDIM> naming, in a folder of their own), loaded from there and
packed, so the .blend stays self-contained and dumping it again gives the
same bytes (and the same hash).

The file's blob is cut into 256 KiB chunks (protocol 1.2, chunks.py): the
server stores, and a Blender downloads, only the chunks it does not hold.
"""

import hashlib
import os
import shutil

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


def _tile_bytes(img):
    """{tile number: its file's bytes} of a tiled image, packed or on disk
    (a <UDIM> path names each tile's file by its number)."""
    out = {}
    if img.packed_file is not None:
        for pf in img.packed_files:
            out[pf.tile_number] = pf.packed_file.data
        return out
    for t in img.tiles:
        try:
            path = bpy.path.abspath(img.filepath).replace("<UDIM>", str(t.number))
            with open(path, "rb") as f:
                out[t.number] = f.read()
        except OSError:
            pass
    return out


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
            img.generated_type, tuple(img.generated_color),
            tuple((t.number, t.label) for t in img.tiles))


def dump(img, ctx):
    d = rna_dump(img, ctx, include=FIELDS)
    d["colorspace"] = img.colorspace_settings.name
    if img.source == "GENERATED" and not img.is_dirty:
        d["source"] = "GENERATED"
        d.update(rna_dump(img, ctx, include=GENERATED))
        return d
    if img.is_dirty and img.packed_file is None:
        img.pack()              # pixels painted in memory become a PNG
    if img.source == "TILED":
        files = _tile_bytes(img)
        d["source"] = "TILED"
        d["format"] = img.file_format
        d["filepath"] = img.filepath
        d["ext"] = os.path.splitext(img.filepath)[1].lower() or ".png"
        d.update(rna_dump(img, ctx, include=GENERATED))     # kept, though unused
        d["tiles"] = [{"number": t.number, "label": t.label,
                       "file": ctx.put_bytes(files[t.number])}
                      for t in img.tiles if t.number in files]
        return d
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
    img.source = "TILED" if data.get("source") == "TILED" else "FILE"
    return img


def _tile(img, number):
    return next((t for t in img.tiles if t.number == number), None)


def _load_tiles(img, data, ctx):
    """The tiles' files written side by side with the <UDIM> naming in a
    folder of the blob cache named by their hashes, loaded from there and
    packed; the image keeps the author's path (where unpacking writes)."""
    tiles = data.get("tiles", ())
    want = {t["number"]: ctx.ref_hash(t["file"]) for t in tiles}
    have = {n: ctx.bytes_hash(b) for n, b in _tile_bytes(img).items()} \
        if img.source == "TILED" else {}
    if want and want != have:
        ext = data.get("ext", ".png")
        paths = {t["number"]: ctx.get_path(t["file"], ext) for t in tiles}
        if None in paths.values():
            ctx.pending()
            return
        key = hashlib.sha256(repr(sorted(want.items())).encode()).hexdigest()
        folder = os.path.join(os.path.dirname(next(iter(paths.values()))), "udim-" + key)
        os.makedirs(folder, exist_ok=True)
        for n, path in paths.items():
            shutil.copyfile(path, os.path.join(folder, "tile.%d%s" % (n, ext)))
        if img.packed_file is not None:
            img.unpack(method="REMOVE")
        img.source = "TILED"
        img.filepath = os.path.join(folder, "tile.<UDIM>" + ext)
        for n in want:
            if _tile(img, n) is None:
                img.tiles.new(tile_number=n)
        for t in [t for t in img.tiles if t.number not in want]:
            img.tiles.remove(t)
        img.reload()
        img.pack()
        if data.get("filepath"):
            img.filepath_raw = data["filepath"]
    for t in tiles:
        tile = _tile(img, t["number"])
        if tile is not None and tile.label != t.get("label", tile.label):
            tile.label = t["label"]


def load(img, data, ctx):
    if data.get("source") == "GENERATED":
        if img.source != "GENERATED":
            img.source = "GENERATED"
        rna_load(img, {k: v for k, v in data.items() if k in GENERATED}, ctx, clear=False)
    elif data.get("source") == "TILED":
        rna_load(img, {k: v for k, v in data.items() if k in GENERATED}, ctx, clear=False)
        _load_tiles(img, data, ctx)
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
