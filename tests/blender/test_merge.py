"""The add-on's three-way merge (clients/blender/sessiond_blender/merge.py)
with plain python3, no Blender and no server: what an artist's unsent
change and another artist's arriving change become, rule by rule (the
rules are in clients/blender/README.md)."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "clients", "blender"))

from sessiond_blender.merge import merge3    # noqa: E402


def node(name, **inputs):
    return {"name": name, "type": "ShaderNode" + name, "inputs": inputs}


class MergeTest(unittest.TestCase):
    def test_different_properties_both_kept(self):
        base = {"location": [0, 0, 0], "scale": [1, 1, 1]}
        local = {"location": [3, 0, 0], "scale": [1, 1, 1]}
        remote = {"location": [0, 0, 0], "scale": [2, 2, 2]}
        self.assertEqual(merge3(base, local, remote),
                         {"location": [3, 0, 0], "scale": [2, 2, 2]})

    def test_same_property_local_wins(self):
        # The local value is sent right after: the last writer wins.
        self.assertEqual(merge3({"x": 1}, {"x": 2}, {"x": 3}), {"x": 2})

    def test_only_remote_changed(self):
        self.assertEqual(merge3({"x": 1, "y": 1}, {"x": 1, "y": 1}, {"x": 1, "y": 5}),
                         {"x": 1, "y": 5})

    def test_concurrent_adds_to_a_set_both_survive(self):
        base = {"objects": ["a"]}
        local = {"objects": ["a", "b"]}
        remote = {"objects": ["a", "c"]}
        self.assertEqual(sorted(merge3(base, local, remote)["objects"]), ["a", "b", "c"])

    def test_a_removal_and_an_add_in_a_set(self):
        base = {"children": ["a", "b"]}
        local = {"children": ["b"]}
        remote = {"children": ["a", "b", "c"]}
        self.assertEqual(sorted(merge3(base, local, remote)["children"]), ["b", "c"])

    def test_two_nodes_of_one_tree_changed_by_two_artists(self):
        # A's group node gained a socket (its group changed); B changed the
        # Principled node's Roughness: both stay.
        base = {"tree": {"nodes": [node("Group", Color=[1, 1, 1, 1]),
                                   node("Principled", Roughness=0.5)]}}
        local = {"tree": {"nodes": [node("Group", Color=[1, 1, 1, 1], Mix=0.0),
                                    node("Principled", Roughness=0.5)]}}
        remote = {"tree": {"nodes": [node("Group", Color=[1, 1, 1, 1]),
                                     node("Principled", Roughness=0.8)]}}
        self.assertEqual(merge3(base, local, remote)["tree"]["nodes"],
                         [node("Group", Color=[1, 1, 1, 1], Mix=0.0),
                          node("Principled", Roughness=0.8)])

    def test_nodes_added_and_removed_by_name(self):
        base = {"nodes": [node("A"), node("B")]}
        local = {"nodes": [node("A"), node("B"), node("Ramp")]}      # added here
        remote = {"nodes": [node("B")]}                              # A removed there
        self.assertEqual(merge3(base, local, remote)["nodes"], [node("B"), node("Ramp")])

    def test_a_node_removed_here_and_changed_there_is_kept(self):
        base = {"nodes": [node("A", x=1)]}
        local = {"nodes": []}
        remote = {"nodes": [node("A", x=2)]}
        self.assertEqual(merge3(base, local, remote)["nodes"], [node("A", x=2)])

    def test_a_key_deleted_on_both_sides_stays_deleted(self):
        self.assertEqual(merge3({"x": 1, "y": 1}, {"y": 2}, {"y": 1}), {"y": 2})
        self.assertEqual(merge3({"x": 1, "y": 1}, {"y": 2}, {"y": 3}), {"y": 2})

    def test_lists_without_names_are_one_value(self):
        # A location is one property: the local vector wins whole.
        self.assertEqual(merge3({"co": [0, 0, 0]}, {"co": [1, 0, 0]}, {"co": [0, 2, 0]}),
                         {"co": [1, 0, 0]})
        # Items with a repeated name are not merged by name either.
        dup = [{"name": "a", "v": 1}, {"name": "a", "v": 2}]
        self.assertEqual(merge3([], dup, [{"name": "b"}]), dup)


if __name__ == "__main__":
    unittest.main()
