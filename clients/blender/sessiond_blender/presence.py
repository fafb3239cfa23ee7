"""Presence: what this artist shows the others (view matrix, frustum
corners, frame, mode, selection) and the drawing of the others' viewports
as coloured frustums with names, their selections outlined, with `gpu`.

Nothing is drawn in background mode (bpy.app.background): there is no
viewport and no GPU context.

This module sits below api.py: it never imports it. register() is given a
function that returns the active session (or None) and draws from that.
"""

import bpy

_handle = None
_active = None      # set by register(): () -> the active session or None


def local_view():
    """View matrix and frustum corners of the first 3D viewport, or None."""
    if bpy.app.background:
        return None
    try:
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type != "VIEW_3D":
                    continue
                r3d = area.spaces.active.region_3d
                view = r3d.view_matrix.inverted()
                corners = _frustum(r3d, area.spaces.active)
                return {"view_matrix": [v for row in view for v in row],
                        "frustum": corners}
    except (AttributeError, ReferenceError):
        return None
    return None


def _frustum(r3d, space):
    """Eight corners (near then far) of the view frustum, world space."""
    inv = r3d.perspective_matrix.inverted()
    out = []
    for z in (-1.0, 1.0):
        for x, y in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            from mathutils import Vector
            p = inv @ Vector((x, y, z, 1.0))
            if p.w:
                p /= p.w
            out.append([p.x, p.y, p.z])
    near, far = out[:4], out[4:]
    if not r3d.is_perspective:
        # Orthographic: the clip range is centred on the view, so the near
        # plane lies far behind it. Draw the box from the plane through the
        # view's centre instead.
        fwd = [far[0][i] - near[0][i] for i in range(3)]
        n = sum(v * v for v in fwd) ** 0.5 or 1.0
        fwd = [v / n for v in fwd]
        c = list(r3d.view_location)
        near = [[p[i] + fwd[i] * sum((c[j] - p[j]) * fwd[j] for j in range(3)) - fwd[i] * 0.5
                 for i in range(3)] for p in near]
        far = [[p[i] + fwd[i] for i in range(3)] for p in near]
    # A far plane at infinity is useless to draw: pull it to 10 units.
    drawn = []
    for a, b in zip(near, far):
        d = [b[i] - a[i] for i in range(3)]
        n = sum(v * v for v in d) ** 0.5 or 1.0
        drawn.append([a[i] + d[i] / n * 10.0 for i in range(3)])
    return near + drawn


def _hex_color(c):
    try:
        return (int(c[1:3], 16) / 255.0, int(c[3:5], 16) / 255.0, int(c[5:7], 16) / 255.0, 1.0)
    except (TypeError, ValueError, IndexError):
        return (1.0, 0.5, 0.0, 1.0)


def _session():
    return _active() if _active is not None else None


def _draw():
    s = _session()
    if s is None:
        return
    import gpu
    from gpu_extras.batch import batch_for_shader
    shader = gpu.shader.from_builtin("UNIFORM_COLOR")     # the name since 3.4
    me = s.client.user
    colors = {u.get("name"): _hex_color(u.get("color")) for u in s.users}
    # Objects locked by someone else: their bounding box in the owner's colour.
    locked = {}
    for uu, n in s.client.nodes.items():
        owner = n.get("owner")
        if owner and owner != me and n.get("kind") == "Object":
            ob = s.bridge.ids.get(uu)
            if isinstance(ob, bpy.types.Object):
                locked.setdefault(owner, []).extend(_box_lines(ob))
    for owner, lines in locked.items():
        batch = batch_for_shader(shader, "LINES", {"pos": lines})
        shader.bind()
        shader.uniform_float("color", colors.get(owner, (1.0, 0.5, 0.0, 1.0)))
        batch.draw(shader)
    for u in s.users:
        if u.get("name") == me or not u.get("online"):
            continue
        meta = u.get("metadata") or {}
        color = _hex_color(u.get("color"))
        lines = []
        fr = meta.get("frustum")
        if fr and len(fr) == 8:
            for i in range(4):
                lines += [fr[i], fr[(i + 1) % 4], fr[4 + i], fr[4 + (i + 1) % 4], fr[i], fr[4 + i]]
        for uu in meta.get("selection", ()):
            ob = s.bridge.ids.get(uu)
            if isinstance(ob, bpy.types.Object):
                lines += _box_lines(ob)
        if not lines:
            continue
        batch = batch_for_shader(shader, "LINES", {"pos": lines})
        shader.bind()
        shader.uniform_float("color", color)
        batch.draw(shader)


