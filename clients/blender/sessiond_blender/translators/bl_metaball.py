"""Metaball: its settings (resolution, threshold, update method), its
materials and its elements (type, position, radius, stiffness, rotation,
size, negative, hidden)."""

import bpy

from .common import keep_local, rna_dump, rna_load

KIND = "MetaBall"
COLLECTION = "metaballs"
ELEMENT_EXCLUDE = ("select",)


def dump(mb, ctx):
    d = rna_dump(mb, ctx)
    d["materials"] = [ctx.ref(m) if m is not None else "" for m in mb.materials]
    d["elements"] = [rna_dump(e, ctx, exclude=ELEMENT_EXCLUDE) for e in mb.elements]
    return d


def construct(data, ctx):
    return bpy.data.metaballs.new(data.get("name", "MetaBall"))


def load(mb, data, ctx):
    rna_load(mb, {k: v for k, v in data.items() if k not in ("materials", "elements")}, ctx)
    els = data.get("elements", [])
    if [e.type for e in mb.elements] != [e.get("type") for e in els]:
        mb.elements.clear()
        for e in els:
            mb.elements.new(type=e.get("type", "BALL"))
    for el, e in zip(mb.elements, els):
        rna_load(el, e, ctx, exclude=ELEMENT_EXCLUDE)
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    cur = list(mb.materials)
    mats = [cur[i] if i < len(cur) and keep_local(cur[i], m) else m for i, m in enumerate(mats)]
    if cur != mats:
        mb.materials.clear()
        for m in mats:
            mb.materials.append(m)
