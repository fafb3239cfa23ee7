"""Drivers (AnimData.drivers) of a datablock, for the kinds that share
them (Object): each driver's F-curve as an action's curves are shared
(keyframes, settings, modifiers: bl_action) and its driver: the type,
the expression, `use_self`, and its variables with their targets (the
target datablock as a uuid, data path, bone, transform channel and space).

A target naming a datablock that is not shared is left out of the dump
(the sender cannot name it), and loading such data leaves the local
target as it is (common.keep_local through rna_load).
"""

from . import bl_action
from .common import rna_dump, rna_load

DRIVER_EXCLUDE = ("is_valid", "is_simple_expression", "variables")
# A target's kind of datablock is set before the datablock.
TARGET_ORDER = ("id_type",)


def _dump_driver(drv, ctx):
    d = rna_dump(drv, ctx, exclude=DRIVER_EXCLUDE)
    d["variables"] = [{"name": v.name, "type": v.type,
                       "targets": [rna_dump(t, ctx) for t in v.targets]}
                      for v in drv.variables]
    return d


def dump(idb, ctx):
    """The drivers of `idb` as [curve], or None when it has none."""
    ad = getattr(idb, "animation_data", None)
    if ad is None or not len(ad.drivers):
        return None
    curves = bl_action._dump_curves(ad.drivers, ctx)
    for c, fc in zip(curves, ad.drivers):
        c.pop("group", None)        # drivers' groups are UI only: not shared
        c["driver"] = _dump_driver(fc.driver, ctx)
    return curves


def _shape(curves):
    return [(c["path"], c["index"], len(c["co"]) // 2) for c in curves]


def _have(fcurves):
    return [(fc.data_path, fc.array_index, len(fc.keyframe_points)) for fc in fcurves]


def _load_driver(drv, d, ctx):
    rna_load(drv, {k: v for k, v in d.items() if k != "variables"}, ctx,
             exclude=DRIVER_EXCLUDE)
    want = d.get("variables", [])
    if [(v.name, v.type) for v in drv.variables] != [(w["name"], w["type"]) for w in want]:
        for v in list(drv.variables):
            drv.variables.remove(v)
        for w in want:
            v = drv.variables.new()
            v.name, v.type = w["name"], w["type"]
    for v, w in zip(drv.variables, want):
        for t, tw in zip(v.targets, w.get("targets", ())):
            rna_load(t, tw, ctx, order=TARGET_ORDER)
            if tw.get("id") and ctx.resolve(tw["id"]) is None:
                # Its target is not here yet (drivers can make a cycle: a
                # shape key driven by an object using the mesh): half
                # loaded, so nothing is sent from it until it arrives.
                ctx.pending()


def load(idb, curves, ctx):
    """Make the drivers of `idb` match `curves` (None or [] for none)."""
    curves = curves or []
    ad = idb.animation_data
    if ad is None:
        if not curves:
            return
        ad = idb.animation_data_create()
    if _shape(curves) != _have(ad.drivers):
        for fc in list(ad.drivers):
            ad.drivers.remove(fc)
        for c in curves:
            fc = ad.drivers.new(c["path"], index=c["index"])
            kp = fc.keyframe_points
            while len(kp):          # a new driver comes with two keyframes
                kp.remove(kp[0], fast=True)
            kp.add(len(c["co"]) // 2)
    bl_action._load_keys(ad.drivers, curves, ctx)
    for fc, c in zip(ad.drivers, curves):
        if "driver" in c:
            _load_driver(fc.driver, c["driver"], ctx)