def _box_lines(ob):
    from mathutils import Vector
    try:
        corners = [Vector(c) for c in ob.bound_box]
        if max((c - corners[0]).length for c in corners) < 1e-6:
            # Cameras, lights, empties: no box of their own; a unit one.
            corners = [Vector((x, y, z)) * 0.5 for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
            corners = [corners[i] for i in (0, 4, 6, 2, 1, 5, 7, 3)]
        bb = [ob.matrix_world @ c for c in corners]
    except ReferenceError:
        return []
    out = []
    for a, b in ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                 (0, 4), (1, 5), (2, 6), (3, 7)):
        out += [tuple(bb[a]), tuple(bb[b])]
    return out


def _draw_2d():
    s = _session()
    if s is None:
        return
    import blf
    from bpy_extras.view3d_utils import location_3d_to_region_2d
    region, r3d = bpy.context.region, bpy.context.region_data
    if region is None or r3d is None:
        return
    for u in s.users:
        if u.get("name") == s.client.user or not u.get("online"):
            continue
        meta = u.get("metadata") or {}
        fr = meta.get("frustum")
        if not fr or len(fr) != 8:
            continue
        if _coincides(meta.get("view_matrix"), r3d):
            continue            # their view is ours: nothing to point at
        p = location_3d_to_region_2d(region, r3d, fr[0])
        if p is None or not (4 <= p.x <= region.width - 4 and 4 <= p.y <= region.height - 4):
            continue
        c = _hex_color(u.get("color"))
        blf.color(0, *c)
        blf.position(0, p.x, p.y, 0)
        blf.size(0, 14)
        blf.draw(0, u.get("name", "?"))


def _coincides(view_matrix, r3d, eps=1e-3):
    """True when a colleague's view matrix is this viewport's."""
    if not view_matrix or len(view_matrix) != 16:
        return False
    mine = [v for row in r3d.view_matrix.inverted() for v in row]
    return all(abs(a - b) <= eps for a, b in zip(view_matrix, mine))


# How often the overlay was drawn and what drawing it raised (the last
# few, also said once in the session's messages): a broken overlay must
# not go unnoticed, nor take the viewport down.
stats = {"draws": 0, "errors": []}


def _guarded(fn):
    def draw():
        stats["draws"] += 1
        try:
            fn()
        except Exception as e:      # a draw callback must not raise into Blender
            text = "%s: %s" % (type(e).__name__, e)
            if text not in stats["errors"]:
                s = _session()
                if s is not None:
                    s.bridge.message("drawing the colleagues' views failed: " + text)
            stats["errors"] = (stats["errors"] + [text])[-10:]
    return draw


def register(active):
    """Draws the others' viewports of the session active() returns."""
    global _handle, _active
    _active = active
    if bpy.app.background or _handle is not None:
        return
    _handle = (bpy.types.SpaceView3D.draw_handler_add(_guarded(_draw), (), "WINDOW",
                                                      "POST_VIEW"),
               bpy.types.SpaceView3D.draw_handler_add(_guarded(_draw_2d), (), "WINDOW",
                                                      "POST_PIXEL"))


def unregister():
    global _handle, _active
    _active = None
    if _handle is None:
        return
    bpy.types.SpaceView3D.draw_handler_remove(_handle[0], "WINDOW")
    bpy.types.SpaceView3D.draw_handler_remove(_handle[1], "WINDOW")
    _handle = None


def tag_redraw():
    if bpy.app.background:
        return
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
