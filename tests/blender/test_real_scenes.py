"""Scenes no one on the team wrote, through two headless Blenders and the
real server: publishing never changes the author's scene.

For each scene (one built with Blender's own operators holding a Curve, a
Text, a meta-rig, a Metaball, a Lattice, a geometry-nodes modifier with
input values, a driver, a material using a node group, cloth, soft body, a
rigid body, a force field, particles, a Freestyle line set, sequencer
strips, collections a view layer hides and excludes; materials_library_vx's sample_materials.blend;
the 2D_Animation template), Blender A takes a digest of every datablock
(bl_digest.py: everything the datablock holds, not only what the add-on
shares), publishes into an empty session, Blender B joins from an empty
file, and once B has said so A takes the digest again: it must be the
same for every datablock. What the add-on shares must arrive equal (its
own digest, equal on both sides); how many datablocks are equal as a
whole on B is printed and asserted where every kind of the scene is
shared. In the every-kind scene both Blenders then edit a few of each kind
(node groups, material, curve, text, bones, pose, lattice, metaball, Grease
Pencil, a driver, a rigid body, a modifier's input, a view layer's
exclude), B first and A back, and end equal.
"""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, blender_path   # noqa: E402
from harness import Server                      # noqa: E402

SERVER = None


def setUpModule():
    global SERVER
    if blender_path():
        SERVER = Server([]).start()


def tearDownModule():
    if SERVER is not None:
        if SERVER.alive():
            SERVER.stop()
        SERVER.cleanup()


