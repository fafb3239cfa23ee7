#!/usr/bin/python3
"""Black-box tests of sessiond's core protocol (PROTOCOL.md sections 1-4, 10).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_core.py -v
Every test starts its own server on a free port with a fresh data dir.
"""

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets                     # noqa: E402
import websockets.exceptions          # noqa: E402

from harness import ServerTestCase, TIMEOUT, pipeline  # noqa: E402

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MiB = 1048576


def sync_nodes(syncs):
    return [n for s in syncs for n in s["nodes"]]


async def create(c, uuid=None, kind="Object", data=None, **kw):
    """node.create that must succeed; returns the ok."""
    fields = dict(kind=kind, data={} if data is None else data, **kw)
    if uuid is not None:
        fields["uuid"] = uuid
    r = await c.request("node.create", **fields)
    if r["type"] != "ok":
        raise AssertionError(f"node.create {fields}: {r}")
    return r


async def get(c, uuid):
    r = await c.request("node.get", uuid=uuid)
    if r["type"] != "ok":
        raise AssertionError(f"node.get {uuid}: {r}")
    return r["node"]


# ======================================================================
class PathTest(ServerTestCase):
    """Section 1: the path names the session; bad paths never upgrade."""

    async def test_valid_names_connect(self):
        srv = self.server()
        for name in ["a", "Z", "0", "a-b_c.d", "a..b", "Scene.001", "x_", "x" * 64]:
            c = await self.client(srv, name)
            w, _, _ = await c.hello("alice")
            self.assertEqual(w["session"], name)
            await c.close()

    async def test_invalid_paths_refused_before_upgrade(self):
        srv = self.server()
        for path in ["/s/.", "/s/..", "/s/a.", "/s/-x", "/s/_x", "/s/.a",
                     "/s/" + "x" * 65, "/x/abc", "/s/", "/s/a/b", "/s", "/",
                     "/s/a%2Fb", "/s/a$b"]:
            with self.subTest(path=path):
                with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                    ws = await asyncio.wait_for(websockets.connect(
                        srv.uri(path), compression=None, ping_interval=None,
                        close_timeout=1), TIMEOUT)
                    await ws.close()
                self.assertIn(cm.exception.status_code, (400, 404))
        made = set(os.listdir(srv.data_dir)) & {
            "a.", "-x", "_x", ".a", "x" * 65, "abc", "a", "b", "a%2Fb", "a$b"}
        self.assertEqual(made, set(), "a refused path created a session")

    async def test_healthz(self):
        srv = self.server()
        await self.joined(srv, "alice", "one")
        status, headers, body = await asyncio.to_thread(srv.http_get, "/healthz")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["status"], "ok")
        self.assertIsInstance(doc["sessions"], int)
        self.assertIsInstance(doc["connections"], int)
        self.assertGreaterEqual(doc["sessions"], 1)
        self.assertGreaterEqual(doc["connections"], 1)


# ======================================================================
class HandshakeTest(ServerTestCase):
    """Section 3."""

    server_args = ["--server-password", "s3cret", "--admin-password", "r00t"]

    async def expect_refused(self, first, code, close_code, field=None, re=None):
        """Send `first` (dict, str or bytes) as the first frame: expect an
        error `code` (mentioning field) and then close `close_code`."""
        c = await self.client(self.srv, "hs")
        if isinstance(first, bytes):
            await c.send_binary(first)
        elif isinstance(first, str):
            await c.send_text(first)
        else:
            await c.send(first)
        got = await c.closed()
        errors = [m for m in c.pending if m["type"] == "error"]
        self.assertEqual(len(errors), 1, f"{first!r}: frames before close: {c.pending}")
        self.assertError(errors[0], code, field, re=re)
        self.assertEqual(got, close_code, f"{first!r}: close code")
        self.assertNotIn("welcome", [m["type"] for m in c.pending])

    async def asyncSetUp(self):
        self.srv = self.server()

    async def test_first_frame_not_hello(self):
        await self.expect_refused({"type": "ping", "id": 1}, "unauthenticated", 4401, re=1)
        await self.expect_refused({"type": "node.create", "id": 2, "kind": "k", "data": {}},
                                  "unauthenticated", 4401, re=2)
        for first in ["not json", "[1,2]", '"hello"', "{}", b"\x00\x01binary"]:
            await self.expect_refused(first, "unauthenticated", 4401, re=None)
        self.assertFalse(os.path.exists(self.srv.session_dir("hs")),
                         "session created without a successful hello")

    async def test_hello_bad_user(self):
        base = {"type": "hello", "id": 1, "password": "s3cret"}
        for user in [None, "", "x" * 65, "é" * 33, "a\x01b", "a\nb", "\x1f", 42, True,
                     ["alice"], {"n": "alice"}]:
            with self.subTest(user=user):
                hello = dict(base)
                if user is not None:
                    hello["user"] = user
                await self.expect_refused(hello, "bad_request", 4400, "user", re=1)
        self.assertFalse(os.path.exists(self.srv.session_dir("hs")))
        # Byte limits, not character limits: 32 two-byte characters are fine.
        c = await self.client(self.srv, "hs")
        w, _, _ = await c.hello("é" * 32, password="s3cret")
        self.assertEqual(w["user"], "é" * 32)
        c2 = await self.client(self.srv, "hs")
        w, _, _ = await c2.hello("x" * 64, password="s3cret")
        self.assertEqual(w["user"], "x" * 64)

    async def test_server_password(self):
        await self.expect_refused({"type": "hello", "id": 1, "user": "alice"},
                                  "auth_failed", 4401, re=1)
        await self.expect_refused({"type": "hello", "id": 1, "user": "alice",
                                   "password": "wrong"}, "auth_failed", 4401, re=1)
        await self.expect_refused({"type": "hello", "id": 1, "user": "alice",
                                   "password": "s3cret0"}, "auth_failed", 4401, re=1)
        c = await self.client(self.srv, "hs")
        w, _, _ = await c.hello("alice", password="s3cret")
        self.assertEqual(w["role"], "user")

    async def test_admin_password(self):
        await self.expect_refused({"type": "hello", "id": 1, "user": "root",
                                   "password": "s3cret", "admin_password": "nope"},
                                  "auth_failed", 4401, re=1)
        await self.expect_refused({"type": "hello", "id": 1, "user": "root",
                                   "password": "s3cret", "admin_password": ""},
                                  "auth_failed", 4401, re=1)
        c = await self.client(self.srv, "hs")
        w, _, _ = await c.hello("root", password="s3cret", admin_password="r00t")
        self.assertEqual(w["role"], "admin")
        c2 = await self.client(self.srv, "hs")
        w, _, _ = await c2.hello("bob", password="s3cret")
        self.assertEqual(w["role"], "user")

    async def test_name_taken(self):
        a, _, _, _ = await self.joined(self.srv, "alice", "hs", password="s3cret")
        obs, _, _, _ = await self.joined(self.srv, "obs", "hs", password="s3cret")
        self.assertEqual((await a.next_event("user"))["user"]["name"], "obs")
        await self.expect_refused({"type": "hello", "id": 7, "user": "alice",
                                   "password": "s3cret"}, "name_taken", 4409, re=7)
        # The first alice is untouched.
        self.assertEqual(await a.quiet(), [], "alice got frames from the refused twin")
        # Same name in another session is fine.
        await self.joined(self.srv, "alice", "other", password="s3cret")
        # Once alice leaves, the name is free again.
        await a.close()
        leave = await obs.next_event("user", pred=lambda m: m.get("op") == "leave")
        self.assertEqual(leave["user"], "alice")
        self.assertEqual(leave["reason"], "disconnect")
        again, w, _, _ = await self.joined(self.srv, "alice", "hs", password="s3cret")
        self.assertEqual(w["user"], "alice")


