"""Undo and redo in a session: Blender with a window under Xvfb (Blender
keeps no undo history in background mode) beside a headless Blender
(bl_undo.py).

- A moves its Cube twice, B moves the Sphere, A undoes twice: the Cube is
  back where it started on both sides and B's Sphere is untouched on both;
  A redoes twice: the Cube's move is back on both sides, the Sphere still
  B's. A then undoes all there is, back past the join (A uploaded the
  scene): the shared scene stays as the session has it, on both sides.
- An artist with a local scene of their own joins a session, moves its
  Cube, then undoes all they can, back past the join: the shared scene is
  still there, on their side and on the others'.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from blender_run import BlenderTestCase, blender_path, xvfb_path   # noqa: E402


@unittest.skipUnless(blender_path() and xvfb_path(),
                     "blender or xvfb-run is not installed (tools/setup.sh installs both)")
class UndoTest(BlenderTestCase):
    script = "bl_undo.py"
    session = "undo"

    def test_undo_and_redo_keep_the_session_consistent(self):
        a = self.start("a", window=True)
        a.result("a-ready", timeout=180)       # B joins A's scene
        b = self.start("b")
        start, moved, sphere = [0.0, 0.0, 0.0], [2.0, 0.0, 1.0], [5.0, 0.0, 0.0]
        want = {"undone": {"Cube": start, "Sphere": sphere},
                "redone": {"Cube": moved, "Sphere": sphere}}
        for step in ("undone", "redone"):
            self.assertEqual(a.result("a-" + step, timeout=180), want[step], "A " + step)
            self.assertEqual(b.result("b-" + step, timeout=60), want[step], "B " + step)
        self.assertEqual(a.result("a-messages")["messages"], [])
        # A, who uploaded the scene, undoes all there is: its two moves
        # (sent as ordinary changes), then back past the join to Blender's
        # startup scene. The shared scene stays as the session has it on
        # both sides; nothing of the startup scene is shared.
        past = a.result("a-past", timeout=180)
        self.assertEqual(past["undos"], 3)
        self.assertEqual((past["objects"], past["Cube"], past["Sphere"]),
                         (["Cube", "Sphere"], start, sphere))
        self.assertTrue(any(m.startswith("Undo went back to before you joined")
                            for m in past["messages"]), past["messages"])
        b_past = b.result("b-past", timeout=60)
        self.assertEqual((b_past["objects"], b_past["Cube"], b_past["Sphere"]),
                         (["Cube", "Sphere"], start, sphere))
        self.assertEqual(a.wait(120), 0, a.log())
        self.assertEqual(b.wait(), 0, b.log())

    def test_undo_past_the_join_keeps_the_shared_scene(self):
        host = self.start("host")
        host.result("host-ready", timeout=120)
        j = self.start("joiner", window=True)
        u = j.result("joiner-undone", timeout=180)
        h = host.result("host-after", timeout=60)
        # Back past the join, twice (before it, the local scene; before
        # that, Blender's startup scene): the shared scene is still there,
        # on both sides, where the session has it (the Cube as the joiner
        # moved it), and nothing of the joiner's scene from before was
        # shared.
        self.assertEqual(u["undos"], 2)
        self.assertEqual(u["joined"], ["Cube", "Sphere"])
        self.assertEqual(u["objects"], ["Cube", "Sphere"])
        self.assertEqual((u["Cube"], u["Sphere"]), ([0.0, 2.0, 0.0], [0.0, 0.0, 0.0]))
        self.assertEqual(h["objects"], ["Cube", "Sphere"])
        self.assertEqual(h["nodes"], ["Cube", "Sphere"])
        self.assertEqual((h["Cube"], h["Sphere"]), ([0.0, 2.0, 0.0], [0.0, 0.0, 0.0]))
        said = j.result("joiner-messages")["messages"]
        self.assertTrue(said, "the joiner is told")
        for m in said:
            self.assertRegex(m, r"^Undo went back to before you joined: the session's scene "
                             r"is kept, and your scene from before \(\d+ datablocks\) is not "
                             r"shared$")
        self.assertEqual(j.wait(120), 0, j.log())
        self.assertEqual(host.wait(), 0, host.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
