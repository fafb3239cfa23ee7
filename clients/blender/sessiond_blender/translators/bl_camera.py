"""Camera: lens, sensor, clipping, type, shift, depth of field."""

import bpy

from .common import prev_of, rna_dump, rna_load

KIND = "Camera"
COLLECTION = "cameras"
ORDER = ("type", "sensor_fit", "lens_unit")


def dump(cam, ctx):
    d = rna_dump(cam, ctx, exclude=("angle", "angle_x", "angle_y", "dof"), prev=prev_of(ctx))
    d["dof"] = rna_dump(cam.dof, ctx, prev=prev_of(ctx, "dof"))
    return d


def construct(data, ctx):
    return bpy.data.cameras.new(data.get("name", "Camera"))


def load(cam, data, ctx):
    rna_load(cam, data, ctx, exclude=("dof",), order=ORDER)
    rna_load(cam.dof, data.get("dof", {}), ctx)
