"""Sound: the sound file's bytes as a blob, and its settings (mono, caching).
A received sound is written to the local blob cache, loaded from there and
packed, so the .blend stays self-contained."""

import bpy

from .common import file_bytes, file_ref, rna_dump, rna_load

KIND = "Sound"
COLLECTION = "sounds"


def dump(sound, ctx):
    d = rna_dump(sound, ctx, exclude=("filepath",))
    d.update(file_ref(sound, ctx))
    return d


def construct(data, ctx):
    if "file" not in data:
        return None
    path = ctx.get_path(data["file"], data.get("ext") or ".wav")
    if path is None:
        return None             # still downloading: waits for the blob
    sound = bpy.data.sounds.load(path, check_existing=False)
    sound.pack()
    return sound


def load(sound, data, ctx):
    if "file" in data and ctx.ref_hash(data["file"]) != ctx.bytes_hash(file_bytes(sound)):
        path = ctx.get_path(data["file"], data.get("ext") or ".wav")
        if path is None:
            ctx.pending()
        else:
            if sound.packed_file is not None:
                sound.unpack(method="REMOVE")
            sound.filepath = path
            sound.pack()
    rna_load(sound, {k: v for k, v in data.items() if k not in ("file", "ext")}, ctx,
             exclude=("filepath",))
