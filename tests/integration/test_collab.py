#!/usr/bin/python3
"""Black-box tests of tasks, chat, presence, users and liveness
(PROTOCOL.md sections 2, 3, 5, 6, 7).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_collab.py -v
Every test starts its own server on a free port with a fresh data dir.
"""

import asyncio
import os
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ServerTestCase, Closed, TIMEOUT   # noqa: E402
from support import (create_node, must, pipeline, sync_part,  # noqa: E402
                     users_by_name, await_log)

TASK_FIELDS = {"id", "title", "description", "status", "assignee", "node",
               "created_by", "created_at", "updated_at", "seq"}
MSG_FIELDS = {"id", "user", "text", "ts", "seq"}


async def no_more(test, c, what):
    """c received nothing (but pings' pongs) since the last check."""
    extra = await c.quiet()
    test.assertEqual(extra, [], f"{what}: unexpected frames {extra}")


# ======================================================================
class TaskTest(ServerTestCase):
    """Section 5."""

    async def asyncSetUp(self):
        self.srv = self.server()
        self.a, _, _, _ = await self.joined(self.srv, "alice")
        self.b, _, _, _ = await self.joined(self.srv, "bob")
        await self.a.next_event("user")          # bob's join

    async def test_create_update_delete_events(self):
        a, b = self.a, self.b
        await create_node(a, "cube")
        await b.next_event("node")
        ok = await must(a, "task.create", title="Model the cube", description="low poly",
                        status="doing", assignee="bob", node="cube")
        t = ok["task"]
        self.assertEqual(set(t), TASK_FIELDS, t)
        self.assertIsInstance(t["id"], int)
        self.assertEqual((t["title"], t["description"], t["status"], t["assignee"],
                          t["node"], t["created_by"]),
                         ("Model the cube", "low poly", "doing", "bob", "cube", "alice"))
        self.assertIsInstance(t["created_at"], (int, float))
        self.assertIsInstance(t["updated_at"], (int, float))
        self.assertEqual(t["seq"], ok["seq"])
        ev = await b.next_event("task")
        self.assertEqual(ev, {"type": "task", "op": "create", "task": t, "seq": ok["seq"]})

        # Defaults.
        ok2 = await must(a, "task.create", title="t2")
        t2 = ok2["task"]
        self.assertEqual((t2["status"], t2["description"], t2["assignee"], t2["node"]),
                         ("todo", "", None, None), t2)
        self.assertGreater(ok2["seq"], ok["seq"])
        self.assertNotEqual(t2["id"], t["id"])
        self.assertEqual((await b.next_event("task"))["seq"], ok2["seq"])

        # Update: only the given fields change.
        up = await must(a, "task.update", task=t["id"], status="done", assignee=None)
        u = up["task"]
        self.assertEqual((u["id"], u["title"], u["description"], u["status"], u["assignee"],
                          u["node"], u["created_by"], u["created_at"]),
                         (t["id"], "Model the cube", "low poly", "done", None, "cube",
                          "alice", t["created_at"]))
        self.assertEqual(u["seq"], up["seq"])
        self.assertGreaterEqual(u["updated_at"], t["updated_at"])
        ev = await b.next_event("task")
        self.assertEqual(ev, {"type": "task", "op": "update", "task": u, "seq": up["seq"]})

        # bob may update alice's task too (tasks have no owner).
        up2 = await must(b, "task.update", task=t["id"], title="Model it", description=None,
                         node=None)
        self.assertEqual((up2["task"]["title"], up2["task"]["description"],
                          up2["task"]["node"]), ("Model it", "", None))
        ev = await a.next_event("task")
        self.assertEqual((ev["op"], ev["seq"], ev["task"]), ("update", up2["seq"], up2["task"]))

        # Delete.
        d = await must(a, "task.delete", task=t["id"])
        self.assertIsInstance(d["seq"], int)
        self.assertGreater(d["seq"], up2["seq"])
        ev = await b.next_event("task")
        self.assertEqual(ev, {"type": "task", "op": "delete", "id": t["id"], "seq": d["seq"]})
        await no_more(self, a, "alice")
        await no_more(self, b, "bob")

    async def test_validation_errors(self):
        a, b = self.a, self.b
        good = await must(a, "task.create", title="base")
        tid = good["task"]["id"]
        await b.next_event("task")
        bad_create = [
            ({}, "title"),
            ({"title": ""}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"title": "é" * 101}, "title"),              # 202 bytes
            ({"title": 5}, "title"),
            ({"title": None}, "title"),
            ({"title": "t", "description": "d" * 10001}, "description"),
            ({"title": "t", "description": 7}, "description"),
            ({"title": "t", "status": "blocked"}, "status"),
            ({"title": "t", "status": "TODO"}, "status"),
            ({"title": "t", "status": 1}, "status"),
            ({"title": "t", "status": None}, "status"),
            ({"title": "t", "assignee": 5}, "assignee"),
            ({"title": "t", "assignee": ""}, "assignee"),
            ({"title": "t", "assignee": ["bob"]}, "assignee"),
            ({"title": "t", "assignee": "x" * 65}, "assignee"),
            ({"title": "t", "node": 5}, "node"),
            ({"title": "t", "node": {"uuid": "cube"}}, "node"),
            ({"title": "t", "node": "not a uuid!"}, "node"),
            ({"title": "t", "node": ""}, "node"),
        ]
        for fields, name in bad_create:
            with self.subTest(create=fields):
                r = await a.request("task.create", **fields)
                self.assertError(r, "bad_request", name, re=r.get("re"))
        bad_update = [
            ({}, "task"),
            ({"task": "1", "title": "x"}, "task"),
            ({"task": 0, "title": "x"}, "task"),
            ({"task": 1.5, "title": "x"}, "task"),
            ({"task": tid}, None),                         # nothing to change
            ({"task": tid, "title": ""}, "title"),
            ({"task": tid, "title": "x" * 201}, "title"),
            ({"task": tid, "description": "d" * 10001}, "description"),
            ({"task": tid, "status": "blocked"}, "status"),
            ({"task": tid, "assignee": 5}, "assignee"),
            ({"task": tid, "node": 5}, "node"),
        ]
        for fields, name in bad_update:
            with self.subTest(update=fields):
                r = await a.request("task.update", **fields)
                self.assertError(r, "bad_request", name, re=r.get("re"))
        for fields in [{}, {"task": "x"}, {"task": -1}, {"task": None}]:
            with self.subTest(delete=fields):
                r = await a.request("task.delete", **fields)
                self.assertError(r, "bad_request", "task", re=r.get("re"))
        # The limits themselves are accepted (bytes, not characters).
        for fields in [{"title": "x" * 200}, {"title": "é" * 100},
                       {"title": "t", "description": "d" * 10000},
                       {"title": "t", "description": "é" * 5000},
                       {"title": "t", "assignee": "x" * 64, "node": "n:1_2.3-4"}]:
            with self.subTest(ok=list(fields)):
                r = await a.request("task.create", **fields)
                self.assertEqual(r["type"], "ok", r)
                self.assertEqual(r["task"]["title"], fields["title"])
                await b.next_event("task", pred=lambda m, s=r["seq"]: m["seq"] == s)
        # The failed task is unchanged and no failure made an event.
        await no_more(self, b, "bob after failed requests")
        r = await a.request("task.update", task=tid, status="doing")
        self.assertEqual(r["task"]["title"], "base")

    async def test_not_found(self):
        a, b = self.a, self.b
        for typ, extra in [("task.update", {"title": "x"}), ("task.delete", {})]:
            r = await a.request(typ, task=999999, **extra)
            self.assertError(r, "not_found", re=r["re"])
        ok = await must(a, "task.create", title="gone soon")
        tid = ok["task"]["id"]
        d = await must(a, "task.delete", task=tid)
        for typ, extra in [("task.update", {"status": "done"}), ("task.delete", {})]:
            r = await a.request(typ, task=tid, **extra)
            self.assertError(r, "not_found", re=r["re"])
        # Only the create and the delete reached bob.
        evs = await b.quiet()
        self.assertEqual([(e["type"], e.get("op")) for e in evs],
                         [("task", "create"), ("task", "delete")], evs)
        self.assertEqual(evs[1]["seq"], d["seq"])
        # The id is not reused.
        ok2 = await must(a, "task.create", title="new")
        self.assertNotEqual(ok2["task"]["id"], tid)

    async def test_task_of_deleted_node(self):
        a, b = self.a, self.b
        await create_node(a, "cube")
        ok = await must(a, "task.create", title="texture", node="cube")
        tid = ok["task"]["id"]
        await must(a, "node.delete", uuid="cube")
        r = await a.request("node.get", uuid="cube")
        self.assertError(r, "not_found", re=r["re"])
        up = await must(b, "task.update", task=tid, status="done")
        self.assertEqual((up["task"]["node"], up["task"]["status"]), ("cube", "done"))
        c, _, syncs, _ = await self.joined(self.srv, "carol")
        tasks = sync_part(syncs, "tasks")
        self.assertEqual(tasks, [up["task"]])
        self.assertEqual(sync_part(syncs, "nodes"), [])
        # A task may also name a node that never existed.
        ok = await must(a, "task.create", title="later", node="not-yet")
        self.assertEqual(ok["task"]["node"], "not-yet")
        await must(a, "task.delete", task=tid)

    async def test_tasks_in_full_and_delta_sync(self):
        a = self.a
        t1 = (await must(a, "task.create", title="one"))["task"]
        t2 = (await must(a, "task.create", title="two"))["task"]
        t3 = (await must(a, "task.create", title="three"))["task"]
        c, w, syncs, synced = await self.joined(self.srv, "carol")
        self.assertEqual(synced["seq"], t3["seq"])
        self.assertEqual(sorted(sync_part(syncs, "tasks"), key=lambda t: t["id"]),
                         [t1, t2, t3])
        await c.close()
        since = synced["seq"]
        u2 = (await must(a, "task.update", task=t2["id"], status="done"))["task"]
        d3 = await must(a, "task.delete", task=t3["id"])
        t4 = (await must(a, "task.create", title="four"))["task"]
        t5 = (await must(a, "task.create", title="five"))["task"]
        d5 = await must(a, "task.delete", task=t5["id"])

        # Delta: changed, created and deleted-after-since only.
        c2, w2, syncs, synced2 = await self.joined(self.srv, "carol", epoch=w["epoch"],
                                                   since=since)
        self.assertEqual(w2["resume"], "delta")
        self.assertEqual(synced2["seq"], d5["seq"])
        got = {t["id"]: t for t in sync_part(syncs, "tasks")}
        self.assertEqual(set(got), {t2["id"], t3["id"], t4["id"], t5["id"]}, got)
        self.assertEqual(got[t2["id"]], u2)
        self.assertEqual(got[t4["id"]], t4)
        self.assertEqual(got[t3["id"]], {"id": t3["id"], "deleted": True, "seq": d3["seq"]})
        self.assertEqual(got[t5["id"]], {"id": t5["id"], "deleted": True, "seq": d5["seq"]})
        await c2.close()

        # Full (no resume point, or a wrong epoch): live tasks only.
        for kw in [{}, {"epoch": "not-the-epoch", "since": since}]:
            c3, w3, syncs, _ = await self.joined(self.srv, "carol", **kw)
            self.assertEqual(w3["resume"], "full")
            self.assertEqual(sorted(sync_part(syncs, "tasks"), key=lambda t: t["id"]),
                             [t1, u2, t4])
            await c3.close()


