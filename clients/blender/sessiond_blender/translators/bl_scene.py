"""Scene: every writable setting of the scene (frame range, current frame,
active camera, world, background set, gravity, audio, ...), its render
settings (with the output's and baking's image settings, FFmpeg's video
and audio settings, the motion blur shutter curve), EEVEE's, colour
management (display, view transform, look, exposure, gamma, curves,
sequencer colour space), units, Grease Pencil render
settings (anti-aliasing, motion blur steps), view layers (names, passes
and their settings), timeline markers, and the
objects and collections of its master collection. Cycles' settings travel
with the custom properties (common.dump_common), where Cycles keeps them.

Each view layer's settings of the shared collections in it (excluded,
hidden, holdout, indirect only) and its Freestyle settings and line sets
(freestyle.py), the rigid body world (physics.py), and the sequencer's
strips (sequencer.py).

Not shared yet: the compositor (`use_nodes` and its tree).

The render engine is named as Blender 3.x and 5.x name it: EEVEE is
BLENDER_EEVEE, which Blender 4.2-4.5 call BLENDER_EEVEE_NEXT. An engine this
Blender does not have (an add-on's) is kept as it was, and so are settings
of another version (keys that name no property here).

EEVEE's ambient occlusion distance is the scene's `eevee.gtao_distance` up
to 4.5 and each view layer's `eevee.ambient_occlusion_distance` from 5.0:
the node data holds both, a 5.0 Blender writes the first view layer's as
the scene's, an older one writes its own into the first view layer's while
it disagrees, and a view layer without its own takes the scene's.
"""

import copy

import bpy

from . import bl_collection, freestyle, physics, sequencer
from .common import _dump_mapping, _load_mapping, keep_local, prev_of, rna_dump, rna_load

KIND = "Scene"
COLLECTION = "scenes"
# Set apart below, or not shared (the compositor), or UI state.
EXCLUDE = ("frame_current", "use_nodes", "frame_current_final", "show_keys_from_selected_only",
           "active_clip")
# Sub-settings, in the order they are loaded (the display before the view
# transform that depends on it).
SUBS = ("render", "render.image_settings", "render.image_settings.view_settings",
        "render.image_settings.display_settings", "render.ffmpeg", "render.bake",
        "render.bake.image_settings",
        "render.bake.image_settings.view_settings", "eevee", "display_settings", "view_settings",
        "sequencer_colorspace_settings", "unit_settings", "safe_areas", "display",
        "display.shading", "grease_pencil_settings")
ORDER = {"view_settings": ("view_transform",), "render": ("engine",),
         "render.image_settings": ("file_format",), "ffmpeg": ("format",)}
# Curve mappings (the view transform's curves, the motion blur shutter
# curve), under their property's name in the sub-settings' data (in the
# form of common._dump_mapping). Blender makes a
# view transform's curves only when they are first turned on, as
# VIEW_CURVES: a file may have none, which is the same as these and
# travels as these.
MAPPINGS = {"render": "motion_blur_shutter_curve", "view_settings": "curve_mapping"}
VIEW_CURVES = {"tone": "STANDARD", "use_clip": True, "clip_min_x": 0.0, "clip_min_y": 0.0,
               "clip_max_x": 1.0, "clip_max_y": 1.0, "extend": "EXTRAPOLATED",
               "black_level": [0.0, 0.0, 0.0], "white_level": [1.0, 1.0, 1.0],
               "curves": [[[0.0, 0.0, "AUTO"], [1.0, 1.0, "AUTO"]]] * 4}
# Kept apart from the scene's own settings in the node data.
OWN = SUBS + ("markers", "collection", "fake_user", "custom", "view_layers", "rigidbody_world",
              "sequencer")
# Blender 4.2-4.5: EEVEE is BLENDER_EEVEE_NEXT.
_ENGINES = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
EEVEE_NEXT = "BLENDER_EEVEE_NEXT" in _ENGINES
# Blender 5.0+: the ambient occlusion distance is a view layer's setting.
AO_PER_LAYER = "ambient_occlusion_distance" in bpy.types.ViewLayerEEVEE.bl_rna.properties
AO, GTAO = "ambient_occlusion_distance", "gtao_distance"


