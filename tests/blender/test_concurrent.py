"""Artists editing at once never lose each other's work: two and three
headless Blender processes (bl_concurrent.py) and one sessiond, one case
of the merge rules of clients/blender/README.md per test. At the end of
each every Blender's digest is the same and names what each artist did.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, blender_path, BlenderTestCase   # noqa: E402


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class ConcurrentTest(BlenderTestCase):
    # A server per test (BlenderTestCase): one case's load (1,500 objects)
    # does not reach into the next.
    session = "concurrent"

    def run_case(self, case, roles):
        """Start A, then the others once A has published; returns the
        final results in role order, all digests equal."""
        session = "%s-%d" % (case, len(roles))
        procs = []
        for i, role in enumerate(roles):
            cache = os.path.join(self.tmp, "cache-" + role)
            p = Blender("bl_concurrent.py", [case, role, self.srv.port, session, cache, self.tmp,
                                             ",".join(roles)], "blender-%s-%s" % (case, role))
            self.procs.append(p)
            procs.append(p)
            if role == "a":
                p.result("published", 180)    # the others join what A published
        got = [p.result("final", 180) for p in procs]
        for p in procs:
            self.assertEqual(p.wait(), 0, p.log())
        self.assertEqual(len(set(g["digest"] for g in got)), 1,
                         [(r, g["summary"], g["scene_objects"], g["props"], g["cube_location"], g["cube_scale"]) for r, g in
                          zip(roles, got)])
        return got

    # Rule 1: a change that arrives while local changes are unsent is
    # merged property by property; the local changes stay and are sent.
    def check_unsent(self, roles):
        for g in self.run_case("unsent", roles):
            self.assertEqual(g["cube_location"], [3.0, 0.0, 0.0])
            self.assertEqual(g["cube_scale"], [2.0, 2.0, 2.0])
            self.assertEqual(g["scene_objects"],
                             sorted(["Cube", "Light", "FromA"] +
                                    ["From" + r.upper() for r in roles[1:]]))

    def test_unsent_edit_survives_incoming_change_2(self):
        self.check_unsent(["a", "b"])

    # Rule 5: collection members are a set; concurrent adds all survive.
    def check_sets(self, roles):
        for g in self.run_case("sets", roles):
            self.assertEqual(g["props"], sorted(["Seed"] + ["From" + r.upper() for r in roles]))

    def test_concurrent_adds_to_a_collection_2(self):
        self.check_sets(["a", "b"])

    def test_concurrent_adds_to_a_collection_3(self):
        self.check_sets(["a", "b", "c"])

    # Rule 3: edits made offline are rebased on what others did meanwhile.
    def check_offline(self, roles):
        for g in self.run_case("offline", roles):
            self.assertEqual(g["cube_location"], [5.0, 0.0, 0.0])
            self.assertEqual(g["cube_scale"], [3.0, 3.0, 3.0])
            self.assertEqual(g["light_location"], [7.0, 0.0, 0.0])

    def test_offline_edits_rebased_2(self):
        self.check_offline(["a", "b"])

    def test_offline_edits_rebased_3(self):
        self.check_offline(["a", "b", "c"])

    # Rule 6: a collection of more than 1,024 members is shared.
    def check_big(self, roles):
        for g in self.run_case("big", roles):
            self.assertEqual(g["props_count"], 1501)

    def test_collection_of_1500_objects_2(self):
        self.check_big(["a", "b"])

    def test_collection_of_1500_objects_3(self):
        self.check_big(["a", "b", "c"])

    # Rule 5: what a fingerprint skips is never unsent: face flags,
    # material indices, topology with the same counts.
    def check_mesh(self, roles):
        self.run_case("mesh", roles)
        want = self.procs[0].all["mesh"]
        self.assertEqual(want["smooth"][0], True)
        self.assertEqual(want["material_index"][1], 1)
        for p in self.procs[1:]:
            self.assertEqual(p.all["mesh"], want)

    def test_mesh_flags_and_topology_2(self):
        self.check_mesh(["a", "b"])

    def test_mesh_flags_and_topology_3(self):
        self.check_mesh(["a", "b", "c"])

    # Rule 7: edits between two pumps are found from the depsgraph's
    # reports, without dumping every datablock, and none is missed.
    def check_between(self, roles):
        self.run_case("between", roles)
        a = self.procs[0].all["between-a"]
        self.assertEqual(a["full_scans"], 0, "the depsgraph path sent the edits")
        want = {"location": [1.5, 0.0, 0.0], "vertex": [-2.0, -2.0, 0.5],
                "color": [1.0, 0.0, 0.0, 1.0], "props": ["Light", "Seed"]}
        self.assertEqual(a["state"], want)
        for p in self.procs:
            self.assertEqual(p.all["between"], want)

    def test_edits_between_pumps_sent_2(self):
        self.check_between(["a", "b"])

    def test_edits_between_pumps_sent_3(self):
        self.check_between(["a", "b", "c"])

    # Rule 5: an image file re-saved outside Blender and reloaded.
    def check_image(self, roles):
        self.run_case("image", roles)
        want = self.procs[0].all["image"]
        for p in self.procs[1:]:
            self.assertEqual(p.all["image"], want)

    def test_image_file_resaved_2(self):
        self.check_image(["a", "b"])

    def test_image_file_resaved_3(self):
        self.check_image(["a", "b", "c"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