# ======================================================================
class ChatTest(ServerTestCase):
    """Section 6."""

    async def test_send_limits_and_event(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice")
        b, _, _, _ = await self.joined(srv, "bob")
        await a.next_event("user")
        for text in ["", "x" * 4001, "é" * 2000 + "x", None, 5, ["hi"]]:
            with self.subTest(text=text if not isinstance(text, str) else len(text)):
                fields = {} if text is None else {"text": text}
                r = await a.request("chat.send", **fields)
                self.assertError(r, "bad_request", "text", re=r["re"])
        await no_more(self, b, "bob after rejected chat")
        for text in ["hello", "x" * 4000, "é" * 2000, "日本語 ✓"]:
            ok = await must(a, "chat.send", text=text)
            m = ok["message"]
            self.assertEqual(set(m), MSG_FIELDS, m)
            self.assertEqual((m["user"], m["text"], m["seq"]), ("alice", text, ok["seq"]))
            self.assertIsInstance(m["id"], int)
            self.assertIsInstance(m["ts"], (int, float))
            ev = await b.next_event("chat")
            self.assertEqual(ev, {"type": "chat", "message": m, "seq": ok["seq"]})
        await no_more(self, a, "alice (the sender gets no chat event)")

    async def test_history(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice")
        sent = []
        for i in range(12):
            sent.append((await must(a, "chat.send", text=f"m{i}"))["message"])
        ids = [m["id"] for m in sent]
        self.assertEqual(ids, sorted(ids))

        r = await must(a, "chat.history")
        self.assertEqual(r["messages"], sent)                # oldest first
        r = await must(a, "chat.history", limit=3)
        self.assertEqual(r["messages"], sent[-3:])
        r = await must(a, "chat.history", before=ids[5], limit=2)
        self.assertEqual(r["messages"], sent[3:5])
        r = await must(a, "chat.history", before=ids[5])
        self.assertEqual(r["messages"], sent[:5])
        r = await must(a, "chat.history", before=ids[0])
        self.assertEqual(r["messages"], [])
        r = await must(a, "chat.history", limit=500)
        self.assertEqual(r["messages"], sent)
        r = await must(a, "chat.history", limit=1)
        self.assertEqual(r["messages"], sent[-1:])
        for fields in [{"limit": 0}, {"limit": 501}, {"limit": -1}, {"limit": "5"},
                       {"limit": 2.5}, {"before": "x"}, {"before": 0}, {"before": -3}]:
            with self.subTest(fields=fields):
                r = await a.request("chat.history", **fields)
                self.assertError(r, "bad_request", list(fields)[0], re=r["re"])
        # Default limit 100.
        frames = [{"type": "chat.send", "id": f"c{i}", "text": f"n{i}"} for i in range(100)]
        replies = await pipeline(a, frames)
        self.assertTrue(all(x["type"] == "ok" for x in replies))
        r = await must(a, "chat.history")
        self.assertEqual(len(r["messages"]), 100)
        self.assertEqual([m["text"] for m in r["messages"]], [f"n{i}" for i in range(100)])
        r = await must(a, "chat.history", before=r["messages"][0]["id"], limit=500)
        self.assertEqual(r["messages"], sent)

    async def test_chat_in_full_and_delta_sync(self):
        srv = self.server(["--chat-history", "5"])
        a, w, _, _ = await self.joined(srv, "alice")
        first = [(await must(a, "chat.send", text=f"a{i}"))["message"] for i in range(3)]
        c, _, syncs, synced = await self.joined(srv, "carol")
        self.assertEqual(sync_part(syncs, "chat"), first)
        await c.close()
        since = synced["seq"]
        later = [(await must(a, "chat.send", text=f"b{i}"))["message"] for i in range(8)]
        # Full: the last CHAT_HISTORY (5), oldest first.
        c, w2, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual(w2["resume"], "full")
        self.assertEqual(sync_part(syncs, "chat"), later[-5:])
        await c.close()
        # Delta: every message newer than since, even past CHAT_HISTORY.
        c, w3, syncs, _ = await self.joined(srv, "carol", epoch=w["epoch"], since=since)
        self.assertEqual(w3["resume"], "delta")
        self.assertEqual(sync_part(syncs, "chat"), later)
        await c.close()
        c, w4, syncs, _ = await self.joined(srv, "carol", epoch=w["epoch"],
                                            since=later[5]["seq"])
        self.assertEqual(w4["resume"], "delta")
        self.assertEqual(sync_part(syncs, "chat"), later[6:])

    async def test_chat_keep(self):
        srv = self.server(["--chat-keep", "3"])
        a, _, _, _ = await self.joined(srv, "alice")
        sent = [(await must(a, "chat.send", text=f"k{i}"))["message"] for i in range(7)]
        r = await must(a, "chat.history")
        self.assertEqual(r["messages"], sent[-3:])
        c, _, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual(sync_part(syncs, "chat"), sent[-3:])
        await c.close()
        # Kept across a restart too, and the next message trims again.
        await a.close()
        srv.restart()
        a, _, syncs, _ = await self.joined(srv, "alice")
        self.assertEqual(sync_part(syncs, "chat"), sent[-3:])
        new = (await must(a, "chat.send", text="after"))["message"]
        r = await must(a, "chat.history")
        self.assertEqual(r["messages"], sent[-2:] + [new])


# ======================================================================
class UsersTest(ServerTestCase):
    """Section 7: users, join and leave."""

    async def test_users_join_leave_and_restart(self):
        srv = self.server()
        t0 = time.time()
        a, _, syncs, _ = await self.joined(srv, "alice", color="#ff8800")
        us = users_by_name(syncs)
        self.assertEqual(set(us), {"alice"})
        self.assertTrue(us["alice"]["online"])

        b, _, syncs, _ = await self.joined(srv, "bob")
        ev = await a.next_event("user")
        self.assertEqual((ev["op"], ev["user"]["name"], ev["user"]["online"]),
                         ("join", "bob", True), ev)
        for k in ("role", "first_seen", "last_seen"):
            self.assertIn(k, ev["user"], ev)
        us = users_by_name(syncs)
        self.assertEqual(set(us), {"alice", "bob"})
        self.assertTrue(us["alice"]["online"] and us["bob"]["online"])
        self.assertEqual(us["alice"]["color"], "#ff8800")
        self.assertEqual(us["alice"]["role"], "user")
        for u in us.values():
            self.assertGreaterEqual(u["first_seen"], t0 - 5)
            self.assertLessEqual(u["first_seen"], u["last_seen"])
            self.assertIsInstance(u["metadata"], dict)

        await b.close()
        ev = await a.next_event("user")
        self.assertEqual(ev, {"type": "user", "op": "leave", "user": "bob",
                              "reason": "disconnect"})

        c, _, syncs, _ = await self.joined(srv, "carol")
        await a.next_event("user", pred=lambda m: m["op"] == "join")
        us = users_by_name(syncs)
        self.assertEqual(set(us), {"alice", "bob", "carol"})
        self.assertEqual({n: u["online"] for n, u in us.items()},
                         {"alice": True, "bob": False, "carol": True})
        bob_first = us["bob"]["first_seen"]

        # The same name again: one entry, first_seen kept.
        b, _, syncs, _ = await self.joined(srv, "bob")
        us = users_by_name(syncs)
        self.assertEqual(len([n for n in us if n == "bob"]), 1)
        self.assertTrue(us["bob"]["online"])
        self.assertEqual(us["bob"]["first_seen"], bob_first)

        # After a graceful restart nobody is online until they reconnect.
        rc = await asyncio.to_thread(srv.stop)
        self.assertEqual(rc, 0)
        srv.restart()
        d, _, syncs, _ = await self.joined(srv, "dave")
        us = users_by_name(syncs)
        self.assertEqual({n: u["online"] for n, u in us.items()},
                         {"alice": False, "bob": False, "carol": False, "dave": True})
        self.assertEqual(us["bob"]["first_seen"], bob_first)
        a, _, syncs, _ = await self.joined(srv, "alice")
        ev = await d.next_event("user")
        self.assertEqual((ev["op"], ev["user"]["name"]), ("join", "alice"))
        self.assertEqual({n: u["online"] for n, u in users_by_name(syncs).items()},
                         {"alice": True, "bob": False, "carol": False, "dave": True})

    async def test_users_after_kill9(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice")
        b, _, _, _ = await self.joined(srv, "bob")
        srv.kill9()
        srv.restart()
        c, _, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual({n: u["online"] for n, u in users_by_name(syncs).items()},
                         {"alice": False, "bob": False, "carol": True})


# ======================================================================
class PresenceTest(ServerTestCase):
    """Section 7: presence."""

    async def test_relay_and_limits(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice")
        b, _, _, _ = await self.joined(srv, "bob")
        c, _, _, _ = await self.joined(srv, "carol")
        await a.quiet()
        await b.quiet()
        data = {"cursor": [1.5, 2, 3], "selected": ["cube"], "mode": "EDIT"}
        r = await a.request("presence", data=data)
        self.assertEqual(r["type"], "ok", r)
        self.assertNotIn("seq", r)
        for other in (b, c):
            ev = await other.next_event("presence")
            self.assertEqual(ev, {"type": "presence", "user": "alice", "data": data})
        await no_more(self, a, "the sender")
        # Without an id: relayed, no ok.
        await a.send({"type": "presence", "data": {"n": 2}})
        ev = await b.next_event("presence")
        self.assertEqual(ev, {"type": "presence", "user": "alice", "data": {"n": 2}})
        await no_more(self, a, "the sender of a presence without id")
        # Presence does not take a seq: the next change follows the last one.
        s1 = (await must(a, "chat.send", text="x"))["seq"]
        await a.request("presence", data={"n": 3})
        s2 = (await must(a, "chat.send", text="y"))["seq"]
        self.assertEqual(s2, s1 + 1)
        # Too large.
        big = {"blob": "x" * (64 * 1024 + 10)}
        r = await a.request("presence", data=big)
        self.assertError(r, "too_large", re=r["re"])
        near = {"blob": "x" * (60 * 1024)}
        r = await a.request("presence", data=near)
        self.assertEqual(r["type"], "ok", r)
        for bad in [None, [1], "x", 5]:
            fields = {} if bad is None else {"data": bad}
            r = await a.request("presence", **fields)
            self.assertError(r, "bad_request", "data", re=r["re"])
        got = [m for m in await b.quiet() if m["type"] == "presence"]
        self.assertEqual([m["data"] for m in got], [{"n": 3}, near],
                         "too large / bad presence was relayed")

    async def test_last_presence_is_metadata(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice")
        for i in range(5):
            await must(a, "presence", data={"frame": i, "obj": "cube"})
        last = {"frame": 4, "obj": "cube"}
        b, _, syncs, _ = await self.joined(srv, "bob")
        self.assertEqual(users_by_name(syncs)["alice"]["metadata"], last)
        # bob leaves with no presence: empty metadata, alice's is unchanged.
        await b.close()
        await a.next_event("user", pred=lambda m: m["op"] == "leave")
        # alice leaves; then a restart.
        await must(a, "presence", data={"frame": 9})
        await a.close()
        c, _, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual(users_by_name(syncs)["alice"]["metadata"], {"frame": 9})
        self.assertFalse(users_by_name(syncs)["alice"]["online"])
        await c.close()
        rc = await asyncio.to_thread(srv.stop)
        self.assertEqual(rc, 0)
        srv.restart()
        c, _, syncs, _ = await self.joined(srv, "carol")
        us = users_by_name(syncs)
        self.assertEqual(us["alice"]["metadata"], {"frame": 9})
        self.assertEqual(us["bob"]["metadata"], {})

    async def test_metadata_written_when_user_leaves(self):
        """The leave writes presence to the database: it survives a kill -9
        that follows the leave."""
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "alice")
        obs, _, _, _ = await self.joined(srv, "obs")
        await must(a, "presence", data={"where": "kitchen"})
        await a.close()
        await obs.next_event("user", pred=lambda m: m["op"] == "leave")
        # The leave's save is logged after its transaction committed.
        await await_log(srv, "reason=user_disconnect:alice")
        srv.kill9()
        srv.restart()
        c, _, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual(users_by_name(syncs)["alice"]["metadata"], {"where": "kitchen"})


# ======================================================================
async def read_until_close(raw, timeout):
    """Read raw frames without answering anything; the close code, or None
    if the stream ended without a close frame."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"raw connection still open after {timeout}s")
        try:
            op, data = await raw.recv_frame(left)
        except EOFError:
            return None
        except asyncio.TimeoutError:
            continue
        if op == 0x8:
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None


class LivenessTest(ServerTestCase):
    """Section 7: pings and 4408."""

    async def test_silent_client_closed_4408(self):
        srv = self.server(["--timeout", "3"])
        obs = await self.client(srv)
        await obs.hello("observer")

        async def keepalive():               # the observer itself is never silent
            while True:
                await obs.send({"type": "ping"})
                await asyncio.sleep(0.5)
        ka = asyncio.ensure_future(keepalive())
        try:
            raw = await self.raw(srv)
            await raw.hello("mute")
            t0 = time.monotonic()
            # From here on `raw` neither reads nor answers pings.
            ev = await obs.next_event("user", timeout=15,
                                      pred=lambda m: m["op"] == "leave")
            elapsed = time.monotonic() - t0
        finally:
            ka.cancel()
        self.assertEqual(ev, {"type": "user", "op": "leave", "user": "mute",
                              "reason": "timeout"})
        self.assertGreaterEqual(elapsed, 2.5, "closed before TIMEOUT seconds of silence")
        self.assertLess(elapsed, 8, "closed long after TIMEOUT")
        # The close frame is waiting on the raw socket (after the pings).
        self.assertEqual(await read_until_close(raw, TIMEOUT), 4408)
        r = await obs.request("ping")
        self.assertEqual(r["type"], "pong")

    async def test_idle_client_answering_pings_stays(self):
        """A websockets client that sends nothing itself but answers the
        server's pings (automatically) outlives TIMEOUT several times."""
        srv = self.server(["--timeout", "3"])
        obs = await self.client(srv)
        await obs.hello("idle")
        t0 = time.monotonic()
        try:
            m = await obs.next_event(timeout=9)     # nothing should arrive for 9 s
            self.fail(f"idle client got {m}")
        except Closed as c:
            self.fail(f"idle client (answering pings) closed with {c.code} {c.reason!r} "
                      f"after {time.monotonic() - t0:.1f}s of silence (TIMEOUT 3)")
        except AssertionError as e:
            if "within" not in str(e):
                raise
        self.assertIsNone(obs.close_code)
        r = await obs.request("ping")
        self.assertEqual(r["type"], "pong")

    async def test_server_pings_idle_connection(self):
        """The server pings an idle connection (at least every TIMEOUT/3)."""
        srv = self.server(["--timeout", "3"])
        raw = await self.raw(srv)
        await raw.hello("pinged")
        t0 = time.monotonic()
        op, _ = await raw.recv_frame(timeout=3)
        self.assertEqual(op, 0x9, "expected a WebSocket ping")
        self.assertLessEqual(time.monotonic() - t0, 2.5)

    async def test_no_hello_closed_4408_after_10s(self):
        srv = self.server()
        raw = await self.raw(srv)
        t0 = time.monotonic()
        code = await raw.wait_close(timeout=16)       # answers pings meanwhile
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 4408)
        self.assertGreaterEqual(elapsed, 9.0)
        self.assertLess(elapsed, 14.0)


# ======================================================================
class DurabilityTest(ServerTestCase):
    """Section 2: acknowledged task and chat changes survive kill -9."""

    async def test_tasks_and_chat_survive_kill9(self):
        srv = self.server()
        a, w, _, _ = await self.joined(srv, "alice")
        frames = [{"type": "task.create", "id": f"t{i}", "title": f"task {i}",
                   "status": "todo"} for i in range(40)]
        replies = await pipeline(a, frames)
        self.assertTrue(all(r["type"] == "ok" for r in replies), replies[:3])
        tasks = {r["task"]["id"]: r["task"] for r in replies}
        ids = sorted(tasks)
        frames = [{"type": "task.update", "id": f"u{i}", "task": ids[i], "status": "done"}
                  for i in range(10)]
        frames += [{"type": "task.delete", "id": f"d{i}", "task": ids[10 + i]}
                   for i in range(5)]
        frames += [{"type": "chat.send", "id": f"c{i}", "text": f"chat {i}"}
                   for i in range(60)]
        replies = await pipeline(a, frames)
        self.assertTrue(all(r["type"] == "ok" for r in replies), replies[:3])
        last_seq = max(r["seq"] for r in replies)
        for r in replies:
            if "task" in r:
                tasks[r["task"]["id"]] = r["task"]
        for i in range(5):
            del tasks[ids[10 + i]]
        chat = [r["message"] for r in replies if "message" in r]
        srv.kill9()                                   # right after the last ok
        srv.restart()
        b, wb, syncs, synced = await self.joined(srv, "bob")
        self.assertEqual(wb["epoch"], w["epoch"])
        self.assertEqual(synced["seq"], last_seq)
        got = {t["id"]: t for t in sync_part(syncs, "tasks")}
        self.assertEqual(got, tasks)
        self.assertEqual(sync_part(syncs, "chat"), chat)
        r = await must(b, "chat.history", limit=500)
        self.assertEqual(r["messages"], chat)


if __name__ == "__main__":
    unittest.main()
