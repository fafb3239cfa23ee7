"""Mixed-version sessions: two Blender releases share one scene through the
add-on (bl_mixed.py). SESSIOND_BLENDER_MIX names the pair, older first:
"blender 4.5" (Debian's blender with 4.5) or "4.2 5" (bpy releases of
tests/blender/bpy-releases).

The node data is version-neutral (clients/blender/README.md): the older
Blender sees the newer one's material in its own terms (blend mode,
Principled input names), the engine mapped, the first action slot's
animation; its edits reach the newer one, and what it has no setting for
(4.0+ inputs, EEVEE Next's pair, a second action slot) is kept as the newer
one made it, and the other way round (a 3.x-only input).
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, blender_path, BlenderTestCase   # noqa: E402

MIX = os.environ.get("SESSIOND_BLENDER_MIX", "blender 4.5").split()
OLD, NEW = ["" if m == "blender" else m for m in MIX]


@unittest.skipUnless(blender_path("") or (OLD and NEW),
                     "blender is not installed (tools/setup.sh installs it for the tests)")
class MixedTest(BlenderTestCase):
    session = "mix"

    def side(self, role, series):
        p = Blender("bl_mixed.py", [role, self.srv.port, "mix", os.path.join(self.tmp, role)],
                    "blender-%s-%s" % (role, series or "blender"), series=series)
        self.procs.append(p)
        return p

    def test_two_versions_share_a_scene(self):
        new = self.side("new", NEW)
        built = new.result("built")
        nv = tuple(built["version"])
        old = self.side("old", OLD)
        joined = old.result("joined")
        ov = tuple(joined["version"])
        self.assertLess(ov, nv)
        # EEVEE's ambient occlusion distance: a scene's setting before 5.0,
        # a view layer's from 5.0.
        self.assertEqual(built["ao"], 0.7)
        self.assertEqual(joined["ao"], 0.7)
        # The newer one's material, in the older one's terms.
        self.assertEqual(joined["material"]["coat"], 0.3)
        if ov < (4, 2, 0):
            self.assertEqual(joined["material"]["render"], ["BLEND", "HASHED"])
            self.assertEqual(joined["engine"], "BLENDER_EEVEE")
        else:
            self.assertEqual(joined["material"]["render"], ["BLENDED", True])
            self.assertEqual(joined["engine"],
                             "BLENDER_EEVEE" if ov >= (5, 0, 0) else "BLENDER_EEVEE_NEXT")
        # The first slot animates Mover; a second slot (Sun's) is not there
        # before 4.4: Sun is not animated by Mover's curves.
        self.assertEqual(joined["mover_24"], built["mover_24"])
        if nv >= (4, 4, 0) and ov < (4, 4, 0):
            self.assertFalse(joined["sun_animated"])
            self.assertEqual(joined["sun_24"], [0.0, 0.0, 5.0])

        after = new.result("after")
        # The older one's edits arrived ...
        self.assertEqual(after["material"]["roughness"], 0.6)
        self.assertEqual(after["material"]["emission"], [1.0, 0.0, 0.0, 1.0])
        self.assertAlmostEqual(after["mover_24"][0] - built["mover_24"][0], 1.0, places=3)
        self.assertEqual(after["bouncer_12"][2], 2.0, "an action made by the older one plays")
        self.assertEqual(after["ao"], 0.9)
        # A material without a node tree arrives without one (5.0 makes
        # every new material with one).
        self.assertEqual(after["plain"], [False, False, [0.2, 0.4, 0.6, 1.0]])
        # ... and nothing the newer one made was reset.
        self.assertEqual(after["material"]["render"], built["material"]["render"])
        self.assertEqual(after["material"]["coat"], 0.3)
        self.assertEqual(after["coat_tint"], [0.2, 0.4, 0.6, 1.0])
        self.assertEqual(after["thin_film"], 250.0)
        self.assertEqual(after["node_render"], ["BLENDED", True])
        self.assertEqual(after["second_engine"],
                         "BLENDER_EEVEE_NEXT" if (4, 2, 0) <= nv < (5, 0, 0) else "BLENDER_EEVEE")
        self.assertEqual(after["engine"], "SESSIOND_TEST_ENGINE",
                         "an engine the older one does not have is kept")
        if built.get("diffuse_roughness"):
            self.assertEqual(after["diffuse_roughness"], 0.7)
            self.assertEqual(round(after["node_inputs"]["Diffuse Roughness"], 4), 0.7)
        if nv >= (4, 4, 0):
            self.assertEqual(after["slots"], built["slots"])
            self.assertEqual(after["sun_24"], built["sun_24"])
            self.assertEqual(after["sun_slot"], built["slots"][1])
        if ov < (4, 0, 0):
            # The 3.x-only input, kept in the node data for the older one.
            self.assertEqual(round(after["node_inputs"]["Transmission Roughness"], 4), 0.45)
        self.assertEqual(sorted(after["local_only"]),
                         [["Sketch", built["sketch_type"]], ["Title", "FONT"]],
                         "objects that are not shared stay as they are, where they are")
        self.assertEqual(after["camera_parent"], "Sketch")
        # A shape key animated in the older one plays in the newer one
        # (4.4+: through the action's slot); its Grease Pencil v2 drawing is
        # built only where that kind exists (up to 4.2), nothing in its place.
        self.assertEqual(after["grow_24"], 1.0)
        self.assertEqual(after["old_sketch"],
                         [] if nv >= (4, 3, 0) else [["OldSketch", "GPENCIL"]])
        # Light settings only one of them has: each kept by the other.
        self.assertEqual(after["light"], [1.5, 1.5, 0.5])
        self.assertEqual(after["ground_group"], "Smooth by Angle",
                         "a modifier's node group stays after an edit elsewhere")
        if ov < (4, 1, 0):
            # Auto smooth, a mesh setting before 4.1: kept in the node data,
            # edges sharp from its angle in 4.1+, still on after the newer
            # one's edit of the mesh.
            self.assertAlmostEqual(after["auto_smooth"], 0.6, places=4)
            if nv >= (4, 1, 0):
                self.assertEqual(after["sharp_edges"], 12)
        final = old.result("final")
        if ov < (4, 1, 0):
            self.assertEqual(final["auto_smooth"], [True, 0.6])
        self.assertEqual(final["mover_36"][0] - after["mover_24"][0], 2.0,
                         "a key added by the newer one reached the older one")
        if ov < (4, 0, 0):
            self.assertEqual(final["transmission_roughness"], 0.45)
        self.assertEqual(final["material"]["roughness"], 0.6)
        self.assertEqual(final["ao"], 0.9)
        # The Grease Pencil v3 object stays in the newer one; a text is
        # shared, as a text.
        self.assertEqual(final["local_only_seen"], [["Title", "FONT"]])
        self.assertEqual(final["light"], [5.0, 0.5])
        self.assertEqual(final["resume"], "delta")
        for p in (new, old):
            self.assertEqual(p.wait(), 0, p.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
