"""Curve, Surface and Text (bpy.data.curves): every setting of the curve
(bevel, extrude, path, taper and bevel objects, ...), its materials, its
splines with their settings and points (bezier points with handles;
poly and NURBS points with weights), and for a Text its body, the
formatting of each character and its text boxes.

The font of a Text is not shared (fonts are not a shared kind yet): the
joining side uses its own, and the sender's stays as it is.
"""

import array

import bpy

from .common import keep_local, rna_dump, rna_load

KIND = "Curve"
COLLECTION = "curves"
# Set apart below, or not data.
EXCLUDE = ("active_textbox", "eval_time")
SPLINE = ("type", "order_u", "order_v", "resolution_u", "resolution_v", "use_cyclic_u",
          "use_cyclic_v", "use_endpoint_u", "use_endpoint_v", "use_bezier_u", "use_bezier_v",
          "use_smooth", "hide", "material_index", "tilt_interpolation", "radius_interpolation",
          "point_count_u", "point_count_v")
BEZIER = (("co", 3), ("handle_left", 3), ("handle_right", 3), ("tilt", 1), ("radius", 1),
          ("weight_softbody", 1))
POINT = (("co", 4), ("tilt", 1), ("radius", 1), ("weight_softbody", 1))
CHAR = ("use_bold", "use_italic", "use_underline", "use_small_caps", "material_index", "kerning")


def _type(curve):
    if isinstance(curve, bpy.types.TextCurve):
        return "FONT"
    if isinstance(curve, bpy.types.SurfaceCurve):
        return "SURFACE"
    return "CURVE"


def _get(coll, prop, width):
    a = array.array("f", [0.0]) * (len(coll) * width)
    if len(coll):
        coll.foreach_get(prop, a)
    return [float(x) for x in a]


# What a bezier spline has but does not use (Blender clamps it when set).
NOT_BEZIER = ("order_u", "order_v", "point_count_u", "point_count_v", "use_endpoint_u",
              "use_endpoint_v", "use_bezier_u", "use_bezier_v")


def _dump_spline(sp, surface):
    # A curve's spline has no V direction: only a surface's settings of V count.
    d = {k: getattr(sp, k) for k in SPLINE
         if hasattr(sp, k) and not (sp.type == "BEZIER" and k in NOT_BEZIER)
         and (surface or not k.endswith("_v"))}
    if sp.type == "BEZIER":
        pts = sp.bezier_points
        for k, w in BEZIER:
            d[k] = _get(pts, k, w)
        d["handle_types"] = [[p.handle_left_type, p.handle_right_type] for p in pts]
    else:
        pts = sp.points
        for k, w in POINT:
            d[k] = _get(pts, k, w)
        d["weight"] = _get(pts, "weight", 1)
    d["count"] = len(pts)
    return d


def dump(curve, ctx):
    # An automatic texture space is computed by Blender, not held.
    auto = ("texspace_location", "texspace_size") if curve.use_auto_texspace else ()
    d = rna_dump(curve, ctx, exclude=EXCLUDE + auto)
    d["curve_type"] = _type(curve)
    d["materials"] = [ctx.ref(m) if m is not None else "" for m in curve.materials]
    d["splines"] = [_dump_spline(sp, d["curve_type"] == "SURFACE") for sp in curve.splines]
    if d["curve_type"] == "FONT":
        d["chars"] = [[getattr(c, k) for k in CHAR] for c in curve.body_format]
        d["text_boxes"] = [[float(b.x), float(b.y), float(b.width), float(b.height)]
                           for b in curve.text_boxes]
    return d


def construct(data, ctx):
    return bpy.data.curves.new(data.get("name", "Curve"), data.get("curve_type", "CURVE"))


def recreate(curve, data):
    return _type(curve) != data.get("curve_type", "CURVE")


def _load_splines(curve, splines):
    shape = [(s["type"], s["count"]) for s in splines]
    have = [(sp.type, len(sp.bezier_points) if sp.type == "BEZIER" else len(sp.points))
            for sp in curve.splines]
    if shape != have:
        curve.splines.clear()
        for typ, n in shape:
            sp = curve.splines.new(typ)
            if typ == "BEZIER":
                sp.bezier_points.add(n - len(sp.bezier_points))
            else:
                sp.points.add(n - len(sp.points))
    for sp, s in zip(curve.splines, splines):
        if s["type"] == "BEZIER":
            pts = sp.bezier_points
            for p, (lt, rt) in zip(pts, s.get("handle_types", ())):
                if (p.handle_left_type, p.handle_right_type) != (lt, rt):
                    p.handle_left_type, p.handle_right_type = lt, rt
            fields = BEZIER
        else:
            pts = sp.points
            fields = POINT + (("weight", 1),)
        for k, w in fields:
            if k in s and len(s[k]) == len(pts) * w and _get(pts, k, w) != s[k]:
                pts.foreach_set(k, s[k])
        for k in SPLINE:
            if k in s and k not in ("type", "point_count_u", "point_count_v") and \
                    getattr(sp, k) != s[k]:
                try:
                    setattr(sp, k, s[k])
                except (AttributeError, TypeError, ValueError):
                    pass


def load(curve, data, ctx):
    props = {k: v for k, v in data.items()
             if k not in ("curve_type", "materials", "splines", "chars", "text_boxes",
                          "fake_user", "custom")}
    rna_load(curve, props, ctx, exclude=EXCLUDE)
    if data.get("curve_type") != "FONT":
        _load_splines(curve, data.get("splines", ()))
    else:
        for c, values in zip(curve.body_format, data.get("chars", ())):
            for k, v in zip(CHAR, values):
                if getattr(c, k) != v:
                    setattr(c, k, v)
        boxes = data.get("text_boxes", [])
        while len(curve.text_boxes) < len(boxes):
            curve.text_boxes.new()
        while len(curve.text_boxes) > max(1, len(boxes)):
            try:
                curve.text_boxes.remove(curve.text_boxes[-1])
            except (AttributeError, RuntimeError, TypeError):
                break
        for b, (x, y, w, h) in zip(curve.text_boxes, boxes):
            b.x, b.y, b.width, b.height = x, y, w, h
    mats = [ctx.resolve(u) if u else None for u in data.get("materials", ())]
    cur = list(curve.materials)
    mats = [cur[i] if i < len(cur) and keep_local(cur[i], m) else m for i, m in enumerate(mats)]
    if cur != mats:
        curve.materials.clear()
        for m in mats:
            curve.materials.append(m)
