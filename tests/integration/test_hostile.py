#!/usr/bin/env python3
"""Protocol 1.1 session rules and review defects, over real WebSockets:
admin requests still waiting at shutdown are refused, not carried out;
people coming and going do not push backups out of rotation; MAX_SESSIONS
(the 1,001st session of the default limit), CREATE_SESSIONS and
SESSION_IDLE_CLOSE."""
import asyncio
import json
import os
import shutil
import signal
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client, ServerTestCase, TIMEOUT, pipeline   # noqa: E402
from support import FsizeServer, backup_files, create_node, must, wait_until  # noqa: E402

ADMIN = "adm1n"


def api(srv, path):
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}{path}",
                                 headers={"Authorization": "Bearer " + ADMIN})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.loads(r.read())


class HostileTest(ServerTestCase):

    async def refused(self, srv, session, code, close, **fields):
        c = await self.client(srv, session)
        await c.send({"type": "hello", "id": 1, "user": "u", **fields})
        got = await c.closed()
        errors = [m for m in c.pending if m["type"] == "error"]
        self.assertEqual(len(errors), 1, c.pending)
        self.assertEqual(errors[0]["code"], code, errors[0])
        self.assertEqual(got, close)
        return errors[0]

    async def test_reset_waiting_at_shutdown_is_refused_not_done(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, _, _, _ = await self.joined(srv, "root", admin_password=ADMIN)
        blob = "q" * (100 * 1024)
        for start in range(0, 300, 50):
            frames = [{"type": "node.create", "id": i, "uuid": f"n{i:04d}", "kind": "Blob",
                       "data": {"blob": blob}} for i in range(start, start + 50)]
            replies = await pipeline(a, frames, timeout=60)
            self.assertTrue(all(r["type"] == "ok" for r in replies), replies[:2])
        # A save runs; the reset waits behind it; then SIGTERM.
        await a.send({"type": "admin.save", "id": "save"})
        await a.send({"type": "admin.reset", "id": "reset"})
        srv.wait_for_log("requested a reset")
        srv.proc.send_signal(signal.SIGTERM)
        replies = {}
        code = None
        try:
            while True:
                m = await a.recv(timeout=30)
                if m.get("re") in ("save", "reset"):
                    replies[m["re"]] = m
        except Exception:
            code = await a.closed()
        self.assertEqual(code, 1001)
        self.assertIn("reset", replies, "the reset got no answer")
        self.assertEqual(replies["reset"]["type"], "error", replies["reset"])
        self.assertEqual(replies["reset"]["code"], "unavailable")
        self.assertIn("shutting down", replies["reset"]["message"])
        self.assertEqual(await asyncio.to_thread(srv.proc.wait, TIMEOUT), 0)
        srv.restart()
        b, w, syncs, _ = await self.joined(srv, "root", admin_password=ADMIN)
        nodes = [n for s in syncs for n in s["nodes"]]
        self.assertEqual(len(nodes), 300, "the reset was carried out")
        self.assertFalse([l for l in srv.lines if "Session reset" in l])

    async def test_coming_and_going_keeps_backups(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0",
                           "--max-backups", "3"])
        a, _, _, _ = await self.joined(srv, "root", admin_password=ADMIN)
        await create_node(a, "n1")
        await must(a, "admin.save")
        before = backup_files(srv, "test")
        self.assertEqual(len(before), 1)
        for i in range(5):   # more than MAX_BACKUPS
            c, _, _, _ = await self.joined(srv, f"visitor{i}")
            await c.close()
            srv.wait_for_log(f"User left (session=test user=visitor{i}")
        self.assertEqual((await a.request("ping"))["type"], "pong")
        self.assertEqual(backup_files(srv, "test"), before)
        # A visitor who changes something is saved when leaving.
        c, _, _, _ = await self.joined(srv, "editor")
        await create_node(c, "n2")
        await c.close()
        await wait_until(lambda: len(backup_files(srv, "test")) == 2, TIMEOUT,
                         "the editor's leave save")
        self.assertTrue(set(before) <= set(backup_files(srv, "test")))

    async def test_1001st_session_is_refused_with_nothing_on_disk(self):
        srv = self.server(["--save-interval", "0"])
        c, _, _, _ = await self.joined(srv, "a", "s0000")
        await c.close()
        srv.stop()
        # 998 more on disk (copies of an initialised one); the server counts
        # them at start.
        src = srv.session_dir("s0000")
        for i in range(1, 999):
            shutil.copytree(src, srv.session_dir(f"s{i:04d}"))
        srv.restart()
        c, w, _, _ = await self.joined(srv, "a", "s0999")     # the 1,000th
        self.assertEqual(w["session"], "s0999")
        err = await self.refused(srv, "s1000", "unavailable", 4400)   # the 1,001st
        self.assertIn("MAX_SESSIONS", err["message"])
        self.assertFalse(os.path.exists(srv.session_dir("s1000")))
        c2, _, _, _ = await self.joined(srv, "b", "s0500")    # existing ones still join
        status, _, body = srv.http_get("/healthz")
        self.assertEqual(json.loads(body)["sessions_on_disk"], 1000)

    async def test_failed_create_leaves_no_directory(self):
        # Files may not grow past 1 KiB: the new session's database cannot
        # be written, as on a full disk.
        srv = FsizeServer(["--save-interval", "0"], fsize=1024)
        self._servers.append(srv)
        srv.start()
        err = await self.refused(srv, "doomed", "unavailable", 1011)
        self.assertIn("cannot be opened", err["message"])
        self.assertFalse(os.path.exists(srv.session_dir("doomed")),
                         os.listdir(os.path.dirname(srv.session_dir("doomed"))))
        status, _, body = srv.http_get("/healthz")
        self.assertEqual(json.loads(body)["sessions_on_disk"], 0)

    async def test_create_sessions_admin(self):
        srv = self.server(["--admin-password", ADMIN, "--create-sessions", "admin"])
        await self.refused(srv, "fresh", "not_found", 4400)
        self.assertFalse(os.path.exists(srv.session_dir("fresh")))
        c, _, _, _ = await self.joined(srv, "root", "fresh", admin_password=ADMIN)
        d, _, _, _ = await self.joined(srv, "bob", "fresh")
        self.assertTrue(os.path.isdir(srv.session_dir("fresh")))

    async def test_idle_session_closed_and_reopened(self):
        srv = self.server(["--admin-password", ADMIN, "--session-idle-close", "1",
                           "--save-interval", "0"])
        a, _, _, _ = await self.joined(srv, "alice", "idle")
        await create_node(a, "kept", data={"v": 42})
        await a.close()
        self.assertTrue(srv.wait_for_log("Session closed after 1 s without a connection "
                                         "(session=idle)"), srv.log())
        listed = {s["session"]: s for s in api(srv, "/api/sessions")["sessions"]}
        self.assertFalse(listed["idle"]["loaded"])
        b, w, syncs, _ = await self.joined(srv, "bob", "idle")
        nodes = {n["uuid"]: n for s in syncs for n in s["nodes"]}
        self.assertEqual(nodes["kept"]["data"], {"v": 42})
        listed = {s["session"]: s for s in api(srv, "/api/sessions")["sessions"]}
        self.assertTrue(listed["idle"]["loaded"])


if __name__ == "__main__":
    unittest.main()
