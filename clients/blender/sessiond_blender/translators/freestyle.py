"""A view layer's Freestyle settings, for the Scene kind: `freestyle`
({`settings`: the writable settings (mode, crease angle, culling, ...),
`linesets`: [{`name`, `props`: the line set's settings, its line style and
collection as uuids}]}). Line styles are their own kind
(bl_linestyle.py). The Python style modules of the scripting mode are not
shared.

Blender gives a new line set a new line style of its own: once the
received one replaces it, that one is removed (else it would be shared as
a new datablock).
"""

import bpy

from .common import rna_dump, rna_load

EXCLUDE = ("linesets", "modules")
UUID_PROP = "sessiond_uuid"


def dump(vl, ctx):
    fs = vl.freestyle_settings
    return {"settings": rna_dump(fs, ctx, exclude=EXCLUDE),
            "linesets": [{"name": ls.name, "props": rna_dump(ls, ctx, exclude=("name",))}
                         for ls in fs.linesets]}


def load(vl, data, ctx):
    if not data:
        return
    fs = vl.freestyle_settings
    rna_load(fs, data.get("settings", {}), ctx, exclude=EXCLUDE)
    want = data.get("linesets", [])
    before = set(bpy.data.linestyles)
    if [ls.name for ls in fs.linesets] != [w["name"] for w in want]:
        for ls in list(fs.linesets):
            fs.linesets.remove(ls)
        for w in want:
            fs.linesets.new(w["name"])
    for ls, w in zip(fs.linesets, want):
        rna_load(ls, w.get("props", {}), ctx, exclude=("name",), clear=False)
    for style in set(bpy.data.linestyles) - before:
        if style.users == 0 and not style.get(UUID_PROP):
            bpy.data.linestyles.remove(style)