# ======================================================================
class WelcomeTest(ServerTestCase):

    async def test_welcome_fields_and_synced(self):
        srv = self.server()
        c = await self.client(srv, "wel")
        w, syncs, synced = await c.hello("alice", client="tests/1", color="#ff8800")
        self.assertEqual(w["type"], "welcome")
        self.assertEqual(w["session"], "wel")
        self.assertEqual(w["user"], "alice")
        self.assertEqual(w["role"], "user")
        self.assertIsInstance(w["epoch"], str)
        self.assertTrue(w["epoch"])
        self.assertIsInstance(w["seq"], int)
        self.assertGreaterEqual(w["seq"], 0)
        self.assertIs(w["initialized"], False)
        self.assertEqual(w["resume"], "full")
        self.assertIsInstance(w["server"], dict)
        self.assertEqual(w["server"]["max_message_bytes"], 16777216)
        self.assertIsInstance(w["server"].get("name"), str)
        self.assertIsInstance(w["server"].get("version"), str)
        self.assertEqual(synced["seq"], w["seq"])
        for s in syncs:
            for key in ("nodes", "tasks", "users", "chat"):
                self.assertIsInstance(s.get(key), list, f"sync frame lacks {key}: {s}")
        # A second client sees a non-empty session: alice's node, alice as a user.
        await create(c, "n1", data={"x": 1})
        b = await self.client(srv, "wel")
        w2, syncs2, synced2 = await b.hello("bob")
        self.assertEqual(w2["epoch"], w["epoch"])
        self.assertGreater(w2["seq"], w["seq"])
        self.assertEqual(synced2["seq"], w2["seq"])
        self.assertEqual([n["uuid"] for n in sync_nodes(syncs2)], ["n1"])
        users = {u["name"]: u for s in syncs2 for u in s["users"]}
        self.assertIn("alice", users)
        self.assertIs(users["alice"]["online"], True)
        self.assertEqual(users["alice"]["color"], "#ff8800")
        # alice is told bob joined.
        join = await c.next_event("user")
        self.assertEqual(join["op"], "join")
        self.assertEqual(join["user"]["name"], "bob")
        self.assertEqual(join["user"]["role"], "user")
        if "seq" in join:
            self.assertGreater(join["seq"], w["seq"])

    async def test_welcome_reports_max_message_bytes(self):
        srv = self.server(["--max-message-bytes", "65536"])
        _, w, _, _ = await self.joined(srv, "alice")
        self.assertEqual(w["server"]["max_message_bytes"], 65536)

    async def test_second_hello_is_bad_request(self):
        srv = self.server()
        c, w, _, _ = await self.joined(srv, "alice")
        r = await c.request("hello", user="alice")
        self.assertError(r, "bad_request", re=r["re"])
        r = await c.request("hello", user="carol")
        self.assertError(r, "bad_request", re=r["re"])
        self.assertEqual((await c.request("ping"))["type"], "pong")
        self.assertEqual(await c.quiet(), [])


