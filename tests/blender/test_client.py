"""The add-on's protocol client (clients/blender/sessiond_blender/client.py)
against the real server, with plain python3 and no Blender: handshake,
errors in the server's words, events between two clients, delta resume after
a reconnect, the server killed and restarted under a connected client, and
blobs (upload, download into the cache, dedup) when the server has them.

One server for the whole file (a second one only for the kill -9 test).
"""

import hashlib
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "clients", "blender"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import Server                          # noqa: E402
from sessiond_blender import client as sc           # noqa: E402
from sessiond_blender import ws as sws              # noqa: E402

T = 10.0


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--admin-password", "adm"]).start()
        cls.cache = tempfile.mkdtemp(prefix="sessiond-cache-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        shutil.rmtree(cls.cache, ignore_errors=True)

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.disconnect()

    def make(self, user, session="c", srv=None, **kw):
        srv = srv or self.srv
        kw.setdefault("cache_dir", os.path.join(self.cache, user))
        c = sc.Client("127.0.0.1", srv.port, session, user, **kw)
        self.clients.append(c)
        return c

    def joined(self, user, session="c", **kw):
        c = self.make(user, session, **kw)
        c.open_and_sync(T)
        return c

    # -- frames ----------------------------------------------------------
    def test_mask_round_trip(self):
        data = os.urandom(1000003)
        mask = b"\x01\x02\x03\x04"
        masked = sws.mask_payload(mask, data)
        self.assertEqual(masked[:4], bytes(a ^ b for a, b in zip(data[:4], mask)))
        self.assertEqual(sws.mask_payload(mask, masked), data)

    def test_merge_patch(self):
        old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
        new = {"a": 1, "b": {"c": 5}, "e": [1], "f": "x"}
        p = sc.make_patch(old, new)
        self.assertEqual(p, {"b": {"c": 5, "d": None}, "e": [1], "f": "x"})
        self.assertEqual(sc.merge_patch(old, p), new)
        self.assertIsNone(sc.make_patch(new, dict(new)))

    # -- handshake ---------------------------------------------------------
    def test_handshake(self):
        c = self.joined("alice", "hs", color="#ff8800")
        self.assertEqual(c.status, "connected")
        self.assertEqual(c.resume, "full")
        self.assertFalse(c.initialized)
        self.assertTrue(c.epoch)
        self.assertIn("alice", c.users)
        self.assertEqual(c.users["alice"]["color"], "#ff8800")
        self.assertEqual(c.role, "user")
        c.call("session.init")
        self.assertTrue(c.initialized)
        admin = self.joined("root", "hs", admin_password="adm")
        self.assertEqual(admin.role, "admin")
        self.assertTrue(admin.initialized)

    def test_errors_in_the_servers_words(self):
        c = self.make("mallory", "hs2", admin_password="wrong")
        c.connect()
        with self.assertRaises(sc.Error) as e:
            c.wait(lambda: c.synced, T)
        self.assertEqual(e.exception.code, "auth_failed")
        self.assertEqual(c.status, "error")
        self.assertTrue(c.status_text().startswith("error: "))
        # No retry after a refusal: the client stays stopped.
        c.pump(0.3)
        self.assertEqual(c.status, "error")
        self.joined("bob", "hs2")
        dup = self.make("bob", "hs2")
        dup.connect()
        with self.assertRaises(sc.Error) as e:
            dup.wait(lambda: dup.synced, T)
        self.assertEqual(e.exception.code, "name_taken")

    def test_nodes_tasks_chat_between_two(self):
        a = self.joined("a", "two")
        b = self.joined("b", "two")
        a.call("node.create", uuid="n1", kind="Object", data={"name": "Cube", "loc": [0, 0, 0]})
        b.wait(lambda: "n1" in b.nodes, T)
        a.call("node.update", uuid="n1", patch={"loc": [1, 2, 3]})
        self.assertEqual(a.nodes["n1"]["data"]["loc"], [1, 2, 3])
        b.wait(lambda: b.nodes["n1"]["data"].get("loc") == [1, 2, 3], T)
        self.assertEqual(b.nodes["n1"]["data"]["name"], "Cube")
        b.call("node.lock", uuid="n1")
        a.wait(lambda: a.nodes["n1"]["owner"] == "b", T)
        r = a.request("node.update", uuid="n1", patch={"loc": [9, 9, 9]})
        a.wait(lambda: r.done, T)
        self.assertEqual(r.reply["code"], "forbidden")
        self.assertEqual(a.nodes["n1"]["data"]["loc"], [1, 2, 3])
        errors = [e for e in a.take_events() if e[0] == "error"]
        self.assertEqual(errors[-1][1], "forbidden")
        a.call("task.create", title="Fix the cube", node="n1")
        b.wait(lambda: any(t["title"] == "Fix the cube" for t in b.tasks.values()), T)
        b.call("chat.send", text="hello a")
        a.wait(lambda: any(m["text"] == "hello a" for m in a.chat), T)
        self.assertEqual(b.chat[-1]["text"], "hello a")
        with self.assertRaises(sc.Error) as e:
            a.call("node.delete", uuid="n1")    # locked by b
        self.assertEqual(e.exception.code, "forbidden")
        self.assertIn("n1", a.nodes)

    def test_delta_resume_after_reconnect(self):
        a = self.joined("ra", "resume")
        b = self.joined("rb", "resume")
        for i in range(3):
            a.call("node.create", uuid="r%d" % i, kind="Object", data={"i": i})
        b.wait(lambda: len(b.nodes) == 3, T)
        b.disconnect()
        a.call("node.update", uuid="r0", patch={"i": 10})
        a.call("node.delete", uuid="r1")
        a.call("node.create", uuid="r3", kind="Object", data={"i": 3})
        a.call("chat.send", text="while you were away")
        b.take_events()
        b.connect()
        b.wait(lambda: b.synced, T)
        self.assertEqual(b.resume, "delta")
        self.assertEqual(sorted(b.nodes), ["r0", "r2", "r3"])
        self.assertEqual(b.nodes["r0"]["data"], {"i": 10})
        self.assertEqual(b.chat[-1]["text"], "while you were away")
        ev = b.take_events()
        self.assertIn(("node", "delete", "r1"), ev)
        # only what changed came in the delta
        self.assertNotIn(("node", "update", "r2"), ev)
        self.assertNotIn(("node", "create", "r2"), ev)

    def test_reconnect_after_kill9(self):
        srv = Server(port=None).start()
        try:
            a = self.make("ka", "kill", srv=srv)
            a.open_and_sync(T)
            a.call("node.create", uuid="k1", kind="Object", data={"v": 1})
            epoch = a.epoch
            srv.kill9()
            a.wait(lambda: a.status == "reconnecting", T)
            self.assertRegex(a.status_text(), r"^reconnecting in \d+ s$")
            srv.start()           # same port, same data
            a.wait(lambda: a.synced, T)
            self.assertEqual(a.epoch, epoch)
            self.assertEqual(a.resume, "delta")
            self.assertEqual(a.nodes["k1"]["data"], {"v": 1})
            a.call("node.update", uuid="k1", patch={"v": 2})
        finally:
            srv.kill9()
            srv.cleanup()

    # -- blobs ---------------------------------------------------------------
    def blobs_or_skip(self, c):
        r = c.request("blob.has", hashes=["0" * 64])
        c.wait(lambda: r.done, T)
        if not r.ok and r.reply.get("code") == "bad_request":
            self.skipTest("this server has no blobs (protocol 1.0): %s" % r.reply.get("message"))

    def test_blobs(self):
        a = self.joined("ba", "blobs")
        self.blobs_or_skip(a)
        b = self.joined("bb", "blobs")
        data = os.urandom(3 * 1024 * 1024 + 17)
        h = a.put_blob(data)
        self.assertEqual(h, hashlib.sha256(data).hexdigest())
        a.call("node.create", needs=[h], uuid="img", kind="Image",
               data={"blob": h}, blobs=[h])
        self.assertIn(h, a.uploaded)
        b.wait(lambda: "img" in b.nodes, T)
        self.assertEqual(b.nodes["img"].get("blobs"), [h])
        self.assertFalse(b.fetch_blob(h))
        b.wait(lambda: b.has_blob(h), 30)
        self.assertEqual(b.read_blob(h), data)
        self.assertIn(("blob", h), b.take_events())
        # the same bytes again: the server already has them
        r = a.request("blob.put", hash=h, size=len(data))
        a.wait(lambda: r.done, T)
        self.assertTrue(r.reply.get("have"), r.reply)
        r = b.request("blob.has", hashes=[h, "1" * 64])
        b.wait(lambda: r.done, T)
        self.assertEqual(r.reply["have"], [h])


if __name__ == "__main__":
    unittest.main(verbosity=2)
