"""Camera: lens, sensor, clipping, type, shift, depth of field, stereo
settings and background images (image or movie clip as a uuid, and their
settings)."""

import bpy

from .common import rna_dump, rna_load

KIND = "Camera"
COLLECTION = "cameras"
ORDER = ("type", "sensor_fit", "lens_unit")


def dump(cam, ctx):
    d = rna_dump(cam, ctx, exclude=("angle", "angle_x", "angle_y"))
    d["dof"] = rna_dump(cam.dof, ctx)
    d["stereo"] = rna_dump(cam.stereo, ctx)
    if len(cam.background_images):
        d["background_images"] = [dict(rna_dump(b, ctx, exclude=("show_expanded",)),
                                       image_user=rna_dump(b.image_user, ctx,
                                                           exclude=("frame_current",)))
                                  for b in cam.background_images]
    return d


def construct(data, ctx):
    return bpy.data.cameras.new(data.get("name", "Camera"))


def load(cam, data, ctx):
    rna_load(cam, data, ctx, exclude=("dof", "stereo", "background_images"), order=ORDER)
    rna_load(cam.dof, data.get("dof", {}), ctx)
    rna_load(cam.stereo, data.get("stereo", {}), ctx)
    bgs = data.get("background_images", [])
    while len(cam.background_images) > len(bgs):
        cam.background_images.remove(cam.background_images[-1])
    while len(cam.background_images) < len(bgs):
        cam.background_images.new()
    for b, bd in zip(cam.background_images, bgs):
        rna_load(b, {k: v for k, v in bd.items() if k != "image_user"}, ctx,
                 exclude=("show_expanded",), order=("source",))
        rna_load(b.image_user, bd.get("image_user", {}), ctx)