# ======================================================================
class EnvelopeTest(ServerTestCase):
    """Section 2 and the malformed-frame rules of section 1."""

    async def asyncSetUp(self):
        self.srv = self.server(["--max-message-bytes", "65536"])
        self.c, _, _, _ = await self.joined(self.srv, "alice")

    async def assert_alive(self):
        r = await self.c.request("ping", id="alive?")
        self.assertEqual(r, {"type": "pong", "re": "alive?"})

    async def test_malformed_frames_get_bad_request(self):
        cases = [b"\x01\x02binary", b"{}", "not json", "{", '{"type":"ping"', "[1,2]",
                 '"str"', "42", "null", "true", "{}", '{"id":5}', '{"type":5,"id":6}',
                 '{"type":null}', '{"type":["ping"]}', "", " "]
        for frame in cases:
            with self.subTest(frame=frame):
                if isinstance(frame, bytes):
                    await self.c.send_binary(frame)
                else:
                    await self.c.send_text(frame)
                got = await self.c.quiet()
                self.assertEqual(len(got), 1, f"{frame!r}: {got}")
                self.assertError(got[0], "bad_request", re=None)

    async def test_unknown_type(self):
        r = await self.c.request("no.such.type")
        self.assertError(r, "bad_request", re=r["re"])
        await self.c.send({"type": "node.frobnicate"})
        got = await self.c.quiet()
        self.assertEqual(len(got), 1, got)
        self.assertError(got[0], "bad_request")
        await self.assert_alive()

    async def test_invalid_id(self):
        for bad in [1.5, 1e3, {"a": 1}, ["x"], True, None, "x" * 65, "é" * 33]:
            with self.subTest(id=bad):
                await self.c.send({"type": "ping", "id": bad})
                got = await self.c.quiet()
                self.assertEqual(len(got), 1, f"id {bad!r}: {got}")
                self.assertError(got[0], "bad_request", "id")   # and no re
        for good in ["x" * 64, "", "é" * 32, 0, -5, 2 ** 53, 9007199254740993]:
            with self.subTest(id=good):
                r = await self.c.request("ping", id=good)
                self.assertEqual(r["type"], "pong")
                self.assertEqual(r["re"], good)
                self.assertEqual(type(r["re"]), type(good))

    async def test_request_without_id(self):
        # Valid: applied, no ok.
        await self.c.send({"type": "node.create", "uuid": "quiet", "kind": "k", "data": {}})
        self.assertEqual(await self.c.quiet(), [])
        self.assertEqual((await get(self.c, "quiet"))["kind"], "k")
        # Invalid: an error without re.
        await self.c.send({"type": "node.create", "uuid": "loud", "kind": "", "data": {}})
        got = await self.c.quiet()
        self.assertEqual(len(got), 1, got)
        self.assertError(got[0], "bad_request", "kind")
        await self.c.send({"type": "node.get", "uuid": "missing"})
        got = await self.c.quiet()
        self.assertEqual(len(got), 1, got)
        self.assertError(got[0], "not_found")
        # ping without id still gets its pong, without re.
        await self.c.send({"type": "ping"})
        got = await self.c.quiet()
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["type"], "pong")
        self.assertNotIn("re", got[0])

    async def test_unknown_fields_ignored(self):
        r = await self.c.request("node.create", uuid="n", kind="k", data={}, extra=[1],
                                 colour="red")
        self.assertOk(r)
        r = await self.c.request("ping", whatever={"a": 1})
        self.assertEqual(r["type"], "pong")

    async def test_invalid_utf8_closes_1007(self):
        raw = await self.raw(self.srv, "/s/test")
        await raw.hello("bob")
        await raw.send_json({"type": "ping", "id": 1})
        self.assertEqual((await raw.recv_json())["type"], "pong")
        await raw.send_text_bytes(b'{"type":"ping","id":2,"x":"\xff\xfe"}')
        self.assertEqual(await raw.wait_close(), 1007)
        await self.assert_alive()   # other connections are unaffected

    async def test_too_large_frame_closes_1009(self):
        big = json.dumps({"type": "ping", "id": "big", "pad": "x" * 60000})
        await self.c.send_text(big)
        self.assertEqual((await self.c.reply("big"))["type"], "pong")
        other, _, _, _ = await self.joined(self.srv, "bob")
        try:
            await other.send_text(json.dumps({"type": "ping", "id": 1, "pad": "x" * 70000}))
        except websockets.exceptions.ConnectionClosed:
            pass   # closed while sending: closed() still reports the code
        self.assertEqual(await other.closed(), 1009)
        await self.assert_alive()

    async def test_replies_in_request_order(self):
        frames = []
        for i in range(200):
            rid = i if i % 3 else f"s{i}"
            k = i % 5
            if k == 0:
                frames.append({"type": "ping", "id": rid})
            elif k == 1:
                frames.append({"type": "node.create", "id": rid, "uuid": f"n{i}",
                               "kind": "k", "data": {"i": i}})
            elif k == 2:
                frames.append({"type": "node.get", "id": rid, "uuid": f"missing{i}"})
            elif k == 3:
                frames.append({"type": "node.create", "id": rid, "kind": "", "data": {}})
            else:
                frames.append({"type": "nope", "id": rid})
        replies = await pipeline(self.c, frames)
        self.assertEqual([r["re"] for r in replies], [f["id"] for f in frames])
        want = {0: "pong", 1: "ok", 2: "error", 3: "error", 4: "error"}
        for i, r in enumerate(replies):
            self.assertEqual(r["type"], want[i % 5], r)
        seqs = [r["seq"] for i, r in enumerate(replies) if i % 5 == 1]
        self.assertEqual(seqs, sorted(set(seqs)), "oks carry increasing seqs")
        self.assertEqual(self.c.pending, [])