def _sub(scene, path):
    st = scene
    for part in path.split("."):
        st = getattr(st, part, None)
        if st is None:
            return None
    return st


def dump(scene, ctx):
    prev = prev_of(ctx)
    d = rna_dump(scene, ctx, exclude=EXCLUDE + OWN, prev=prev)
    d["frame_current"] = scene.frame_current
    for sub in SUBS:
        st = _sub(scene, sub)
        if st is not None:
            d[sub] = rna_dump(st, ctx, prev=prev_of(ctx, sub))
            _dump_curves(st, sub, d[sub])
    render = d.get("render", {})
    if EEVEE_NEXT and render.get("engine") == "BLENDER_EEVEE_NEXT":
        render["engine"] = "BLENDER_EEVEE"          # 4.2-4.5
    old = prev_of(ctx, "render").get("engine")
    if old and old != render.get("engine") and old not in _available_engines(scene):
        render["engine"] = old      # not here: kept (this Blender shows its default)
    d["view_layers"] = _dump_view_layers(scene, ctx, prev.get("view_layers"))
    eevee, layers = d.get("eevee"), d["view_layers"]
    if eevee is not None and layers and "eevee" in layers[0]:
        if AO_PER_LAYER:                # 5.0+: the first view layer's, as 4.5's
            if AO in layers[0]["eevee"]:
                eevee[GTAO] = layers[0]["eevee"][AO]
        elif GTAO in eevee and abs(layers[0]["eevee"].get(AO, eevee[GTAO]) - eevee[GTAO]) > 1e-6:
            layers[0]["eevee"][AO] = eevee[GTAO]    # before 5.0: an edit here
    for v, vl in zip(layers, scene.view_layers):
        v["layer_collections"] = _dump_layer_collections(vl, ctx)
        v["freestyle"] = freestyle.dump(vl, ctx)
    seq = sequencer.dump(scene, ctx)
    if seq:
        d["sequencer"] = seq
    rbw = physics.dump_world(scene, ctx)
    if rbw:
        d["rigidbody_world"] = rbw
    d["markers"] = [[m.name, m.frame, ctx.ref(m.camera) if m.camera else ""]
                    for m in scene.timeline_markers]
    d["collection"] = bl_collection.dump_links(scene.collection, ctx)
    return d


def construct(data, ctx):
    return bpy.data.scenes.new(data.get("name", "Scene"))


def load(scene, data, ctx):
    fields = {k: v for k, v in data.items() if k not in OWN}
    for k in ("camera", "world"):
        fields.setdefault(k, "")
    rna_load(scene, fields, ctx, exclude=EXCLUDE, clear=False)
    if "frame_current" in data and scene.frame_current != data["frame_current"]:
        scene.frame_current = data["frame_current"]
    for sub in SUBS:
        st = _sub(scene, sub)
        if st is not None and sub in data:
            want = data[sub]
            if sub == "render" and EEVEE_NEXT and want.get("engine") == "BLENDER_EEVEE":
                want = dict(want, engine="BLENDER_EEVEE_NEXT")     # 4.2-4.5
            prop = MAPPINGS.get(sub.rsplit(".", 1)[-1])
            rna_load(st, {k: v for k, v in want.items() if k != prop}, ctx,
                     order=ORDER.get(sub.rsplit(".", 1)[-1], ()))
            _load_curves(st, prop, want.get(prop))
    if "markers" in data:
        _load_markers(scene.timeline_markers, data["markers"], ctx)
    if data.get("view_layers"):
        _load_view_layers(scene, data["view_layers"], ctx, data.get("eevee", {}).get(GTAO))
    bl_collection.load_links(scene.collection, data.get("collection", {}), ctx)
    # Once the collections are linked: which of them each view layer
    # excludes or hides.
    for vl, w in zip(scene.view_layers, data.get("view_layers", ())):
        _load_layer_collections(vl, w.get("layer_collections", ()), ctx)
        freestyle.load(vl, w.get("freestyle"), ctx)
    physics.load_world(scene, data.get("rigidbody_world"), ctx)
    sequencer.load(scene, data.get("sequencer"), ctx)


