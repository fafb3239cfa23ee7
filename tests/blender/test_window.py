"""Blender with a window (under Xvfb, Debian's xvfb-run, with
--enable-event-simulate for key presses) beside a headless one
(bl_window.py), driven as an artist drives the panel:

- Connect says what joining will do before anything changes: "You are
  first: your scene will be uploaded" for an empty session (Cancel leaves
  the scene as it was), "Your local scene will be replaced by session
  'window' (2 objects)" for the peer's; Join joins.
- While joining, Blender's progress indicator runs from begin to end and
  the status line says the nodes received of the total and the megabytes
  of files.
- The add-on's panels open and draw, the presence overlay (a colleague's
  lock box, frustum and name) draws without raising; the colleague's name
  is drawn, but not once the views coincide.
- Snapping sets the real viewport's view; an orthographic view's frustum
  is sent where the view is (not half the clip range behind it).
- Follow keeps the viewport and frame on the colleague's; Esc stops it,
  and so does moving the view (numpad 6 over the viewport).
"""

import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from blender_run import BlenderTestCase, blender_path, xvfb_path   # noqa: E402

VIEW_P = [1, 0, 0, 2.0, 0, 1, 0, -3.0, 0, 0, 1, 4.0, 0, 0, 0, 1]
VIEW_P2 = [0, -1, 0, 5.0, 1, 0, 0, 1.0, 0, 0, 1, 7.5, 0, 0, 0, 1]


def error_codes():
    """The error codes docs/PROTOCOL.md says the server can send."""
    with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "PROTOCOL.md"),
              encoding="utf-8") as f:
        doc = f.read()
    listed = re.search(r"Error codes:(.*?)\.\s", doc, re.S).group(1)
    return re.findall(r"`([a-z_]+)`", listed)


@unittest.skipUnless(blender_path() and xvfb_path(),
                     "blender or xvfb-run is not installed (tools/setup.sh installs both)")
class WindowTest(BlenderTestCase):
    script = "bl_window.py"
    session = "window"

    def assertView(self, got, want):
        for a, b in zip(got, want):
            self.assertAlmostEqual(a, b, places=4)

    def test_panels_and_overlay_draw(self):
        peer = self.start("peer")
        # Its own Blender settings and cache: what Connect saves and
        # downloads stays in the test's folder.
        win = self.start("window", window=True, options=["--enable-event-simulate"],
                         args=[",".join(error_codes())],
                         env={"BLENDER_USER_CONFIG": os.path.join(self.tmp, "config"),
                              "XDG_CACHE_HOME": os.path.join(self.tmp, "xdg-cache")})
        w = win.result("window", timeout=500)
        self.assertEqual(w["raised"], [])
        self.assertEqual(w["errors"], [], "drawing the overlay raised")
        self.assertGreater(w["draws"], 0, "the overlay was drawn")
        for name in ("SESSIOND_PT_session", "SESSIOND_PT_users", "SESSIOND_PT_locks",
                     "SESSIOND_PT_tasks", "SESSIOND_PT_chat"):
            self.assertGreater(w["panels"].get(name, 0), 0, name)

        # Connect's confirmation, in the panel.
        self.assertIn("You are first: your scene will be uploaded to session 'empty-window'.",
                      w["asked_empty"])
        c = w["cancelled"]
        self.assertFalse(c["active"], "Cancel leaves the session")
        self.assertFalse(c["connected"])
        self.assertEqual(c["objects"], c["local"], "Cancel leaves the scene as it was")
        self.assertIn("Your local scene will be replaced by session 'window' (2 objects).",
                      w["asked"])

        # Blender's progress indicator while joining, and the status line.
        calls = w["progress"]
        self.assertEqual(calls[0][:2], ["progress_begin", [0, 1000]], calls)
        self.assertEqual(calls[-1][0], "progress_end", calls)
        self.assertEqual([c[0] for c in calls].count("progress_begin"), 1, calls)
        values = [c[1][0] for c in calls if c[0] == "progress_update"]
        self.assertTrue(values, calls)
        self.assertEqual(values, sorted(values), "the indicator only moves forward")
        self.assertTrue(all(0 <= v <= 1000 for v in values), values)
        statuses = [c[2] for c in calls if c[0] == "progress_update"]
        self.assertTrue(any(re.match(r"^joining: \d+ of \d+ received, \d+\.\d MB of files",
                                     st) for st in statuses), statuses)

        # Every error the server can send, said in the panel in words (the
        # server's after them), as an error of its own and as the refusal
        # of a chat message.
        codes = error_codes()
        self.assertGreaterEqual(len(codes), 12, codes)
        for code in codes:
            said = sorted(w["said"][code], key=lambda t: t.startswith("Your message"))
            words = "(chat.send: the server's words for %s)." % code
            self.assertEqual(len(said), 2, (code, said))
            own, refusal = said
            self.assertRegex(own, r"^[A-Z][^()]+ \(", code)
            self.assertNotIn("The server refused a request", own, code)
            self.assertTrue(own.endswith(words), said)
            self.assertEqual(refusal, "Your message was not sent: " + own, said)
            self.assertFalse(any("Traceback" in t for t in said))

        # Names in the viewport: the peer's while the views differ, none
        # once they coincide.
        self.assertIn("peer", w["names_apart"])
        self.assertNotIn("peer", w["names_together"])
        # Snap on a real viewport: its view, lens and perspective are the peer's.
        self.assertView(w["snapped"]["view_matrix"], VIEW_P)
        self.assertEqual((w["snapped"]["perspective"], w["snapped"]["lens"]), ("ORTHO", 35.0))
        # The orthographic frustum the peer received is drawn at the view.
        seen = peer.result("peer")["window"]
        pos = [seen["view_matrix"][i] for i in (3, 7, 11)]
        for corner in seen["frustum"]:
            d = sum((corner[i] - pos[i]) ** 2 for i in range(3)) ** 0.5
            self.assertLess(d, 40.0, seen["frustum"])

        # Follow: the viewport and the frame go where the peer's go; Esc
        # stops it; following again, orbiting the view stops it.
        f = w["followed"]
        self.assertEqual((f["following"], f["frame"], f["lens"]), ("peer", 30, 70.0))
        self.assertView(f["view_matrix"], VIEW_P2)
        self.assertEqual(w["esc"]["message"], "stopped following peer")
        self.assertView(w["esc"]["view_matrix"], VIEW_P2)
        m = w["moved"]
        self.assertEqual(m["following_again"], "peer")
        self.assertEqual(m["message"], "stopped following peer")
        self.assertGreater(max(abs(a - b) for a, b in zip(m["view_matrix"], VIEW_P2)), 0.1,
                           "the view was orbited")
        self.assertEqual(win.wait(120), 0, win.log())
        self.assertEqual(peer.wait(), 0, peer.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
