"""Undo and redo in a session: Blender with a window under Xvfb (Blender
keeps no undo history in background mode) as artist A, a headless Blender
as artist B (bl_undo.py). A moves its Cube twice, B moves the Sphere, A
undoes twice: the Cube is back where it started on both sides and B's
Sphere is untouched on both; A redoes twice: the Cube's move is back on
both sides, the Sphere still B's.
"""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, blender_path, xvfb_path   # noqa: E402
from harness import Server                                 # noqa: E402


@unittest.skipUnless(blender_path() and xvfb_path(),
                     "blender or xvfb-run is not installed (tools/setup.sh installs both)")
class UndoTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server([]).start()
        self.tmp = tempfile.mkdtemp(prefix="sessiond-undo-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, role, window=False):
        p = Blender("bl_undo.py", [role, self.srv.port, "undo",
                                   os.path.join(self.tmp, "cache-" + role)],
                    "blender-" + role, window=window)
        self.procs.append(p)
        return p

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
        self.assertEqual(a.wait(120), 0, a.log())
        self.assertEqual(b.wait(), 0, b.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