# ======================================================================
class NodeTest(ServerTestCase):
    """Section 4."""

    server_args = ["--admin-password", "r00t"]

    async def asyncSetUp(self):
        self.srv = self.server()
        self.a, w, _, synced = await self.joined(self.srv, "alice", "nodes")
        self.seq0 = synced["seq"]

    async def bob(self):
        b, _, _, _ = await self.joined(self.srv, "bob", "nodes")
        join = await self.a.next_event("user")
        self.assertEqual(join["user"]["name"], "bob")
        return b

    async def test_create_and_get(self):
        t0 = time.time()
        r = await self.a.request("node.create", uuid="cube", kind="Object",
                                 deps=["mesh", "mat"], data={"loc": [1, 2, 3], "n": None})
        self.assertOk(r, r["re"])
        self.assertEqual(r["uuid"], "cube")
        self.assertEqual(r["version"], 1)
        self.assertGreater(r["seq"], self.seq0)
        n = await get(self.a, "cube")
        self.assertEqual(n["uuid"], "cube")
        self.assertEqual(n["kind"], "Object")
        self.assertEqual(n["deps"], ["mesh", "mat"])
        self.assertIsNone(n["owner"])
        self.assertEqual(n["version"], 1)
        self.assertEqual(n["seq"], r["seq"])
        self.assertEqual(n["data"], {"loc": [1, 2, 3], "n": None})
        self.assertEqual(n["updated_by"], "alice")
        self.assertIsInstance(n["updated_at"], (int, float))
        self.assertLess(abs(n["updated_at"] - t0), 60)
        r = await self.a.request("node.create", uuid="cube", kind="Object", data={})
        self.assertError(r, "exists", re=r["re"])
        # No deps given: an empty list.
        await create(self.a, "plain")
        self.assertEqual((await get(self.a, "plain"))["deps"], [])

    async def test_create_without_uuid(self):
        r1 = await create(self.a, kind="Mesh", data={"v": 1})
        r2 = await create(self.a, kind="Mesh", data={"v": 2})
        self.assertRegex(r1["uuid"], UUID4)
        self.assertRegex(r2["uuid"], UUID4)
        self.assertNotEqual(r1["uuid"], r2["uuid"])
        self.assertEqual((await get(self.a, r2["uuid"]))["data"], {"v": 2})

    async def test_create_validation(self):
        bad = [
            ("uuid", {"uuid": "a b"}), ("uuid", {"uuid": "a/b"}), ("uuid", {"uuid": ""}),
            ("uuid", {"uuid": "x" * 65}), ("uuid", {"uuid": "é"}), ("uuid", {"uuid": 5}),
            ("kind", {"kind": ""}), ("kind", {"kind": "k" * 65}), ("kind", {"kind": "é" * 33}),
            ("kind", {"kind": 3}), ("kind", {"kind": None}), ("kind", {"kind": "DROP"}),
            ("deps", {"deps": [f"d{i}" for i in range(1025)]}), ("deps", {"deps": "a"}),
            ("deps", {"deps": [1]}), ("deps", {"deps": ["a b"]}), ("deps", {"deps": {}}),
            ("data", {"data": [1]}), ("data", {"data": "s"}), ("data", {"data": 5}),
            ("data", {"data": None}), ("data", {"data": "DROP"}),
            ("lock", {"lock": "yes"}), ("lock", {"lock": 1}),
        ]
        for field, change in bad:
            with self.subTest(field=field, change=str(change)[:60]):
                req = {"uuid": "v", "kind": "k", "data": {}}
                req.update(change)
                for k, v in list(req.items()):
                    if v == "DROP":
                        del req[k]
                r = await self.a.request("node.create", **req)
                self.assertError(r, "bad_request", field, re=r["re"])
        r = await self.a.request("node.get", uuid="v")
        self.assertError(r, "not_found", re=r["re"])
        # The edges that are allowed.
        await create(self.a, "A-z_0.9:x", kind="k" * 64)
        await create(self.a, "x" * 64, kind="é" * 32, deps=[f"d{i}" for i in range(1024)])
        n = await get(self.a, "x" * 64)
        self.assertEqual(n["deps"], [f"d{i}" for i in range(1024)])
        self.assertEqual(n["kind"], "é" * 32)

    async def test_deps_kept_in_order(self):
        await create(self.a, "n", deps=["z", "a", "m", "a"])
        self.assertEqual((await get(self.a, "n"))["deps"], ["z", "a", "m", "a"])

    async def test_update_versions(self):
        c = await create(self.a, "n", kind="Mesh", data={"a": 1})
        seq = c["seq"]

        async def update(expect_version, **fields):
            nonlocal seq
            r = await self.a.request("node.update", uuid="n", **fields)
            self.assertOk(r)
            self.assertEqual(r["uuid"], "n")
            self.assertEqual(r["version"], expect_version, fields)
            self.assertGreater(r["seq"], seq)
            seq = r["seq"]
            n = await get(self.a, "n")
            self.assertEqual(n["version"], expect_version)
            self.assertEqual(n["seq"], seq)
            return n

        n = await update(2, data={"b": 2})
        self.assertEqual(n["data"], {"b": 2})
        n = await update(3, patch={"c": 3})
        self.assertEqual(n["data"], {"b": 2, "c": 3})
        n = await update(4, deps=["x", "y"])
        self.assertEqual(n["deps"], ["x", "y"])
        self.assertEqual(n["data"], {"b": 2, "c": 3})
        n = await update(5, kind="Curve")
        self.assertEqual(n["kind"], "Curve")
        n = await update(6, data={"p": 1, "q": 2}, patch={"q": None, "r": 3})
        self.assertEqual(n["data"], {"p": 1, "r": 3})
        n = await update(7, deps=[])
        self.assertEqual(n["deps"], [])
        self.assertEqual(n["kind"], "Curve")
        # lock/unlock take a seq, not a version
        r = await self.a.request("node.lock", uuid="n")
        self.assertOk(r)
        self.assertGreater(r["seq"], seq)
        n2 = await get(self.a, "n")
        self.assertEqual(n2["version"], 7)
        self.assertEqual(n2["seq"], r["seq"])
        seq = r["seq"]
        r = await self.a.ok("node.unlock", uuid="n")
        self.assertGreater(r["seq"], seq)
        self.assertEqual((await get(self.a, "n"))["version"], 7)

    async def test_merge_patch(self):
        await create(self.a, "n", data={"a": 1, "b": {"c": 1, "d": 1}, "e": [1, 2], "f": "x"})
        await self.a.ok("node.update", uuid="n",
                        patch={"a": None, "b": {"c": 2, "d": None, "g": {"h": None, "i": 1}},
                               "e": {"k": 1}, "z": None})
        self.assertEqual((await get(self.a, "n"))["data"],
                         {"b": {"c": 2, "g": {"i": 1}}, "e": {"k": 1}, "f": "x"})
        await self.a.ok("node.update", uuid="n", patch={"b": [None, 1], "f": {}})
        self.assertEqual((await get(self.a, "n"))["data"],
                         {"b": [None, 1], "e": {"k": 1}, "f": {}})
        await self.a.ok("node.update", uuid="n", patch={})
        self.assertEqual((await get(self.a, "n"))["data"],
                         {"b": [None, 1], "e": {"k": 1}, "f": {}})

    async def test_update_validation(self):
        await create(self.a, "n", data={"a": 1})
        for field, req in [("uuid", {"data": {}}), ("uuid", {"uuid": "a b", "data": {}}),
                           ("patch", {"uuid": "n", "patch": [1]}),
                           ("patch", {"uuid": "n", "patch": "s"}),
                           ("data", {"uuid": "n", "data": [1]}),
                           ("deps", {"uuid": "n", "deps": ["d"] * 1025}),
                           ("kind", {"uuid": "n", "kind": ""}),
                           ("version", {"uuid": "n", "data": {}, "version": "1"})]:
            with self.subTest(req=str(req)[:60]):
                r = await self.a.request("node.update", **req)
                self.assertError(r, "bad_request", field, re=r["re"])
        r = await self.a.request("node.update", uuid="n")
        self.assertError(r, "bad_request", re=r["re"])
        n = await get(self.a, "n")
        self.assertEqual((n["version"], n["data"]), (1, {"a": 1}))

    async def test_version_conflict_and_not_found(self):
        await create(self.a, "n", data={"a": 1})
        await self.a.ok("node.update", uuid="n", data={"a": 2}, version=1)
        r = await self.a.request("node.update", uuid="n", data={"a": 3}, version=1)
        self.assertError(r, "conflict", re=r["re"])
        self.assertEqual(r["version"], 2)
        self.assertEqual((await get(self.a, "n"))["data"], {"a": 2})
        r = await self.a.request("node.update", uuid="n", patch={"b": 1}, version=2)
        self.assertOk(r)
        self.assertEqual(r["version"], 3)
        for t in ("node.update", "node.delete", "node.lock", "node.unlock", "node.get"):
            fields = {"data": {}} if t == "node.update" else {}
            r = await self.a.request(t, uuid="ghost", **fields)
            self.assertError(r, "not_found", re=r["re"])

    async def test_delete(self):
        c = await create(self.a, "n", data={"a": 1})
        r = await self.a.request("node.delete", uuid="n")
        self.assertOk(r)
        self.assertEqual(r["uuid"], "n")
        self.assertGreater(r["seq"], c["seq"])
        r = await self.a.request("node.get", uuid="n")
        self.assertError(r, "not_found", re=r["re"])
        r = await self.a.request("node.delete", uuid="n")
        self.assertError(r, "not_found", re=r["re"])
        r = await self.a.request("node.update", uuid="n", data={})
        self.assertError(r, "not_found", re=r["re"])
        # A deleted uuid can be created again.
        await create(self.a, "n", data={"again": True})
        self.assertEqual((await get(self.a, "n"))["data"], {"again": True})

    async def test_events_reach_others_with_same_seq(self):
        b = await self.bob()
        ok = await create(self.a, "n", kind="Mesh", deps=["d"], data={"a": 1})
        ev = await b.next_event("node")
        self.assertEqual(ev["op"], "create")
        self.assertEqual(ev["seq"], ok["seq"])
        self.assertEqual(ev["node"], await get(self.a, "n"))

        for fields in [{"data": {"b": 2}}, {"patch": {"c": {"d": None}}},
                       {"deps": ["e", "f"]}, {"kind": "Curve"},
                       {"data": {"x": 1}, "patch": {"y": 2}, "deps": [], "kind": "K"}]:
            ok = await self.a.ok("node.update", uuid="n", **fields)
            ev = await b.next_event("node")
            self.assertEqual(ev["op"], "update")
            self.assertEqual((ev["uuid"], ev["version"], ev["seq"], ev["updated_by"]),
                             ("n", ok["version"], ok["seq"], "alice"))
            for key in ("data", "patch", "deps", "kind"):
                if key in fields:
                    self.assertEqual(ev[key], fields[key], ev)
                else:
                    self.assertNotIn(key, ev)

        ok = await self.a.ok("node.lock", uuid="n")
        self.assertEqual(ok["owner"], "alice")
        ev = await b.next_event("node")
        self.assertEqual((ev["op"], ev["uuid"], ev["owner"], ev["seq"]),
                         ("owner", "n", "alice", ok["seq"]))
        ok = await self.a.ok("node.unlock", uuid="n")
        self.assertIsNone(ok["owner"])
        ev = await b.next_event("node")
        self.assertEqual((ev["op"], ev["uuid"], ev["owner"], ev["seq"]),
                         ("owner", "n", None, ok["seq"]))
        ok = await self.a.ok("node.delete", uuid="n")
        ev = await b.next_event("node")
        self.assertEqual((ev["op"], ev["uuid"], ev["seq"]), ("delete", "n", ok["seq"]))
        # The sender never gets its own events; bob got nothing else.
        self.assertEqual(await self.a.quiet(), [])
        self.assertEqual(await b.quiet(), [])
        # bob's changes reach alice the same way.
        ok = await create(b, "m")
        ev = await self.a.next_event("node")
        self.assertEqual((ev["op"], ev["seq"], ev["node"]["updated_by"]),
                         ("create", ok["seq"], "bob"))

    async def test_lock_is_idempotent_without_event(self):
        b = await self.bob()
        await create(self.a, "n")
        await b.next_event("node")
        ok1 = await self.a.ok("node.lock", uuid="n")
        ok2 = await self.a.ok("node.lock", uuid="n")
        self.assertEqual(ok2["seq"], ok1["seq"])
        self.assertEqual(ok2["owner"], "alice")
        u1 = await self.a.ok("node.unlock", uuid="n")
        u2 = await self.a.ok("node.unlock", uuid="n")
        self.assertEqual(u2["seq"], u1["seq"])
        self.assertIsNone(u2["owner"])
        self.assertEqual((await get(self.a, "n"))["seq"], u1["seq"])
        marker = await create(self.a, "marker")
        events = [await b.next_event("node") for _ in range(3)]
        self.assertEqual([(e["op"], e["seq"]) for e in events],
                         [("owner", ok1["seq"]), ("owner", u1["seq"]),
                          ("create", marker["seq"])])
        self.assertEqual(await b.quiet(), [])

    async def test_locked_node_is_forbidden_to_others(self):
        b = await self.bob()
        ok = await create(self.a, "n", data={"a": 1}, lock=True)
        ev = await b.next_event("node")
        self.assertEqual(ev["node"]["owner"], "alice")
        self.assertEqual(ev["seq"], ok["seq"])
        self.assertEqual((await get(self.a, "n"))["owner"], "alice")
        for t, fields in [("node.update", {"data": {}}), ("node.update", {"patch": {"b": 1}}),
                          ("node.update", {"kind": "X"}), ("node.delete", {}),
                          ("node.lock", {}), ("node.unlock", {}),
                          ("node.lock", {"force": True}), ("node.unlock", {"force": True})]:
            with self.subTest(t=t, fields=fields):
                r = await b.request(t, uuid="n", **fields)
                self.assertError(r, "forbidden", re=r["re"])
        n = await get(b, "n")
        self.assertEqual((n["version"], n["owner"], n["data"], n["seq"]),
                         (1, "alice", {"a": 1}, ok["seq"]))
        self.assertEqual(await self.a.quiet(), [], "a refused change made an event")
        r = await self.a.ok("node.update", uuid="n", data={"a": 2})
        self.assertEqual(r["version"], 2)

    async def test_admin_force(self):
        b = await self.bob()
        root, w, _, _ = await self.joined(self.srv, "root", "nodes", admin_password="r00t")
        self.assertEqual(w["role"], "admin")
        await create(self.a, "n1", lock=True)
        await create(self.a, "n2", lock=True)
        for t in ("node.lock", "node.unlock", "node.delete"):
            r = await root.request(t, uuid="n1")
            self.assertError(r, "forbidden", re=r["re"])
        r = await root.request("node.update", uuid="n1", data={})
        self.assertError(r, "forbidden", re=r["re"])
        # take
        ok = await root.ok("node.lock", uuid="n1", force=True)
        self.assertEqual(ok["owner"], "root")
        ev = await self.a.next_event("node", pred=lambda m: m.get("op") == "owner")
        self.assertEqual((ev["uuid"], ev["owner"], ev["seq"]), ("n1", "root", ok["seq"]))
        r = await self.a.request("node.update", uuid="n1", data={})
        self.assertError(r, "forbidden", re=r["re"])
        await root.ok("node.update", uuid="n1", data={"by": "root"})
        # release
        ok = await root.ok("node.unlock", uuid="n2", force=True)
        self.assertIsNone(ok["owner"])
        ev = await self.a.next_event("node", pred=lambda m: m.get("op") == "owner")
        self.assertEqual((ev["uuid"], ev["owner"], ev["seq"]), ("n2", None, ok["seq"]))
        await b.ok("node.update", uuid="n2", data={"by": "bob"})
        # non-admin force
        await create(self.a, "n3", lock=True)
        r = await b.request("node.lock", uuid="n3", force=True)
        self.assertError(r, "forbidden", re=r["re"])
        self.assertEqual((await get(b, "n3"))["owner"], "alice")

    async def test_owner_leaving_releases_locks(self):
        b = await self.bob()
        for u in ("l1", "l2", "l3"):
            await create(self.a, u, lock=True)
        await create(self.a, "common")
        await self.a.ok("node.lock", uuid="common")
        await self.a.ok("node.unlock", uuid="common")
        await self.a.ok("ping")
        await b.quiet()   # drop the creates/owner events so far
        await self.a.close()
        leave = await b.next_event("user", pred=lambda m: m.get("op") == "leave")
        self.assertEqual((leave["user"], leave["reason"]), ("alice", "disconnect"))
        events = [await b.next_event("node") for _ in range(3)]
        self.assertEqual({e["uuid"] for e in events}, {"l1", "l2", "l3"})
        for e in events:
            self.assertEqual((e["op"], e["owner"]), ("owner", None), e)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, sorted(set(seqs)), "one increasing seq per owner event")
        self.assertEqual([m for m in await b.quiet() if m["type"] == "node"], [])
        for u in ("l1", "l2", "l3"):
            n = await get(b, u)
            self.assertIsNone(n["owner"])
            self.assertEqual(n["version"], 1)
            await b.ok("node.update", uuid=u, data={"mine": True})


