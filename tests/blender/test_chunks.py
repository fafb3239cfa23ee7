"""A mesh edit sends only what changed (protocol 1.2 chunks), with two
headless Blenders and one sessiond (the in-Blender side is bl_chunks.py):
A shares a 200,704-vertex grid, B joins, A moves 100 of its vertices; the
edit's upload is under 5% of the first upload's bytes, B receives only the
changed chunks, and B's mesh matches A's.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import blender_path, release, BlenderTestCase   # noqa: E402


@unittest.skipUnless(release() or blender_path(),
                     "blender is not installed (tools/setup.sh installs it for the tests)")
class ChunkedMeshTest(BlenderTestCase):
    script = "bl_chunks.py"
    session = "chunks"

    def test_moving_100_vertices_sends_a_few_chunks(self):
        a = self.start("a")
        ready = a.result("a-ready", timeout=300)
        self.assertEqual(ready["vertices"], 200704)
        self.assertTrue(ready["chunked"])
        b = self.start("b")
        edited = a.result("a-edited", timeout=300)
        got = b.result("b-done", timeout=300)
        # The first upload carried the whole geometry (about 21 MB).
        self.assertGreater(edited["first_blob"], 15 * 1024 * 1024)
        self.assertGreater(edited["first"], edited["first_blob"])
        # The edit: a chunk or two of positions, the blob.put's list, the update.
        self.assertLess(edited["second"], 0.05 * edited["first"], edited)
        self.assertLessEqual(edited["second_blob"], 2 * 256 * 1024, edited)
        self.assertLessEqual(got["edit"], 2 * 256 * 1024, got)
        self.assertGreater(got["joined"], 15 * 1024 * 1024)
        self.assertEqual(got["vertices"], 200704)
        self.assertEqual(got["digest"], edited["digest"], "B's mesh differs from A's")
        self.assertEqual(got["messages"], [])
        self.assertEqual(a.wait(120), 0, a.log())
        self.assertEqual(b.wait(120), 0, b.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
