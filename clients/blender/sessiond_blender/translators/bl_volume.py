"""Volume: every writable setting (sequence frames and mode, velocity grid),
its display and render settings, its materials, and its VDB file's bytes as
a blob (`file`, `ext`). A received file is written to the local blob cache
and the volume reads it from there (Blender cannot pack a volume from
Python). A volume without a file (made by a modifier or nodes) shares its
settings only; its grids are not shared.
"""

import bpy

from .common import file_bytes, file_ref, keep_local, rna_dump, rna_load

KIND = "Volume"
COLLECTION = "volumes"
SUBS = ("display", "render")
EXCLUDE = ("filepath",)


def dump(vol, ctx):
    d = rna_dump(vol, ctx, exclude=EXCLUDE)
    for k in SUBS:
        d[k] = rna_dump(getattr(vol, k), ctx)
    d["materials"] = [ctx.ref(m) or "" if m is not None else "" for m in vol.materials]
    if vol.filepath:
        d.update(file_ref(vol, ctx))
    return d


def construct(data, ctx):
    return bpy.data.volumes.new(data.get("name", "Volume"))


def load(vol, data, ctx):
    rna_load(vol, {k: v for k, v in data.items()
                   if k not in SUBS + ("materials", "file", "ext")}, ctx, exclude=EXCLUDE)
    for k in SUBS:
        if k in data:
            rna_load(getattr(vol, k), data[k], ctx)
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    cur = list(vol.materials)
    mats = [cur[i] if i < len(cur) and keep_local(cur[i], m) else m for i, m in enumerate(mats)]
    if cur != mats:
        vol.materials.clear()
        for m in mats:
            vol.materials.append(m)
    if "file" in data and ctx.ref_hash(data["file"]) != ctx.bytes_hash(file_bytes(vol)):
        path = ctx.get_path(data["file"], data.get("ext") or ".vdb")
        if path is None:
            ctx.pending()
        else:
            vol.filepath = path