# ======================================================================
class ResumeTest(ServerTestCase):

    async def test_delta_and_full_resume(self):
        srv = self.server()
        a, w, _, _ = await self.joined(srv, "alice", "res")
        for u in ("A", "B", "C", "D"):
            await create(a, u, data={"u": u})
        since = (await a.ok("node.update", uuid="D", data={"v": 2}))["seq"]
        upd = await a.ok("node.update", uuid="A", patch={"v": 2})
        dele = await a.ok("node.delete", uuid="B")
        cre = await create(a, "E")
        await create(a, "F")
        del_f = await a.ok("node.delete", uuid="F")

        b = await self.client(srv, "res")
        wb, syncs, synced = await b.hello("bob", epoch=w["epoch"], since=since)
        self.assertEqual(wb["resume"], "delta")
        self.assertEqual(wb["epoch"], w["epoch"])
        self.assertEqual(synced["seq"], wb["seq"])
        self.assertGreaterEqual(wb["seq"], del_f["seq"])
        got = {n["uuid"]: n for n in sync_nodes(syncs)}
        # F was made and deleted after `since`: its tombstone may be left out.
        self.assertEqual(sorted(set(got) - {"F"}), ["A", "B", "E"])
        self.assertEqual(got["A"]["seq"], upd["seq"])
        self.assertEqual(got["A"]["data"], {"u": "A", "v": 2})
        self.assertEqual(got["A"]["version"], 2)
        self.assertEqual(got["B"], {"uuid": "B", "deleted": True, "seq": dele["seq"]})
        if "F" in got:
            self.assertEqual(got["F"], {"uuid": "F", "deleted": True, "seq": del_f["seq"]})
        self.assertEqual(got["E"]["seq"], cre["seq"])
        for n in got.values():
            self.assertGreater(n["seq"], since)

        # Up to date: delta with nothing in it.
        c = await self.client(srv, "res")
        wc, syncs, _ = await c.hello("carol", epoch=w["epoch"], since=wb["seq"])
        self.assertEqual(wc["resume"], "delta")
        self.assertEqual(sync_nodes(syncs), [])

        # Foreign epoch: full, live nodes only.
        d = await self.client(srv, "res")
        wd, syncs, _ = await d.hello("dave", epoch="not-" + w["epoch"], since=since)
        self.assertEqual(wd["resume"], "full")
        self.assertEqual(wd["epoch"], w["epoch"])
        got = {n["uuid"]: n for n in sync_nodes(syncs)}
        self.assertEqual(sorted(got), ["A", "C", "D", "E"])
        for n in got.values():
            self.assertNotIn("deleted", n)
            self.assertEqual(n["owner"], None)
        self.assertEqual(got["D"]["version"], 2)

    async def test_sync_then_events_without_gap_or_duplicate(self):
        """Section 3: the sync is the state at synced.seq, then come only
        events with a higher seq. Alice creates nodes in pipelined batches
        before, during and after bob's hello."""
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice", "race")
        started = asyncio.Event()
        bob_synced = asyncio.Event()
        made = []

        async def alice():
            batch, after = 0, 0
            while after < 4:            # four batches once bob is synced
                frames = [{"type": "node.create", "id": f"{batch}.{i}",
                           "uuid": f"r{batch}.{i}", "kind": "k", "data": {"i": i}}
                          for i in range(50)]
                replies = await pipeline(a, frames)
                self.assertTrue(all(r["type"] == "ok" for r in replies), replies)
                made.extend(f["uuid"] for f in frames)
                batch += 1
                if batch == 2:
                    started.set()
                if bob_synced.is_set():
                    after += 1
                self.assertLess(batch, 400, "bob never synced")

        async def bob():
            await asyncio.wait_for(started.wait(), TIMEOUT)
            b = await self.client(srv, "race")
            await b.send({"type": "hello", "id": 1, "user": "bob"})
            # Keep the events that may follow synced unread until alice is done.
            w = await b.recv()
            self.assertEqual(w["type"], "welcome", w)
            syncs = []
            while True:
                m = await b.recv()
                if m["type"] == "synced":
                    break
                self.assertEqual(m["type"], "sync", "frame between welcome and synced")
                syncs.append(m)
            bob_synced.set()
            return b, w, syncs, m

        _, (b, wb, syncs, synced) = await asyncio.gather(alice(), bob())
        self.assertEqual(synced["seq"], wb["seq"])
        seen = [n["uuid"] for n in sync_nodes(syncs)]
        for n in sync_nodes(syncs):
            self.assertLessEqual(n["seq"], synced["seq"])
        self.assertLess(len(seen), len(made), "bob's hello did not overlap alice's work")
        last = synced["seq"]
        while len(seen) < len(made):
            ev = await b.next_event("node")
            self.assertEqual(ev["op"], "create")
            self.assertGreater(ev["seq"], last, "events out of seq order")
            last = ev["seq"]
            seen.append(ev["node"]["uuid"])
        self.assertEqual(sorted(seen), sorted(made))
        self.assertEqual([m for m in await b.quiet() if m["type"] == "node"], [])