def _dump_curves(st, sub, d):
    """The sub-settings' curve mapping (MAPPINGS) into its data `d`."""
    prop = MAPPINGS.get(sub.rsplit(".", 1)[-1])
    if prop is None or prop not in st.bl_rna.properties:
        return
    m = getattr(st, prop)
    if m is not None:
        d[prop] = _dump_mapping(m)
    elif prop == "curve_mapping":
        d[prop] = copy.deepcopy(VIEW_CURVES)    # none made yet: the same


def _dump_view_layers(scene, ctx, prev):
    """Each view layer's settings, with its EEVEE settings (`eevee`: passes,
    5.0's ambient occlusion distance)."""
    prev = prev if isinstance(prev, list) else []
    out = []
    for i, vl in enumerate(scene.view_layers):
        v = rna_dump(vl, ctx)
        ee = getattr(vl, "eevee", None)
        if ee is not None:
            p = prev[i] if i < len(prev) and isinstance(prev[i], dict) else {}
            v["eevee"] = rna_dump(ee, ctx, prev=p.get("eevee") if isinstance(p.get("eevee"), dict)
                                  else None)
        out.append(v)
    return out


def _load_curves(st, prop, want):
    if not isinstance(want, dict) or prop is None or prop not in st.bl_rna.properties:
        return
    if getattr(st, prop) is None:
        if prop != "curve_mapping" or want == VIEW_CURVES:
            return
        # Turning the curves on makes them (and off again, as the data says).
        on = st.use_curve_mapping
        st.use_curve_mapping = True
        st.use_curve_mapping = on
    m = getattr(st, prop)
    if m is not None and _dump_mapping(m) != want:
        _load_mapping(m, want)


def _load_view_layers(scene, want, ctx, gtao=None):
    """The view layers by position: their names and settings (passes,
    samples, material override, ...); a scene keeps at least one. `gtao`:
    the scene's ambient occlusion distance, for a view layer whose data has
    none of its own (made before 5.0)."""
    layers = scene.view_layers
    while len(layers) > max(1, len(want)):
        layers.remove(layers[len(layers) - 1])
    for w in want[len(layers):]:
        layers.new(w.get("name", "ViewLayer"))
    for vl, w in zip(layers, want):
        rna_load(vl, {k: v for k, v in w.items() if k != "eevee"}, ctx)
        ee = getattr(vl, "eevee", None)
        if ee is None:
            continue
        want_ee = dict(w.get("eevee") or {})
        if gtao is not None:
            want_ee.setdefault(AO, gtao)
        rna_load(ee, want_ee, ctx)


# A view layer's settings of each collection in it (the outliner's
# checkbox, the eye, holdout, indirect only).
LAYER_COLLECTION = ("exclude", "hide_viewport", "holdout", "indirect_only")


def _layer_collections(vl):
    """Every layer collection below the view layer's root, depth first."""
    out, todo = [], list(vl.layer_collection.children)
    while todo:
        lc = todo.pop(0)
        out.append(lc)
        todo[:0] = list(lc.children)
    return out


def _dump_layer_collections(vl, ctx):
    """[[collection uuid, exclude, hide_viewport, holdout, indirect_only]]
    of each shared collection the view layer holds (a collection in two
    places has one entry: Blender keeps the first one's settings)."""
    out, seen = [], set()
    for lc in _layer_collections(vl):
        u = ctx.ref(lc.collection) if ctx is not None else lc.collection.name
        if u and u not in seen:
            seen.add(u)
            out.append([u] + [bool(getattr(lc, k)) for k in LAYER_COLLECTION])
    return out


def _load_layer_collections(vl, want, ctx):
    by_coll = {}
    for w in want:
        c = ctx.resolve(w[0])
        if c is not None:
            by_coll.setdefault(c, w[1:])
    for lc in _layer_collections(vl):
        flags = by_coll.get(lc.collection)
        for k, v in zip(LAYER_COLLECTION, flags or ()):
            if getattr(lc, k) != v:
                try:
                    setattr(lc, k, v)
                except (AttributeError, TypeError, RuntimeError):
                    pass


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
