"""Three artists editing at random: three headless Blender processes
(bl_concurrent.py, case `random`) make seeded random edits to shared
objects (location, scale), materials (colour, roughness) and collection
membership for SESSIOND_RANDOM_SECONDS (60 by default), each connection
dropped now and then. Afterwards every Blender's digest equals a fresh
join's, and every property holds the last value one of the artists wrote
to it: an artist's edit is only ever replaced by another artist's edit of
the same property, never lost nor replaced by an older value. A vector
(a location, a colour) is one property, as in Blender and in the merge:
an edit of one channel writes the vector as the artist sees it.

The seed is printed; SESSIOND_RANDOM_SEED=N replays a run's edits (the
timing, and so the interleaving, still varies).
"""

import os
import random
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from blender_run import Blender, blender_path, BlenderTestCase   # noqa: E402


@unittest.skipUnless(blender_path(), "blender is not installed (tools/setup.sh installs it for the tests)")
class RandomEditsTest(BlenderTestCase):
    session = "random"

    def start(self, case, role, roles, env):
        cache = os.path.join(self.tmp, "cache-" + role)
        p = Blender("bl_concurrent.py", [case, role, self.srv.port, "random", cache, self.tmp,
                                         ",".join(roles)], "blender-%s-%s" % (case, role), env=env)
        self.procs.append(p)
        return p

    def test_three_artists_random_edits(self):
        seed = os.environ.get("SESSIOND_RANDOM_SEED") or str(random.randrange(1 << 30))
        seconds = float(os.environ.get("SESSIOND_RANDOM_SECONDS", "60"))
        print("random edits: seed %s, %.0f s (SESSIOND_RANDOM_SEED=%s replays the edits)"
              % (seed, seconds, seed), flush=True)
        env = {"SESSIOND_RANDOM_SEED": seed, "SESSIOND_RANDOM_SECONDS": str(seconds)}
        roles = ["a", "b", "c"]
        procs = []
        for role in roles:
            p = self.start("random", role, roles, env)
            procs.append(p)
            if role == "a":
                p.result("published", 180)
        initial = procs[0].result("initial", 180)["state"]
        limit = seconds + 240
        wrote = {r: p.result("wrote", limit) for r, p in zip(roles, procs)}
        finals = {r: p.result("final", 240) for r, p in zip(roles, procs)}
        states = {r: p.result("state", 60)["state"] for r, p in zip(roles, procs)}
        for p in procs:
            self.assertEqual(p.wait(), 0, p.log())
        d = self.start("join", "d", roles, env)
        finals["fresh join"] = d.result("final", 180)
        states["fresh join"] = d.result("state", 60)["state"]
        self.assertEqual(d.wait(), 0, d.log())
        for r in roles:
            print("%s: %d edits, %d drops" % (r, wrote[r]["edits"], wrote[r]["drops"]))
            self.assertGreater(wrote[r]["edits"], 0)

        digests = {r: f["digest"] for r, f in finals.items()}
        self.assertEqual(len(set(digests.values())), 1, "seed %s: digests differ: %s"
                         % (seed, digests))
        want = states["fresh join"]
        for r in roles:
            self.assertEqual(states[r], want, "seed %s: %s differs from a fresh join" % (seed, r))
        lost = []
        for prop, value in sorted(want.items()):
            last = {r: w["wrote"][prop] for r, w in wrote.items() if prop in w["wrote"]}
            if not last:
                ok = value == initial[prop]
            else:
                # The last value one of the artists wrote: with one writer,
                # that one's; with several, whichever reached the server last.
                ok = value in last.values()
            if not ok:
                lost.append("%s = %r (initial %r, last written %r)"
                            % (prop, value, initial[prop], last))
        self.assertEqual(lost, [], "seed %s: edits lost" % seed)


if __name__ == "__main__":
    unittest.main(verbosity=2)
