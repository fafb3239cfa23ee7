"""Material: every setting of the material (viewport, EEVEE, line art),
Cycles' settings when Cycles is there, the Grease Pencil style of a Grease
Pencil material, and its shader node tree (nodes, their settings and
input values, color ramps, curve mappings, frames, links).

EEVEE Next (Blender 4.2) replaced blend_method/shadow_method with
surface_render_method (DITHERED, BLENDED) and use_transparent_shadow. The
node data holds both pairs, so each version reads its own: a Blender
writes its own pair and derives the other one, keeping the other
version's value when it still agrees (BLEND <-> BLENDED, OPAQUE, CLIP and
HASHED <-> DITHERED; shadow CLIP, HASHED <-> transparent, OPAQUE, NONE <->
not): a 3.x alpha clip stays a clip across a 4.2 edit of something else.
Settings of another version (keys that name no property here) are kept as
that version sent them.

Blender 5.0 gives every material that bpy.data.materials.new makes a node
tree (use_nodes is deprecated, always on) and Python cannot remove one,
while the materials of its Grease Pencil tools have none: a material
received without a tree is built as those tools build one (see
_without_tree), so it arrives as it was sent.
"""

import bpy

from .common import dump_tree, load_tree, prev_of, rna_dump, rna_load

KIND = "Material"
COLLECTION = "materials"
# Set apart: the node tree (`tree`), the per-engine settings.
OWN = ("tree", "cycles", "gpencil")
# Paint and UI state, not the material.
EXCLUDE = ("paint_active_slot", "paint_clone_slot")
LEGACY = ("blend_method", "shadow_method")
NEXT = ("surface_render_method", "use_transparent_shadow")
# Blender 4.2+: EEVEE Next's material settings.
EEVEE_NEXT = "surface_render_method" in bpy.types.Material.bl_rna.properties
# Blender 5.0+: use_nodes deprecated, a new material always has a node tree
# (its RNA says so: is_deprecated is there from 5.0 on).
ALWAYS_TREE = getattr(bpy.types.Material.bl_rna.properties["use_nodes"], "is_deprecated", False)


def _render_of(blend):
    return "BLENDED" if blend == "BLEND" else "DITHERED"


def _transparent_of(shadow):
    return shadow in ("CLIP", "HASHED")


def _eevee_pair(mat, prev):
    """Both pairs of EEVEE settings: this Blender's, and the other one
    derived from it (the received value kept while it agrees)."""
    if EEVEE_NEXT:                      # 4.2+
        # its own pair; the 3.x pair kept while it agrees.
        render, transparent = mat.surface_render_method, bool(mat.use_transparent_shadow)
        blend, shadow = prev.get("blend_method"), prev.get("shadow_method")
        if blend is None or _render_of(blend) != render:
            blend = "BLEND" if render == "BLENDED" else "HASHED"
        if shadow is None or _transparent_of(shadow) != transparent:
            shadow = "HASHED" if transparent else "OPAQUE"
    else:
        blend, shadow = mat.blend_method, mat.shadow_method
        render, transparent = prev.get("surface_render_method"), prev.get("use_transparent_shadow")
        if render != _render_of(blend):
            render = _render_of(blend)
        if transparent != _transparent_of(shadow):
            transparent = _transparent_of(shadow)
    return dict(blend_method=blend, shadow_method=shadow, surface_render_method=render,
                use_transparent_shadow=transparent)


def dump(mat, ctx):
    prev = prev_of(ctx)
    d = rna_dump(mat, ctx, exclude=OWN + EXCLUDE + LEGACY + NEXT, prev=prev)
    d.update(_eevee_pair(mat, prev))
    cycles = getattr(mat, "cycles", None)
    if cycles is not None:
        d["cycles"] = rna_dump(cycles, ctx, prev=prev_of(ctx, "cycles"))
    if mat.is_grease_pencil and mat.grease_pencil is not None:
        d["gpencil"] = rna_dump(mat.grease_pencil, ctx, prev=prev_of(ctx, "gpencil"))
    if mat.use_nodes and mat.node_tree is not None:
        d["tree"] = dump_tree(mat.node_tree, ctx, prev.get("tree"))
    return d


def _without_tree(name):
    """5.0+: a material without a node tree, made as Blender's Grease
    Pencil tools make one (an empty Grease Pencil object, added in a scene
    of its own so that nothing of the artist's scene, selection or active
    object changes, then removed with its data and the scene); None when
    the operator cannot run here."""
    scene = bpy.data.scenes.new("sessiond material")
    mat = None
    try:
        with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
            bpy.ops.object.grease_pencil_add(type="EMPTY")
        for ob in list(scene.objects):
            if mat is None and ob.material_slots:
                mat = ob.material_slots[0].material
            gpd = ob.data
            bpy.data.objects.remove(ob)
            if gpd is not None and gpd.users == 0:
                bpy.data.grease_pencils.remove(gpd)
    except (RuntimeError, TypeError, AttributeError):
        pass
    finally:
        bpy.data.scenes.remove(scene)
    if mat is not None and mat.node_tree is not None:
        bpy.data.materials.remove(mat)      # not what was wanted: left to new()
        mat = None
    if mat is None:
        return None
    mat.name = name
    return mat


def construct(data, ctx):
    name = data.get("name", "Material")
    if ALWAYS_TREE and "tree" not in data:     # 5.0+
        mat = _without_tree(name)
        if mat is not None:
            if "gpencil" not in data:
                bpy.data.materials.remove_gpencil_data(mat)
            return mat
    return bpy.data.materials.new(name)


def load(mat, data, ctx):
    rna_load(mat, data, ctx, exclude=OWN + EXCLUDE + LEGACY + NEXT, order=("use_nodes",))
    if EEVEE_NEXT:                      # 4.2+
        # from the 4.2 pair, or derived from the 3.x one.
        want = {"surface_render_method": data.get("surface_render_method")
                or _render_of(data.get("blend_method", "OPAQUE")),
                "use_transparent_shadow": data.get("use_transparent_shadow",
                                                   _transparent_of(data.get("shadow_method")))}
    else:
        want = {"blend_method": data.get("blend_method")
                or ("BLEND" if data.get("surface_render_method") == "BLENDED" else "OPAQUE"),
                "shadow_method": data.get("shadow_method")
                or ("HASHED" if data.get("use_transparent_shadow") else "OPAQUE")}
    rna_load(mat, want, ctx, clear=False)
    cycles = getattr(mat, "cycles", None)
    if cycles is not None and "cycles" in data:
        rna_load(cycles, data["cycles"], ctx)
    if "gpencil" in data:
        if not mat.is_grease_pencil:
            bpy.data.materials.create_gpencil_data(mat)
        rna_load(mat.grease_pencil, data["gpencil"], ctx)
    if "tree" in data and mat.node_tree is not None:
        load_tree(mat.node_tree, data["tree"], ctx)
