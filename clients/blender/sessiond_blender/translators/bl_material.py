"""Material: viewport settings, how EEVEE renders its surface and shadow,
and its shader node tree (nodes, their settings and input values, links).

EEVEE Next (Blender 4.2) replaced blend_method/shadow_method with
surface_render_method (DITHERED, BLENDED) and use_transparent_shadow. The
node data holds both pairs, so each version reads its own: a Blender
writes its own pair and derives the other one, keeping the other
version's value when it still agrees (BLEND <-> BLENDED, OPAQUE, CLIP and
HASHED <-> DITHERED; shadow CLIP, HASHED <-> transparent, OPAQUE, NONE <->
not): a 3.x alpha clip stays a clip across a 4.2 edit of something else.
"""

import bpy

from .common import dump_tree, load_tree, prev_of, rna_dump, rna_load

KIND = "Material"
COLLECTION = "materials"
FIELDS = ("name", "use_nodes", "diffuse_color", "metallic", "roughness", "specular_intensity",
          "use_backface_culling", "pass_index")
LEGACY = ("blend_method", "shadow_method")
NEXT = ("surface_render_method", "use_transparent_shadow")
# Blender 4.2+: EEVEE Next's material settings.
EEVEE_NEXT = "surface_render_method" in bpy.types.Material.bl_rna.properties


def _render_of(blend):
    return "BLENDED" if blend == "BLEND" else "DITHERED"


def _transparent_of(shadow):
    return shadow in ("CLIP", "HASHED")


def dump(mat, ctx):
    prev = prev_of(ctx)
    d = rna_dump(mat, ctx, include=FIELDS)
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
    d.update(blend_method=blend, shadow_method=shadow, surface_render_method=render,
             use_transparent_shadow=transparent)
    if mat.use_nodes and mat.node_tree is not None:
        d["tree"] = dump_tree(mat.node_tree, ctx, prev.get("tree"))
    return d


def construct(data, ctx):
    return bpy.data.materials.new(data.get("name", "Material"))


def load(mat, data, ctx):
    rna_load(mat, {k: v for k, v in data.items() if k in FIELDS}, ctx, order=("use_nodes",))
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
    if "tree" in data and mat.node_tree is not None:
        load_tree(mat.node_tree, data["tree"], ctx)
