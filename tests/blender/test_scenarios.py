"""Two and three headless Blender processes and one sessiond: artists
sharing a scene through the add-on. The in-Blender side is bl_artist.py;
processes synchronise through chat messages on the server (no sleeps), and
each prints digests of its replicated scene that are compared here.

Steps: A builds a scene (textured mesh, camera, light, collection,
animated object, world) and B joins and matches; A moves an object; B edits
mesh vertices; B selects an object and A's edit of it is refused and
reverted; a task and chat messages made through the add-on reach the
other; A deletes an object; the server is killed with SIGKILL and restarted
(A edits while it is down), both resume with a delta and match; a third
Blender joining late matches.

Also here: the per-kind round trip (bl_kinds.py), the Python API's
errors in the server's words, and a .blend file opened and shared
(bl_blendfile.py).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, blender_path   # noqa: E402
from harness import Server                      # noqa: E402

SERVER = None       # one sessiond for the file; each test uses its own session


def setUpModule():
    global SERVER
    if blender_path():
        SERVER = Server(["--admin-password", "adm"]).start()


def tearDownModule():
    if SERVER is not None:
        if SERVER.alive():
            SERVER.stop()
        SERVER.cleanup()


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class KindsTest(unittest.TestCase):
    def test_round_trip_every_kind(self):
        b = Blender("bl_kinds.py", [], "kinds")
        r = b.result("kinds")
        self.assertEqual(b.wait(), 0, b.log())
        self.assertEqual(r["failures"], [])
        for kind in ("Object", "Mesh", "Material", "Image", "Collection", "Camera", "Light",
                     "World", "Scene", "Action", "NodeTree", "Curve", "Armature", "Lattice",
                     "MetaBall", "Text", "Texture", "LightProbe", "Speaker") + \
                (("GreasePencil",) if r["gpencil_v2"] else ()):
            self.assertGreater(r["checked"].get(kind, 0), 0, kind)
        self.assertTrue(r["big_is_blob"], "a mesh above 10,000 vertices is packed arrays")
        self.assertEqual(r["ground_extra"], ["attr:CORNER:BYTE_COLOR:Dirt",
                                             "attr:POINT:FLOAT:wetness", "edge.crease",
                                             "edge.seam", "edge.sharp"])
        self.assertEqual(r["wetness"], 0.75)
        # The reference key's value is as made here (0.0 before 5.0, 1.0 in 5.0).
        self.assertEqual(r["shape_keys"], [["Basis", "Basis", r["basis_value"]],
                                           ["Open", "Basis", 0.3]])
        self.assertTrue(r["key_animated"])
        self.assertEqual(r["camera_bg"], [[0.4, "CROP", True]])
        self.assertEqual(r["props_offset"], [1.0, 2.0, 0.5])
        self.assertEqual(r["mist"], 40.0)
        self.assertEqual(r["files"], [True, True, ["Sound", "VectorFont"]])
        self.assertEqual(r["open_co"], [1.5, 1.5, 1.5])
        self.assertEqual(r["ground_groups"], [
            {"name": "left", "lock_weight": False, "indices": [0, 1, 2], "weights": [0.75] * 3},
            {"name": "right", "lock_weight": True, "indices": [3], "weights": [0.125]}])
        self.assertEqual(r["rig"], {"bones": [["root", None, False], ["arm", "root", True]],
                                    "euler": [0.2, 0.0, 0.4], "custom": {"twist": 0.5},
                                    "constraints": ["COPY_ROTATION"], "camera": ["TRACK_TO"]})


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class BlendFileTest(unittest.TestCase):
    """A .blend file opened (the launcher's `blend`: blender FILE, or
    bpy.ops.wm.open_mainfile in a module) and shared."""

    def test_open_and_share_a_blend_file(self):
        tmp = tempfile.mkdtemp(prefix="sessiond-blend-")
        try:
            path = os.path.join(tmp, "scene.blend")
            args = lambda role: [role, SERVER.port, "blendfile", os.path.join(tmp, role), path]
            b = Blender("bl_blendfile.py", args("save"), "blender-save")
            saved = b.result("saved")
            self.assertEqual(b.wait(), 0, b.log())
            share = Blender("bl_blendfile.py", args("share"), "blender-share", blend=path)
            shared = share.result("share")
            self.assertEqual(shared["file"], path)
            self.assertEqual(shared["objects"], saved["objects"])
            join = Blender("bl_blendfile.py", args("join"), "blender-join")
            joined = join.result("join")
            self.assertEqual(joined["objects"], saved["objects"])
            self.assertEqual(joined["digest"], shared["digest"])
            for p in (share, join):
                self.assertEqual(p.wait(), 0, p.log())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class AddonTest(unittest.TestCase):
    """The zip of tools/package-addon, installed and used through its UI."""

    def test_install_and_use_the_panel(self):
        tmp = tempfile.mkdtemp(prefix="sessiond-addon-")
        srv = SERVER
        try:
            zip_path = os.path.join(tmp, "sessiond_blender.zip")
            subprocess.run([os.path.join(REPO, "tools", "package-addon"), zip_path], check=True,
                           stdout=subprocess.DEVNULL)
            # A private Blender user directory: installing must not touch
            # the real one.
            env = {"BLENDER_USER_CONFIG": os.path.join(tmp, "config"),
                   "BLENDER_USER_SCRIPTS": os.path.join(tmp, "scripts")}
            b = Blender("bl_addon.py", [zip_path, srv.port, "panel", os.path.join(tmp, "c")],
                        "blender-addon", env)
            r = b.result("addon")
            self.assertEqual(b.wait(), 0, b.log())
            self.assertTrue(r["installed_from"].startswith(os.path.join(tmp, "scripts")),
                            r["installed_from"])
            self.assertEqual(r["status"], "connected")
            self.assertEqual(r["task"]["title"], "Bevel the cube")
            self.assertEqual(r["task"]["node"], r["cube"])
            self.assertEqual(r["color"], "#0080ff")
            self.assertEqual(r["role"], "admin")
            # sb.connect raises sb.Error with the server's words
            self.assertEqual(r["refused"][0], "auth_failed")
            self.assertIn("admin_password", r["refused"][1])
            self.assertEqual(len(r["saved"]), 1, r["saved"])
            self.assertTrue(r["backups"] and r["backups"][0].startswith("snapshot_"), r["backups"])
            self.assertEqual(r["left"], "closed")
            self.assertEqual(r["history"], ["hello from the panel", "line 0", "line 1",
                                            "line 2", "line 3"])
            shown = r["shown"]
            self.assertIn("connected", shown)                       # status line
            # The user's colour as a swatch (the nearest colour-tag icon),
            # online as an icon: no hex string cut by the sidebar.
            i = shown.index("panel-user")
            self.assertEqual(r["icons"][i - 1:i + 1], ["SEQUENCE_COLOR_05", "USER"])
            self.assertFalse(any("#0080ff" in t for t in shown), shown)
            self.assertIn("Take", r["operators"])           # a word, not a glyph
            self.assertTrue(any(t.startswith("#1 Bevel the cube (Cube)") for t in shown), shown)
            self.assertIn("panel-user: line 3", shown)
            # What is not shared, and why: in the panel and from the API.
            self.assertIn("objects Blob: its data is a PointCloud, not a shared kind", shown)
            self.assertIn("pointclouds Blob: PointCloud is not a shared kind", shown)
            self.assertIn(["objects", "Blob", "its data is a PointCloud, not a shared kind"],
                          r["not_shared"])
            self.assertIsNone(r["blob_uuid"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class ArtistsTest(unittest.TestCase):
    def setUp(self):
        self.srv = SERVER
        self.tmp = tempfile.mkdtemp(prefix="sessiond-blender-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        if not self.srv.alive():
            self.srv.start()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def artist(self, role, session="shot"):
        cache = os.path.join(self.tmp, "cache-" + role)
        p = Blender("bl_artist.py", [role, self.srv.port, session, cache], "blender-" + role)
        self.procs.append(p)
        return p

    def same(self, tag, *procs):
        got = [p.result(tag) for p in procs]
        digests = [g["digest"] for g in got]
        first = got[0]["items"]
        differ = sorted({k for g in got[1:] for k in set(first) | set(g["items"])
                         if first.get(k) != g["items"].get(k)})
        self.assertEqual(len(set(digests)), 1,
                         "%s: digests differ in %s: %s" % (tag, differ, [
                             (p.name, g["summary"]) for p, g in zip(procs, got)]))
        return got

    def test_artists_share_a_scene(self):
        a = self.artist("a")
        built = a.result("built")
        self.assertTrue(built["initialized"])
        # (The line style is the one Blender's default scene has.)
        self.assertEqual(built["summary"], {"Action": 1, "Camera": 1, "Collection": 1,
                                            "FreestyleLineStyle": 1, "Image": 1, "Light": 1,
                                            "Material": 1, "Mesh": 3, "Object": 5, "Scene": 1,
                                            "World": 1})
        b = self.artist("b")           # only once the session is initialised
        joined = b.result("joined")
        self.assertEqual(joined["digest"], built["digest"])
        self.assertEqual(joined["objects"], ["Camera", "Ground", "Mover", "Sun", "Terrain"])
        self.assertEqual(joined["terrain_vertices"], 12100)
        self.assertTrue(joined["terrain_hidden"])
        # The image file and the large mesh's arrays travel as blobs.
        self.assertTrue(joined["blobs_supported"])
        self.assertEqual(joined["with_blobs"], ["Image", "Mesh"])

        _, moved_b = self.same("moved", a, b)
        self.assertEqual(moved_b["location"], [3.0, 1.0, 0.5])

        ea, eb = self.same("edited", a, b)
        self.assertEqual(ea["vertex0"], [-1.5, -1.25, -1.0])
        self.assertEqual(ea["objects"], ["Camera", "Ground", "Slider", "Sun", "Terrain"])

        lock = a.result("lock")
        self.assertEqual(lock["owner"], "artist-b")
        self.assertEqual(lock["message"], "Sun is being edited by artist-b; your change was undone")
        self.assertEqual(lock["z"], 5.0)
        self.assertEqual(lock["deleted_msg"], "Sun is being edited by artist-b; your deletion was undone")
        self.assertEqual(lock["presence"], {"frame": 1, "mode": "OBJECT"})
        self.assertEqual(b.result("lock-b")["z"], 5.0)

        task_b = b.result("task-b")
        self.assertEqual(task_b["task"]["assignee"], "artist-b")
        self.assertEqual(task_b["task"]["node"], task_b["sun"])
        self.assertEqual(task_b["task"]["created_by"], "artist-a")
        self.assertIn("on it", a.result("task")["chat"])

        _, db = self.same("deleted", a, b)
        self.assertFalse(db["camera"])
        self.assertEqual(db["suns"], [["Sun", 0.0], ["Sun.001", 4.0]])

        a.result("pre-kill")
        b.result("pre-kill")
        self.srv.kill9()
        self.srv.start()                # same port, same data directory
        ra, rb = self.same("restarted", a, b)
        self.assertEqual(ra["resume"], "delta")
        self.assertEqual(rb["resume"], "delta")
        self.assertEqual(rb["location"], [-2.0, 3.0, 0.25], "the edit made offline arrived")

        c = self.artist("c")
        fc = c.result("final")
        self.same("final", a, b, c)
        self.assertEqual(fc["users"], ["artist-a", "artist-b", "artist-c"])
        for p in (a, b, c):
            self.assertEqual(p.wait(), 0, p.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