def unshared(pub):
    """The digest keys of A's datablocks that are not shared, and of the
    collections and scenes holding such objects (on B they hold only the
    rest)."""
    return {"%s/%s" % (coll, name) for coll, name, _ in pub["not_shared"]} | set(pub["holders"])


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class RealScenesTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sessiond-real-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def blender(self, role, session, scene):
        p = Blender("bl_real.py", [role, SERVER.port, session, os.path.join(self.tmp, role),
                                   scene], "%s-%s" % (scene, role))
        self.procs.append(p)
        return p

    def round_trip(self, scene):
        session = "real-" + scene.lower().replace("_", "-")
        a = self.a = self.blender("a", session, scene)
        pub = a.result("published")
        b = self.b = self.blender("b", session, scene)
        joined = b.result("joined")
        after = a.result("after")
        for p in (a, b):
            self.assertEqual(p.wait(), 0, p.log())
        before = pub["digests"]
        equal_b = sorted(k for k, h in before.items() if joined["digests"].get(k) == h)
        print("\n%s: %d datablocks compared, %d equal on B, %d changed on A; "
              "publish %.2f s, join %.2f s" % (scene, len(before), len(equal_b),
                                               len(after["changed"]), pub["publish_s"],
                                               joined["join_s"]), file=sys.stderr)
        if os.environ.get("SESSIOND_SHOW_DIFF"):
            for k, d in sorted(joined["differ"].items()):
                print("  differs on B: %s %s" % (k, d), file=sys.stderr)
        # The author's scene is unchanged by publishing and by B joining.
        self.assertEqual(after["changed"], {})
        self.assertEqual(after["digests"], before)
        # What the add-on shares arrives as it is.
        self.assertEqual({k: v for k, v in joined["addon_items"].items()
                          if after["addon_items"].get(k) != v}, {})
        self.assertEqual(joined["addon_digest"], after["addon_digest"])
        return pub, joined, equal_b

    def test_a_kind_left_out_is_never_touched(self):
        """Light left out of the kinds on both sides: the Light object and
        its data get no uuid, are no node, do not reach B, are listed as
        not shared, and stay as they were on A, also when another client
        says the Cube is an Empty."""
        pub, joined, equal_b = self.round_trip("left-out")
        self.assertEqual(pub["light_uuids"], [None, None])
        self.assertEqual(pub["node_kinds"], ["Camera", "Collection", "FreestyleLineStyle",
                                             "Material", "Material", "Mesh", "Object", "Object",
                                             "Scene", "World"])
        self.assertIn(["lights", "Light", "PointLight is not a shared kind"], pub["not_shared"])
        self.assertIn(["objects", "Light", "its data is a PointLight, not a shared kind"],
                      pub["not_shared"])
        self.assertEqual(joined["objects"], ["Camera", "Cube"])
        # An object the add-on cannot read is said once and left out; the
        # rest is shared.
        self.assertEqual([m for m in pub["messages"] if "Odd" in m],
                         ["cannot read Object 'Odd': unreadable on purpose"])
        self.assertEqual(joined["node_kinds"], pub["node_kinds"])
        # The Cube node says EMPTY now: A's Cube is still the mesh it was
        # (round_trip compared every datablock of A).

    def assertAllEqualOnB(self, pub, equal_b, prefixes):
        want = sorted(k for k in pub["digests"] if k.startswith(prefixes))
        self.assertEqual([k for k in want if k not in equal_b], [])
        return want

    def test_every_kind_scene(self):
        pub, joined, equal_b = self.round_trip("every-kind")
        gp = pub["gpencil_v2"]
        # (Grease Pencil v3's data, 4.3+, is in none of the digest's collections.)
        self.assertGreaterEqual(pub["count"], 30 if gp else 29)
        # Every datablock of the scene arrives equal as a whole: the
        # material with a group node, the geometry-nodes group, the curves,
        # the text, the meta-rig (bones, pose, Rigify's settings), the
        # metaball, the lattice, the Grease Pencil drawing and its
        # materials, and the objects using them.
        # (From Blender 4.3 the drawing is Grease Pencil v3, not shared: it
        # stays on A, listed as not shared.)
        self.assertEqual(sorted(set(pub["digests"]) - set(equal_b) - unshared(pub)), [])
        # The sphere's driver, the cloth, soft body, rigid body and force
        # field settings, the rigid body world (in the scene), the particle
        # systems and their settings are in the digest.
        for k in ("armatures/metarig", "curves/BezierCurve", "curves/NurbsPath", "curves/Text",
                  "lattices/Lattice", "materials/Tinted", "metaballs/Mball", "node_groups/Lift",
                  "node_groups/Tint", "objects/metarig", "objects/Sphere", "objects/Text",
                  "objects/Cloth", "objects/Soft", "objects/Crate", "objects/Wind",
                  "objects/Emitter", "particles/Sparks", "particles/Fur", "objects/Volume",
                  "volumes/Volume", "images/Tiles", "volumes/Smoke", "objects/Smoke",
                  "collections/RigidBodyWorld", "collections/Props", "collections/Excluded",
                  ) + (("grease_pencils/Stroke", "objects/Stroke", "scenes/Scene") if gp else ()):
            self.assertIn(k, equal_b)
        # What the digest does not walk: the geometry-nodes modifier's
        # input values, and which collections the view layer hides and
        # excludes.
        feats = pub["features"]
        self.assertEqual(joined["features"], feats)
        self.assertEqual(sorted(feats["linestyles"]), ["Ink"])
        self.assertEqual(feats["linestyles"]["Ink"]["thickness"], 2.5)
        self.assertEqual(feats["mask"], [0.0, 0.0238, 0.0476])
        self.assertEqual(feats["strips"], [["Fade", "CROSS", 3, 5, 30, 0.0],
                                           ["Red", "COLOR", 1, 1, 30, 0.0],
                                           ["Title", "TEXT", 2, 5, 40, 12.0]])
        self.assertEqual([feats["gn_inputs"][k] for k in ("in1", "in2", "in3",
                                                          "out1_attribute_name")],
                         [0.75, [1.0, 2.0, 3.0], "Cube", "lifted"])
        self.assertEqual(feats["layers"]["ViewLayer/Props"], [False, True, True, False])
        self.assertEqual(feats["layers"]["ViewLayer/Excluded"], [True, False, False, False])
        # The plane's custom normals (the first corner's; all of them are
        # in the add-on's dump, equal on both sides).
        self.assertEqual(feats["normals"], [0.0, 0.6, 0.8])
        # The tiled (UDIM) image: its tiles, labels, each tile's file (its
        # hash) and first pixel (red, blue; Blender writes RGB PNGs).
        self.assertEqual([t[:2] + t[3:] for t in feats["udim"][:-1]],
                         [[1001, "1001", [255, 0, 0]], [1002, "Back", [0, 0, 255]]])
        self.assertEqual(feats["udim"][-1], "TILED")
        # The volume reading a .vdb file: B reads the same bytes (the
        # hash is in the features, equal on both sides) and grids.
        self.assertEqual(feats["vdb"][0], ["density", "flame", "shadow", "temperature",
                                           "velocity"])
        self.assertIsNotNone(feats["vdb"][1])
        # The Grease Pencil object's modifier and visual effect (their
        # settings are in the object's digest).
        self.assertEqual(feats["gp_modifiers"],
                         [["Thick", "GP_THICK"], ["Glow", "FX_GLOW"]] if gp else None)
        self.assertIn(["fonts", "Bfont Regular", "Blender's built-in font: every Blender has it"],
                      pub["not_shared"])
        if gp:
            self.assertEqual(len(pub["not_shared"]), 1, pub["not_shared"])
        else:
            self.assertIn("objects/Stroke", unshared(pub))
        # Edits both ways: B's reach A, then A's reach B, and both end equal.
        b_edited = self.b.result("b-edited")["values"]
        a_saw = self.a.result("a-saw")["values"]
        self.assertEqual(a_saw, b_edited)
        self.assertEqual(a_saw["body"], "shared!")
        self.assertEqual(a_saw["lift_inputs"], ["Geometry", "Height", "Shift", "Target", "Amount"])
        self.assertEqual(a_saw["bezier"], [-2.0, 0.5, 0.0])
        self.assertEqual(a_saw["mball"], 1.5)
        self.assertEqual(a_saw["spine_rigify_type"], "spines.basic_spine")
        self.assertEqual(a_saw["spine_location"], [0.0, 0.1, 0.2])
        self.assertEqual(a_saw["pressure"], 0.3 if gp else None)
        self.assertEqual(a_saw["driver"], "var * 3 + height")
        self.assertEqual(a_saw["mass"], 5.0)
        a_final, b_final = self.a.result("a-final"), self.b.result("b-final")
        self.assertEqual(b_final["values"], a_final["values"])
        self.assertEqual(b_final["values"]["lift"], [0.0, 0.0, 1.5])
        self.assertEqual(b_final["values"]["ramp"], [0.0, 0.3, 1.0])
        self.assertTrue(b_final["values"]["italic"])
        self.assertEqual(b_final["values"]["gp_opacity"], 0.5 if gp else None)
        self.assertEqual(b_final["values"]["gn_height"], 1.25)
        self.assertTrue(b_final["values"]["excluded"])
        self.assertTrue(a_saw["has_mask"])
        self.assertFalse(b_final["values"]["has_mask"])
        self.assertEqual({k: v for k, v in b_final["addon_items"].items()
                          if a_final["addon_items"].get(k) != v}, {})
        self.assertEqual(b_final["addon_digest"], a_final["addon_digest"])

    def test_sample_materials(self):
        pub, joined, equal_b = self.round_trip("sample_materials")
        self.assertGreaterEqual(pub["count"], 69)
        # Every material (kept by a fake user, not used by any object) and
        # every node group, as a whole.
        self.assertEqual(len(self.assertAllEqualOnB(pub, equal_b, ("materials/", "node_groups/",
                                                                   "images/", "worlds/"))), 67)

    def test_2d_animation_template(self):
        pub, joined, equal_b = self.round_trip("2D_Animation")
        self.assertGreaterEqual(pub["count"], 12)
        # Its Grease Pencil object, data and materials arrive whole, and so
        # does the scene with its Freestyle line set.
        # (From Blender 4.3 it is Grease Pencil v3, not shared: it stays on A,
        # and the scene, which lists it among all its objects, differs.)
        self.assertEqual(sorted(set(pub["digests"]) - set(equal_b) - unshared(pub)),
                         [] if pub["gpencil_v2"] else ["scenes/Scene"])

    def test_other_shipped_files(self):
        """The other application templates and the material library's
        templates.blend: never changed by publishing, and every datablock
        arrives equal as a whole (a mesh's auto smooth angle while auto
        smooth is off, the scene's FFmpeg audio settings and its view
        transform's curves among them)."""
        # Blender 5.0 (not yet equal there): templates.blend's node group
        # holds a Point Density texture, a node type 5.0 no longer has (it
        # opens it as an undefined node, which cannot be made: the joining
        # 5.0 has the group without it and its links, and the material
        # using the group shows other sockets); the Sculpting template's
        # mesh arrives with its edges in another order and a sharp_face
        # attribute.
        differ_5 = {"Sculpting": ["meshes/Quad Sphere"],
                    "templates": ["materials/template_all_trans_textures",
                                  "node_groups/Template_All_Textures"]}
        for scene in ("Sculpting", "VFX", "Video_Editing", "templates"):
            with self.subTest(scene=scene):
                pub, joined, equal_b = self.round_trip(scene)
                self.assertEqual(sorted(set(pub["digests"]) - set(equal_b) - unshared(pub)),
                                 differ_5.get(scene, []) if pub["version"] >= [5, 0] else [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
