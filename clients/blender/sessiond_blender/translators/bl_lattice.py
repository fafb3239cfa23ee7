"""Lattice: its settings (resolution in U, V and W, interpolation,
outside) and the deformed position and the weight of each point."""

import array

import bpy

from .common import rna_dump, rna_load

KIND = "Lattice"
COLLECTION = "lattices"
RESOLUTION = ("points_u", "points_v", "points_w")


def _get(points, prop, width):
    a = array.array("f", [0.0]) * (len(points) * width)
    if len(points):
        points.foreach_get(prop, a)
    return [float(x) for x in a]


def dump(lat, ctx):
    d = rna_dump(lat, ctx)
    d["co_deform"] = _get(lat.points, "co_deform", 3)
    d["weight"] = _get(lat.points, "weight_softbody", 1)
    return d


def construct(data, ctx):
    return bpy.data.lattices.new(data.get("name", "Lattice"))


def load(lat, data, ctx):
    # The resolution first: it remakes the points.
    rna_load(lat, {k: v for k, v in data.items() if k not in ("co_deform", "weight")}, ctx,
             order=RESOLUTION)
    for k, prop, w in (("co_deform", "co_deform", 3), ("weight", "weight_softbody", 1)):
        v = data.get(k)
        if v is not None and len(v) == len(lat.points) * w and _get(lat.points, prop, w) != v:
            lat.points.foreach_set(prop, v)
