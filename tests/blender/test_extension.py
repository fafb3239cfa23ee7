"""The add-on as a Blender 4.2+ extension (bl_extension.py): the zip of
tools/package-addon passes Blender's own validation of its
blender_manifest.toml (a zip with a broken manifest does not), installs
from disk into a private user directory, is enabled and connects; its blob
cache and saved settings are under bpy.utils.extension_path_user.
Registered for the releases of bpy-releases (4.2 and later)."""

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, describe, release   # noqa: E402
from harness import Server                          # noqa: E402


class ExtensionTest(unittest.TestCase):
    def test_install_as_extension(self):
        tmp = tempfile.mkdtemp(prefix="sessiond-ext-")
        srv = Server([]).start()
        try:
            zip_path = os.path.join(tmp, "sessiond_blender.zip")
            subprocess.run([os.path.join(REPO, "tools", "package-addon"), zip_path], check=True,
                           stdout=subprocess.DEVNULL)
            # The permissions Blender shows before installing: network and
            # files, nothing else.
            with zipfile.ZipFile(zip_path) as z:
                name = [n for n in z.namelist() if n.endswith("blender_manifest.toml")][0]
                manifest = tomllib.loads(z.read(name).decode("utf-8"))
            self.assertEqual(sorted(manifest["permissions"]), ["files", "network"])
            # The same zip with a manifest Blender must refuse (no version).
            bad = os.path.join(tmp, "bad.zip")
            with zipfile.ZipFile(zip_path) as z, zipfile.ZipFile(bad, "w") as out:
                for item in z.infolist():
                    data = z.read(item)
                    if item.filename.endswith("blender_manifest.toml"):
                        data = b"\n".join(l for l in data.split(b"\n")
                                          if not l.startswith(b"version ="))
                    out.writestr(item, data)
            env = {"BLENDER_USER_CONFIG": os.path.join(tmp, "config"),
                   "BLENDER_USER_SCRIPTS": os.path.join(tmp, "scripts"),
                   "BLENDER_USER_EXTENSIONS": os.path.join(tmp, "extensions")}
            b = Blender("bl_extension.py", [zip_path, bad, srv.port, "ext",
                                            os.path.join(tmp, "cache")],
                        "blender-extension", env)
            r = b.result("extension")
            self.assertEqual(b.wait(), 0, b.log())
            self.assertEqual(r["valid"][0], 0, "%s: %s" % (describe(release()), r["valid"][1]))
            self.assertNotEqual(r["invalid"][0], 0, r["invalid"][1])
            self.assertIn("version", r["invalid"][1])
            self.assertTrue(r["enabled"])
            self.assertEqual(r["module"], "bl_ext.user_default.sessiond_blender")
            self.assertTrue(r["installed_from"].startswith(os.path.join(tmp, "extensions")),
                            r["installed_from"])
            self.assertEqual(r["status"], "connected")
            self.assertTrue(r["initialized"])
            self.assertGreater(r["nodes"], 0, "the scene was shared")
            # Cache and settings under bpy.utils.extension_path_user, in
            # the private user directory.
            user_dir = r["user_dir"]
            self.assertTrue(user_dir.startswith(os.path.join(tmp, "extensions")), user_dir)
            self.assertTrue(r["cache_dir"].startswith(user_dir), r["cache_dir"])
            self.assertTrue(r["settings"].startswith(user_dir), r["settings"])
            self.assertTrue(r["settings_saved"])
        finally:
            srv.stop()
            srv.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