# ======================================================================
class RestartTest(ServerTestCase):

    async def test_acknowledged_changes_survive_kill9(self):
        srv = self.server()
        a, w, _, _ = await self.joined(srv, "alice", "dur")
        frames = [{"type": "node.create", "id": i, "uuid": f"n{i:03d}", "kind": "k",
                   "deps": [f"n{i - 1:03d}"] if i else [], "data": {"i": i}}
                  for i in range(120)]
        frames += [{"type": "node.update", "id": 1000 + i, "uuid": f"n{i:03d}",
                    "patch": {"u": i}} for i in range(80)]
        replies = await pipeline(a, frames)
        self.assertTrue(all(r["type"] == "ok" for r in replies), replies[:3])
        last = max(r["seq"] for r in replies)
        srv.kill9()
        srv.restart()
        b = await self.client(srv, "dur")
        wb, syncs, synced = await b.hello("bob")
        self.assertEqual(wb["resume"], "full")
        self.assertGreaterEqual(wb["seq"], last)
        self.assertEqual(wb["epoch"], w["epoch"], "kill -9 replaced the history")
        nodes = {n["uuid"]: n for n in sync_nodes(syncs)}
        self.assertEqual(len(nodes), 120)
        for i in range(120):
            n = nodes[f"n{i:03d}"]
            self.assertEqual(n["version"], 2 if i < 80 else 1, n)
            self.assertEqual(n["data"], {"i": i, "u": i} if i < 80 else {"i": i}, n)
            self.assertEqual(n["deps"], [f"n{i - 1:03d}"] if i else [])
        # Same history: resuming at the last acknowledged seq is an empty delta.
        c = await self.client(srv, "dur")
        wc, syncs, _ = await c.hello("carol", epoch=w["epoch"], since=last)
        self.assertEqual(wc["resume"], "delta")
        self.assertEqual(sync_nodes(syncs), [])
        # New changes continue the sequence.
        ok = await create(b, "after")
        self.assertGreater(ok["seq"], last)

    async def test_sigterm_is_graceful(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice", "bye")
        await create(a, "kept", lock=True)
        rc = await asyncio.to_thread(srv.stop)
        self.assertEqual(await a.closed(), 1001)
        self.assertEqual(rc, 0, srv.log())
        srv.restart()
        b, w, syncs, _ = await self.joined(srv, "bob", "bye")
        nodes = sync_nodes(syncs)
        self.assertEqual([n["uuid"] for n in nodes], ["kept"])


# ======================================================================
class ScaleTest(ServerTestCase):

    async def test_10000_nodes_sync_in_frames_under_1mib(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice", "big")
        N = 10000
        frames = [{"type": "node.create", "id": i, "uuid": f"node-{i:05d}", "kind": "Object",
                   "data": {"name": f"Object.{i:05d}", "pad": "x" * 100}}
                  for i in range(N)]
        replies = await pipeline(a, frames)
        bad = [r for r in replies if r["type"] != "ok"]
        self.assertEqual(bad, [])
        b = await self.client(srv, "big")
        wb, syncs, synced = await b.hello("bob")
        self.assertGreater(len(syncs), 1)
        for size in b.sync_frame_bytes:
            self.assertLess(size, MiB)
        uuids = [n["uuid"] for n in sync_nodes(syncs)]
        self.assertEqual(len(uuids), N)
        self.assertEqual(set(uuids), {f["uuid"] for f in frames})

    async def test_malformed_neighbour_does_not_disturb(self):
        srv = self.server()
        bad, _, _, _ = await self.joined(srv, "mallory", "mix")
        good, _, _, _ = await self.joined(srv, "alice", "mix")
        junk = [b"\x00bin", "nope", "[]", '{"type":1}', '{"type":"zzz"}',
                '{"type":"node.create","kind":""}', '{"type":"ping","id":1.5}']

        async def spam():
            for i in range(50):
                f = junk[i % len(junk)]
                if isinstance(f, bytes):
                    await bad.send_binary(f)
                else:
                    await bad.send_text(f)
            return await bad.quiet()

        async def work():
            return [await create(good, f"g{i}") for i in range(50)]

        got, oks = await asyncio.gather(spam(), work())
        errors = [m for m in got if m["type"] == "error"]
        self.assertEqual(len(errors), 50)
        for e in errors:
            self.assertEqual(e["code"], "bad_request")
        self.assertEqual(len(oks), 50)
        creates = [m for m in got if m["type"] == "node"]
        self.assertLessEqual(len(creates), 50)
        await bad.ok("node.create", uuid="m", kind="k", data={})


# ======================================================================
class StorageTest(ServerTestCase):

    def sqlite(self, db, sql):
        out = subprocess.run(["/usr/bin/sqlite3", db, sql], capture_output=True,
                             text=True, timeout=TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.strip()

    async def test_session_db_on_disk(self):
        srv = self.server()
        sdir = srv.session_dir("disk")
        db = os.path.join(sdir, "session.db")
        c = await self.client(srv, "disk")
        self.assertFalse(os.path.exists(sdir), "session dir made before hello")
        await c.hello("alice")
        self.assertTrue(os.path.isfile(db))
        self.assertEqual(stat.S_IMODE(os.stat(sdir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(db).st_mode), 0o600)
        await create(c, "n1", deps=["b", "a"], data={"k": [1, {"x": "é"}]})
        await create(c, "n2")
        await create(c, "n3")
        count = await asyncio.to_thread(self.sqlite, db, "SELECT count(*) FROM nodes")
        self.assertEqual(count, "3")
        self.assertEqual(await asyncio.to_thread(self.sqlite, db, "PRAGMA journal_mode"), "wal")
        data = await asyncio.to_thread(self.sqlite, db,
                                       "SELECT data FROM nodes WHERE uuid = 'n1'")
        self.assertEqual(json.loads(data), {"k": [1, {"x": "é"}]})
        deps = await asyncio.to_thread(
            self.sqlite, db, "SELECT dep FROM node_deps WHERE uuid = 'n1' ORDER BY position")
        self.assertEqual(deps.split("\n"), ["b", "a"])
        tables = await asyncio.to_thread(
            self.sqlite, db, "SELECT name FROM sqlite_master WHERE type = 'table'")
        for t in ("nodes", "node_deps", "tasks", "chat", "users", "meta"):
            self.assertIn(t, tables.split("\n"))
        # The server keeps working while the CLI reads.
        await create(c, "n4")
        for name in os.listdir(sdir):
            p = os.path.join(sdir, name)
            if name.startswith("session.db"):
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode) & 0o077, 0, name)

    async def test_failed_hello_creates_nothing(self):
        srv = self.server()
        c = await self.client(srv, "ghost")
        await c.send({"type": "hello", "id": 1, "user": ""})
        self.assertEqual(await c.closed(), 4400)
        self.assertFalse(os.path.exists(srv.session_dir("ghost")))


if __name__ == "__main__":
    unittest.main()
