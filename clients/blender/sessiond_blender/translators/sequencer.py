"""The sequencer's strips, for the Scene kind: `sequencer` ({`settings`: the
sequence editor's writable settings, `strips`: [{`name`, `type`,
`start`, `end` (the final frame range), `inputs` (the names of an
effect's input strips), `props` (every writable setting of the strip:
channel, blend, mute, colour, text, sound or scene as uuids, ...),
`transform`, `crop`, for an image strip `elements` (file names)}]}).

Shared: colour, text, adjustment and effect strips, scene strips, sound
strips (their Sound is a shared datablock), image strips (the directory and
file names as paths, not the files). Not shared: movie, movie clip, mask and
meta strips, and strip modifiers: such a strip is left as it is on both
sides (a strip is removed here only when it is of a kind shared).

Blender 4.4 renamed `sequences` to `strips` (the old name is gone in 5.0),
new_effect's inputs are `input1`/`input2` in 4.x (`seq1`/`seq2` in 3.x),
and 5.0 gives it a `length` instead of `frame_end`: the function's
parameters are looked at.
"""

import bpy

from .common import rna_dump, rna_load

# Blender 4.4+: SequenceEditor.strips (sequences before).
STRIPS = "strips" in bpy.types.SequenceEditor.bl_rna.properties
SHARED = {"COLOR", "TEXT", "ADJUSTMENT", "CROSS", "ADD", "SUBTRACT", "ALPHA_OVER", "ALPHA_UNDER",
          "GAMMA_CROSS", "MULTIPLY", "OVER_DROP", "WIPE", "GLOW", "TRANSFORM", "SPEED",
          "MULTICAM", "GAUSSIAN_BLUR", "COLORMIX", "SCENE", "SOUND", "IMAGE"}
# The frame range is set apart (start, end); the inputs are named apart.
EXCLUDE = ("name", "type", "frame_final_start", "frame_final_end", "frame_final_duration",
           "frame_start", "frame_offset_start", "frame_offset_end", "select",
           "select_left_handle", "select_right_handle", "directory", "input_1", "input_2")
UUID_PROP = "sessiond_uuid"


def _top(se):
    return se.strips if STRIPS else se.sequences         # 4.4+ / before


def _effect_args(creator, start, end, inputs):
    """new_effect's keywords for the end and the input strips: `length`
    from 5.0 (`frame_end` before), input1/input2 from 4.x (seq1/seq2 in
    3.x)."""
    names = [p.identifier for p in creator.bl_rna.functions["new_effect"].parameters]
    keys = ("input1", "input2") if "input1" in names else ("seq1", "seq2")
    out = {k: s for k, s in zip(keys, inputs) if s is not None}
    if "length" in names:                   # 5.0+
        out["length"] = end - start
    else:
        out["frame_end"] = end
    return out


def _inputs(strip):
    return [s.name for s in (getattr(strip, "input_1", None), getattr(strip, "input_2", None))
            if s is not None]


def dump(scene, ctx):
    se = scene.sequence_editor
    if se is None:
        return None
    strips = []
    # In Blender's order, which a receiving Blender makes them in (Blender
    # keeps effects after their inputs).
    for s in _top(se):
        if s.type not in SHARED:
            continue
        d = {"name": s.name, "type": s.type, "start": s.frame_final_start,
             "end": s.frame_final_end, "frame_start": float(s.frame_start),
             "props": rna_dump(s, ctx, exclude=EXCLUDE)}
        if _inputs(s):
            d["inputs"] = _inputs(s)
        for k in ("transform", "crop"):
            st = getattr(s, k, None)
            if st is not None:
                d[k] = rna_dump(st, ctx)
        if s.type == "IMAGE":
            d["directory"] = s.directory
            d["elements"] = [e.filename for e in s.elements]
        strips.append(d)
    return {"settings": rna_dump(se, ctx), "strips": strips}


def _create(coll, d, ctx):
    typ, name, ch = d["type"], d["name"], d.get("props", {}).get("channel", 1)
    start = int(d.get("frame_start", d["start"]))
    if typ == "SCENE":
        sc = ctx.resolve(d["props"].get("scene")) if d["props"].get("scene") else None
        return coll.new_scene(name, sc, ch, start) if sc is not None else None
    if typ == "SOUND":
        sound = ctx.resolve(d["props"].get("sound")) if d["props"].get("sound") else None
        if sound is None:
            return None
        strip = coll.new_sound(name, sound.filepath, ch, start)
        made = strip.sound
        strip.sound = sound
        if made is not None and made != sound and made.users == 0 and not made.get(UUID_PROP):
            bpy.data.sounds.remove(made)        # new_sound loads the file again
        return strip
    if typ == "IMAGE":
        els = d.get("elements") or [""]
        strip = coll.new_image(name, (d.get("directory") or "") + els[0], ch, start)
        for f in els[1:]:
            strip.elements.append(f)
        return strip
    inputs = [coll.get(n) for n in d.get("inputs", ())]
    return coll.new_effect(name, typ, ch, frame_start=start,
                           **_effect_args(coll, start, d["end"], inputs))


def load(scene, data, ctx):
    se = scene.sequence_editor
    if not data:
        # The sender's scene has no sequencer: the shared strips go, and
        # the sequencer too once it holds none that are not shared.
        if se is not None:
            for s in [s for s in _top(se) if s.type in SHARED]:
                _top(se).remove(s)
            if not len(_top(se)):
                scene.sequence_editor_clear()
        return
    if se is None:
        se = scene.sequence_editor_create()
    rna_load(se, data.get("settings", {}), ctx)
    coll = _top(se)
    want = data.get("strips", [])
    names = {(d["name"], d["type"]) for d in want}
    for s in list(coll):
        if s.type in SHARED and (s.name, s.type) not in names:
            coll.remove(s)
    for d in want:
        s = coll.get(d["name"])
        if s is not None and s.type != d["type"]:
            if s.type not in SHARED:
                continue            # not shared: left as it is
            coll.remove(s)
            s = None
        if s is None:
            try:
                s = _create(coll, d, ctx)
            except (RuntimeError, TypeError, ValueError):
                s = None
            if s is None:
                continue
        _load_strip(s, d, ctx)


def _load_strip(s, d, ctx):
    props = d.get("props", {})
    rna_load(s, props, ctx, exclude=EXCLUDE, order=("channel",), clear=False)
    if not _inputs(s):
        if abs(s.frame_start - d.get("frame_start", s.frame_start)) > 1e-6:
            s.frame_start = d["frame_start"]
        if s.frame_final_start != d["start"]:
            s.frame_final_start = d["start"]
        if s.frame_final_end != d["end"]:
            s.frame_final_end = d["end"]
    for k in ("transform", "crop"):
        st = getattr(s, k, None)
        if st is not None and k in d:
            rna_load(st, d[k], ctx)
