"""Scene: frame range, current frame, active camera, world, render
resolution and engine, and the objects and collections of its master
collection.

The render engine is named as Blender 3.x and 5.x name it: EEVEE is
BLENDER_EEVEE, which Blender 4.2-4.5 call BLENDER_EEVEE_NEXT. An engine this
Blender does not have (an add-on's) is kept as it was."""

import bpy

from . import bl_collection
from .common import prev_of, rna_dump, rna_load

KIND = "Scene"
COLLECTION = "scenes"
FIELDS = ("name", "frame_start", "frame_end", "frame_current", "frame_step", "camera", "world")
RENDER = ("resolution_x", "resolution_y", "resolution_percentage", "fps", "fps_base", "engine")
# Blender 4.2-4.5: EEVEE is BLENDER_EEVEE_NEXT.
_ENGINES = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
EEVEE_NEXT = "BLENDER_EEVEE_NEXT" in _ENGINES


def dump(scene, ctx):
    d = rna_dump(scene, ctx, include=FIELDS)
    render = rna_dump(scene.render, ctx, include=RENDER)
    if EEVEE_NEXT and render.get("engine") == "BLENDER_EEVEE_NEXT":
        render["engine"] = "BLENDER_EEVEE"          # 4.2-4.5
    old = prev_of(ctx, "render").get("engine")
    if old and old != render.get("engine") and old not in _available_engines(scene):
        render["engine"] = old      # not here: kept (this Blender shows its default)
    d["render"] = render
    d["collection"] = bl_collection.dump_links(scene.collection, ctx)
    return d


def construct(data, ctx):
    return bpy.data.scenes.new(data.get("name", "Scene"))


def load(scene, data, ctx):
    fields = {k: v for k, v in data.items() if k in FIELDS and k != "frame_current"}
    for k in ("camera", "world"):
        fields.setdefault(k, "")
    rna_load(scene, fields, ctx, exclude=("frame_current",), clear=False)
    if "frame_current" in data and scene.frame_current != data["frame_current"]:
        scene.frame_current = data["frame_current"]
    render = dict(data.get("render", {}))
    if EEVEE_NEXT and render.get("engine") == "BLENDER_EEVEE":
        render["engine"] = "BLENDER_EEVEE_NEXT"     # 4.2-4.5
    rna_load(scene.render, render, ctx)
    bl_collection.load_links(scene.collection, data.get("collection", {}), ctx)


def _available_engines(scene):
    """The render engines of this Blender (built-in and add-ons')."""
    try:
        items = scene.render.bl_rna.properties["engine"].enum_items
        names = {e.identifier for e in items}
    except (AttributeError, KeyError):
        names = set()
    # Registered engine classes (registering gives a class its bl_rna).
    names |= {cls.bl_idname for cls in bpy.types.RenderEngine.__subclasses__()
              if getattr(cls, "bl_idname", None) and "bl_rna" in cls.__dict__}
    return names | {"CYCLES", "BLENDER_WORKBENCH"} | (
        {"BLENDER_EEVEE_NEXT", "BLENDER_EEVEE"} if EEVEE_NEXT else {"BLENDER_EEVEE"})
