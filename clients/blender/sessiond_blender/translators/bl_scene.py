"""Scene: every writable setting of the scene (frame range, current frame,
active camera, world, background set, gravity, audio, ...), its render
settings (with the output's and baking's image settings), EEVEE's, colour management (display, view transform, look,
exposure, gamma, sequencer colour space), units, view layers (names, passes
and their settings), timeline markers, and the
objects and collections of its master collection. Cycles' settings travel
with the custom properties (common.dump_common), where Cycles keeps them.

Not shared yet: the compositor (`use_nodes` and its tree), the sequencer's
strips, which collections a view layer excludes or hides, Freestyle line sets.
"""

import bpy

from . import bl_collection
from .common import keep_local, rna_dump, rna_load

KIND = "Scene"
COLLECTION = "scenes"
# Set apart below, or not shared (the compositor), or UI state.
EXCLUDE = ("frame_current", "use_nodes", "frame_current_final", "show_keys_from_selected_only",
           "active_clip")
# Sub-settings, in the order they are loaded (the display before the view
# transform that depends on it).
SUBS = ("render", "render.image_settings", "render.image_settings.view_settings",
        "render.image_settings.display_settings", "render.bake", "render.bake.image_settings",
        "render.bake.image_settings.view_settings", "eevee", "display_settings", "view_settings",
        "sequencer_colorspace_settings", "unit_settings", "safe_areas", "display",
        "display.shading")
ORDER = {"view_settings": ("view_transform",), "render": ("engine",),
         "render.image_settings": ("file_format",)}


def _sub(scene, path):
    st = scene
    for part in path.split("."):
        st = getattr(st, part, None)
        if st is None:
            return None
    return st


def dump(scene, ctx):
    d = rna_dump(scene, ctx, exclude=EXCLUDE)
    d["frame_current"] = scene.frame_current
    for sub in SUBS:
        st = _sub(scene, sub)
        if st is not None:
            d[sub] = rna_dump(st, ctx)
    d["view_layers"] = [rna_dump(vl, ctx) for vl in scene.view_layers]
    d["markers"] = [[m.name, m.frame, ctx.ref(m.camera) if m.camera else ""]
                    for m in scene.timeline_markers]
    d["collection"] = bl_collection.dump_links(scene.collection, ctx)
    return d


def construct(data, ctx):
    return bpy.data.scenes.new(data.get("name", "Scene"))


def load(scene, data, ctx):
    fields = {k: v for k, v in data.items()
              if k not in SUBS and k not in ("markers", "collection", "fake_user", "custom",
                                             "view_layers")}
    for k in ("camera", "world"):
        fields.setdefault(k, "")
    rna_load(scene, fields, ctx, exclude=EXCLUDE, clear=False)
    if "frame_current" in data and scene.frame_current != data["frame_current"]:
        scene.frame_current = data["frame_current"]
    for sub in SUBS:
        st = _sub(scene, sub)
        if st is not None and sub in data:
            rna_load(st, data[sub], ctx, order=ORDER.get(sub.rsplit(".", 1)[-1], ()))
    if "markers" in data:
        _load_markers(scene.timeline_markers, data["markers"], ctx)
    if data.get("view_layers"):
        _load_view_layers(scene, data["view_layers"], ctx)
    bl_collection.load_links(scene.collection, data.get("collection", {}), ctx)


def _load_view_layers(scene, want, ctx):
    """The view layers by position: their names and settings (passes,
    samples, material override, ...); a scene keeps at least one."""
    layers = scene.view_layers
    while len(layers) > max(1, len(want)):
        layers.remove(layers[len(layers) - 1])
    for w in want[len(layers):]:
        layers.new(w.get("name", "ViewLayer"))
    for vl, w in zip(layers, want):
        rna_load(vl, w, ctx)


def _load_markers(markers, want, ctx):
    have = [[m.name, m.frame] for m in markers]
    if have != [w[:2] for w in want]:
        markers.clear()
        for name, frame, _ in want:
            markers.new(name, frame=frame)
    for m, (_, _, cam) in zip(markers, want):
        target = ctx.resolve(cam) if cam else None
        if m.camera != target and not keep_local(m.camera, target):
            m.camera = target
