"""Working together, with three headless Blenders and one sessiond (the
in-Blender side is bl_collab.py): join progress through the script API,
snap view and time, follow until the view is moved, lock requests refused
and given, an admin's release, the lock lists and their filters, an object held by
someone else kept from being the active one, a refused edit and a refused
password said in words.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import blender_path, BlenderTestCase   # noqa: E402

VIEW_A = [1, 0, 0, 2.0, 0, 1, 0, -3.0, 0, 0, 1, 4.0, 0, 0, 0, 1]
VIEW_A2 = [0, -1, 0, 5.0, 1, 0, 0, 1.0, 0, 0, 1, 7.5, 0, 0, 0, 1]
VIEW_B = [1, 0, 0, 9.0, 0, 1, 0, 9.0, 0, 0, 1, 9.0, 0, 0, 0, 1]


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class CollabTest(BlenderTestCase):
    script = "bl_collab.py"
    session = "together"
    server_args = ("--admin-password", "adm")

    def artist(self, role):
        return self.start(role)

    def test_snap_follow_locks_progress(self):
        a = self.artist("a")
        self.assertEqual(a.result("a-ready")["role"], "admin")
        b = self.artist("b")
        j = b.result("b-join")
        # Progress through the script API: ends with every node, and the
        # terrain's arrays counted as blob bytes.
        final = j["final"]
        self.assertEqual(final["phase"], "done")
        self.assertEqual(final["nodes"], final["total"])
        self.assertGreater(final["total"], 6)
        self.assertGreater(final["blob_bytes"], 100000)
        self.assertEqual(final["blobs_left"], 0)
        self.assertEqual(final["status"], "connected")
        phases = [p["phase"] for p in j["seen"]]
        self.assertIn("applying", phases, j["seen"])
        applying = [p for p in j["seen"] if p["phase"] == "applying"][0]
        self.assertRegex(applying["status"], r"^joining: \d+ of %d received" % final["total"])
        # Snap: the stored view takes A's matrix, lens and perspective;
        # the frame takes A's.
        self.assertEqual(j["view"]["view_matrix"], VIEW_A)
        self.assertEqual((j["view"]["lens"], j["view"]["perspective"]), (35.0, "ORTHO"))
        self.assertEqual(j["mine"]["view_matrix"], VIEW_A)
        self.assertEqual((j["frame"], j["scene_frame"]), (12, 12))

        f = b.result("b-follow")
        self.assertEqual(f["followed"]["frame"], 30)
        self.assertEqual(f["followed"]["view"]["view_matrix"], VIEW_A2)
        self.assertEqual(f["followed"]["view"]["lens"], 70.0)
        self.assertEqual(f["followed"]["following"], "artist-a")
        self.assertIsNone(f["following_after"], "moving the view stops following")
        self.assertEqual(f["view_after"], VIEW_B)

        la, lb = a.result("a-locks"), b.result("b-locks")
        self.assertEqual(la["first"], [["artist-b", la["cube"]]])
        self.assertFalse(la["selected"], "the holder let go of the Cube")
        self.assertTrue(lb["asked"])
        self.assertFalse(lb["asked_free"])
        self.assertEqual(lb["refused"], "artist-a keeps Cube for now (request refused)")
        self.assertTrue(lb["selected"])
        self.assertEqual(lb["mine"], ["Cube"])

        c = self.artist("c")
        lc = c.result("c-locks")
        self.assertTrue(lc["refused"].startswith("The server refused the password ("),
                        lc["refused"])
        self.assertEqual(lc["others"], [["Sphere", "artist-a"]])
        self.assertEqual(lc["free"], ["Cube", "Terrain"])
        self.assertEqual(lc["mine"], [])
        self.assertEqual(lc["all"], ["Cube", "Sphere", "Terrain"])

        rb = b.result("b-released")
        self.assertIsNone(rb["owner"], "after the admin's release B does not take it again")
        self.assertFalse(rb["selected"])
        self.assertIn("Sphere is being edited by artist-a; your change was undone",
                      rb["edit_msg"])
        self.assertIsNone(rb["active_after"], "an object someone else holds is not made active")
        self.assertEqual(rb["active_msg"],
                         "Sphere is being edited by artist-a: it cannot be made active")
        ma = a.result("a-mine")
        self.assertTrue(ma["release_ok"])
        self.assertEqual(ma["mine"], ["Sphere"])
        for p in (a, b, c):
            self.assertEqual(p.wait(), 0, p.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
