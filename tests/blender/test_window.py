"""Blender with a window (under Xvfb, Debian's xvfb-run) beside a headless
one (bl_window.py): the add-on's panels open and draw, the presence
overlay (a colleague's lock box, frustum and name) draws without raising,
snapping sets the real viewport's view, and an orthographic view's frustum
is sent where the view is (not half the clip range behind it).
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

VIEW_P = [1, 0, 0, 2.0, 0, 1, 0, -3.0, 0, 0, 1, 4.0, 0, 0, 0, 1]


@unittest.skipUnless(blender_path() and xvfb_path(),
                     "blender or xvfb-run is not installed (tools/setup.sh installs both)")
class WindowTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server([]).start()
        self.tmp = tempfile.mkdtemp(prefix="sessiond-window-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, role, window=False):
        p = Blender("bl_window.py", [role, self.srv.port, "window",
                                     os.path.join(self.tmp, "cache-" + role)],
                    "blender-" + role, window=window)
        self.procs.append(p)
        return p

    def test_panels_and_overlay_draw(self):
        peer = self.start("peer")
        win = self.start("window", window=True)
        w = win.result("window", timeout=180)
        self.assertEqual(w["raised"], [])
        self.assertEqual(w["errors"], [], "drawing the overlay raised")
        self.assertGreater(w["draws"], 0, "the overlay was drawn")
        for name in ("SESSIOND_PT_session", "SESSIOND_PT_users", "SESSIOND_PT_locks",
                     "SESSIOND_PT_tasks", "SESSIOND_PT_chat"):
            self.assertGreater(w["panels"].get(name, 0), 0, name)
        # Snap on a real viewport: its view, lens and perspective are the peer's.
        for a, b in zip(w["snapped"]["view_matrix"], VIEW_P):
            self.assertAlmostEqual(a, b, places=4)
        self.assertEqual((w["snapped"]["perspective"], w["snapped"]["lens"]), ("ORTHO", 35.0))
        # The orthographic frustum the peer received is drawn at the view.
        seen = peer.result("peer")["window"]
        pos = [seen["view_matrix"][i] for i in (3, 7, 11)]
        for corner in seen["frustum"]:
            d = sum((corner[i] - pos[i]) ** 2 for i in range(3)) ** 0.5
            self.assertLess(d, 40.0, seen["frustum"])
        self.assertEqual(win.wait(120), 0, win.log())
        self.assertEqual(peer.wait(), 0, peer.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
