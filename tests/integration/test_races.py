#!/usr/bin/python3
"""Admin operations that arrive together: a state change takes effect when
its request is read, so a second request read in the same pass of the
server's loop sees it (PROTOCOL.md 8, docs/PROTOCOL.md "Admin operations
that arrive together").

To put requests from different sockets into one pass deterministically, the
server is stopped (SIGSTOP) while they are written, then continued: its next
poll finds every socket readable at once.

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_races.py -v
"""

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Closed, RawWS, ServerTestCase, TIMEOUT  # noqa: E402
from support import must                                    # noqa: E402

ADMIN_PW = "adm1n-s3cret"
ADMIN_ARGS = ("--admin-password", ADMIN_PW)


# ----------------------------------------------------------------------
class RawHTTP:
    """One HTTP/1.1 connection opened ahead of time, so that its request
    can be written while the server is stopped."""

    def __init__(self, srv):
        self.sock = socket.create_connection(("127.0.0.1", srv.port), TIMEOUT)
        self.port = srv.port

    def send(self, method, path, body=None, token=ADMIN_PW, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                "Connection: close"]
        if token is not None:
            head.append(f"Authorization: Bearer {token}")
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        head += list(headers)
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)

    def response(self, timeout=TIMEOUT):
        """(status, headers (lower-case names), body bytes); AssertionError
        when nothing complete arrives within timeout."""
        self.sock.settimeout(timeout)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise AssertionError(f"connection closed without an answer: {buf!r}")
                buf += chunk
            head, body = buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for l in lines[1:]:
                k, v = l.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0"))
            while len(body) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            return status, headers, body[:n]
        except socket.timeout:
            raise AssertionError(f"no HTTP answer within {timeout}s") from None

    def close(self):
        self.sock.close()


@contextlib.contextmanager
def stopped(srv):
    """The server process is stopped inside the block: what is written
    meanwhile waits in the kernel and is read in one pass afterwards."""
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)


def quick_check(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        db.close()


class RaceCase(ServerTestCase):
    server_args = ADMIN_ARGS

    async def prepare(self, srv, session):
        """Session with backup b1 = {A}, backup b2 = {A, B} and content
        {A, B, C}; bob is online. Returns (b1, b2, bob)."""
        a, _, _, _ = await self.joined(srv, "setup", session, admin_password=ADMIN_PW)
        await must(a, "node.create", uuid="A", kind="Object", data={})
        b1 = (await must(a, "admin.save"))["backup"]
        await must(a, "node.create", uuid="B", kind="Object", data={})
        b2 = (await must(a, "admin.save"))["backup"]
        await must(a, "node.create", uuid="C", kind="Object", data={})
        await a.close()
        bob, _, _, _ = await self.joined(srv, "bob", session)
        return b1, b2, bob

    async def admin_raw(self, srv, session, user="root"):
        r = await self.raw(srv, f"/s/{session}")
        await r.send_json({"type": "hello", "id": "h", "user": user,
                           "admin_password": ADMIN_PW})
        while (await r.recv_json()).get("type") != "synced":
            pass
        return r

    async def ws_answers(self, r, ids, timeout=TIMEOUT * 2):
        """The replies to ids (by id), and every `session` event, read until
        all are in; AssertionError naming the ones never answered."""
        got, events = {}, []
        deadline = time.monotonic() + timeout
        while len(got) < len(ids):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                m = await r.recv_json(left)
            except (Closed, EOFError, asyncio.TimeoutError):
                missing = [i for i in ids if i not in got]
                raise AssertionError(f"requests {missing} were never answered; "
                                     f"got {got}") from None
            if m.get("re") in ids and m.get("type") in ("ok", "error"):
                got[m["re"]] = m
            elif m.get("type") == "session":
                events.append(m)
        return got, events

    async def until_closed(self, r, events):
        """Reads to the close (4205 after a reset, restore or delete),
        adding `session` events to events; returns the close code."""
        while True:
            try:
                m = await r.recv_json()
            except Closed as c:
                return c.code
            except EOFError:
                return None
            if m.get("type") == "session":
                events.append(m)

    async def content(self, srv, session):
        """The node uuids a new client sees, or None when the session was
        deleted (its directory is gone)."""
        if not os.path.exists(os.path.join(srv.session_dir(session), "session.db")):
            return None
        c, _, syncs, _ = await self.joined(srv, "checker", session)
        nodes = {n["uuid"] for s in syncs for n in s.get("nodes", [])}
        await c.close()
        return frozenset(nodes)

    def backups_reason(self, srv, session, reason):
        d = os.path.join(srv.session_dir(session), "backups")
        n = 0
        for f in os.listdir(d):
            if f.endswith(".db"):
                db = sqlite3.connect(f"file:{os.path.join(d, f)}?mode=ro", uri=True)
                try:
                    row = db.execute("SELECT value FROM meta WHERE key='backup_reason'"
                                     ).fetchone()
                finally:
                    db.close()
                n += row is not None and row[0] == reason
        return n


# ======================================================================
class TwoRestoresTest(RaceCase):
    async def test_two_restores_in_one_write(self):
        """The first is installed and reported, the second is refused."""
        srv = self.server()
        b1, b2, _ = await self.prepare(srv, "test")
        r = await self.admin_raw(srv, "test")
        await r.send_json_many([{"type": "admin.restore", "id": 1, "backup": b1},
                                {"type": "admin.restore", "id": 2, "backup": b2}])
        got, events = await self.ws_answers(r, [1, 2])
        self.assertEqual(await self.until_closed(r, events), 4205)
        self.assertEqual((got[1]["type"], got[1].get("backup")), ("ok", b1), got)
        self.assertEqual((got[2]["type"], got[2].get("code")), ("error", "conflict"), got)
        self.assertIn("restore", got[2]["message"])
        self.assertEqual([e.get("restored") for e in events], [b1])
        self.assertEqual(await self.content(srv, "test"), {"A"})
        self.assertEqual(self.backups_reason(srv, "test", "restore"), 1)
        self.assertFalse(os.path.exists(os.path.join(srv.session_dir("test"), ".restore-pin")))

    async def test_http_restore_in_the_same_pass_as_admin_restore(self):
        srv = self.server()
        b1, b2, _ = await self.prepare(srv, "test")
        r = await self.admin_raw(srv, "test")
        h = RawHTTP(srv)
        try:
            with stopped(srv):
                await r.send_json_many([{"type": "admin.restore", "id": 1, "backup": b1}])
                h.send("POST", "/api/sessions/test/restore", {"backup": b2})
            got, events = await self.ws_answers(r, [1])
            st, _, body = await asyncio.to_thread(h.response)
            self.assertEqual(await self.until_closed(r, events), 4205)
        finally:
            h.close()
        doc = json.loads(body)
        # one of them ran, the other was refused; what was reported is
        # what the session holds
        if got[1]["type"] == "ok":
            self.assertEqual((st, doc["code"]), (409, "conflict"), doc)
            want, content = b1, {"A"}
        else:
            self.assertEqual(got[1]["code"], "conflict", got)
            self.assertEqual((st, doc["backup"]), (200, b2), doc)
            want, content = b2, {"A", "B"}
        self.assertEqual([e.get("restored") for e in events], [want])
        self.assertEqual(await self.content(srv, "test"), content)
        self.assertEqual(self.backups_reason(srv, "test", "restore"), 1)

    async def test_reset_then_restore_in_one_write(self):
        srv = self.server()
        b1, _, _ = await self.prepare(srv, "test")
        r = await self.admin_raw(srv, "test")
        await r.send_json_many([{"type": "admin.reset", "id": 1},
                                {"type": "admin.restore", "id": 2, "backup": b1},
                                {"type": "admin.reset", "id": 3},
                                {"type": "node.create", "id": 4, "uuid": "D",
                                 "kind": "Object", "data": {}}])
        got, events = await self.ws_answers(r, [1, 2, 3, 4])
        self.assertEqual(await self.until_closed(r, events), 4205)
        self.assertEqual(got[1]["type"], "ok", got)
        self.assertEqual([got[i].get("code") for i in (2, 3, 4)],
                         ["conflict", "conflict", "unavailable"], got)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(await self.content(srv, "test"), set())
        self.assertEqual(self.backups_reason(srv, "test", "reset"), 1)

    async def test_two_kicks_in_one_write(self):
        srv = self.server()
        _, _, bob = await self.prepare(srv, "test")
        r = await self.admin_raw(srv, "test")
        await r.send_json_many([{"type": "admin.kick", "id": 1, "user": "bob"},
                                {"type": "admin.kick", "id": 2, "user": "bob"}])
        got, _ = await self.ws_answers(r, [1, 2])
        self.assertEqual(got[1]["type"], "ok", got)
        self.assertEqual(got[2].get("code"), "not_found", got)
        self.assertEqual(await bob.closed(), 4403)


class SaveDuringDeleteTest(RaceCase):
    async def test_http_save_while_delete_saves_is_answered(self):
        """Which of two sockets is read first in a pass is the server's
        business: both orders of opening them are tried."""
        srv = self.server()
        for n, delete_first in enumerate((True, False)):
            session = f"s{n}"
            await self.prepare(srv, session)
            first, second = RawHTTP(srv), RawHTTP(srv)
            d, s = (first, second) if delete_first else (second, first)
            try:
                with stopped(srv):
                    d.send("DELETE", f"/api/sessions/{session}")
                    s.send("POST", f"/api/sessions/{session}/save")
                st_d, _, body_d = await asyncio.to_thread(d.response)
                st_s, _, body_s = await asyncio.to_thread(s.response, 5.0)
            finally:
                d.close()
                s.close()
            self.assertEqual(st_d, 200, body_d)
            # read after the delete: refused at once; before it: saved
            self.assertIn(st_s, (409, 200), body_s)
            if st_s == 409:
                self.assertEqual(json.loads(body_s)["code"], "conflict")
            self.assertFalse(os.path.exists(srv.session_dir(session)))
        # and the server goes on serving
        st, _, _ = srv.http_get("/healthz")
        self.assertEqual(st, 200)

    async def test_ws_save_after_delete_in_the_same_pass(self):
        srv = self.server()
        await self.prepare(srv, "test")
        r = await self.admin_raw(srv, "test")
        d = RawHTTP(srv)
        try:
            with stopped(srv):
                d.send("DELETE", "/api/sessions/test")
                await r.send_json_many([{"type": "admin.save", "id": 1}])
            st, _, body = await asyncio.to_thread(d.response)
            got, _ = await self.ws_answers(r, [1])
        finally:
            d.close()
        self.assertEqual(st, 200, body)
        self.assertIn(got[1]["type"] if got[1]["type"] == "ok" else got[1]["code"],
                      ("ok", "conflict"), got)


# ======================================================================
# Every pair of admin operations, in one pass.

WS_OPS = ("save", "reset", "restore", "kick")
HTTP_OPS = ("hsave", "hrestore", "hdelete")


def apply(state, op, backups):
    """The content after op (an accepted one) on state; None: deleted."""
    if op in ("save", "hsave", "kick"):
        return state
    if op == "reset":
        return frozenset()
    if op in ("restore", "hrestore"):
        return backups[op]
    if op == "hdelete":
        return None
    raise ValueError(op)


class PairwiseTest(RaceCase):
    """Each ordered pair of admin operations, WebSocket ones in one TCP
    write, HTTP ones written while the server is stopped: every request is
    answered, the end state is one that running the accepted ones one after
    the other gives, and every database passes quick_check."""

    async def run_pair(self, srv, session, op1, op2):
        b1, b2, bob = await self.prepare(srv, session)
        contents = {b1: frozenset({"A"}), b2: frozenset({"A", "B"})}
        # the first restore of the pair picks b1, the second b2
        pick = iter((b1, b2))
        plan = [(op, next(pick) if "restore" in op else None) for op in (op1, op2)]
        r = await self.admin_raw(srv, session)
        frames, https = [], []
        for i, (op, b) in enumerate(plan, 1):
            if op in WS_OPS:
                f = {"type": f"admin.{op}", "id": i}
                if op == "restore":
                    f["backup"] = b
                if op == "kick":
                    f["user"] = "bob"
                frames.append(f)
            else:
                https.append((i, op, b, RawHTTP(srv)))
        try:
            with stopped(srv):
                if frames:
                    await r.send_json_many(frames)
                for _, op, b, h in https:
                    if op == "hsave":
                        h.send("POST", f"/api/sessions/{session}/save")
                    elif op == "hrestore":
                        h.send("POST", f"/api/sessions/{session}/restore", {"backup": b})
                    else:
                        h.send("DELETE", f"/api/sessions/{session}")
            ok = {}
            got, events = await self.ws_answers(r, [f["id"] for f in frames])
            for i, m in got.items():
                if m["type"] == "ok":
                    ok[i] = True
                else:
                    self.assertIn(m["code"], ("conflict", "not_found", "unavailable"), m)
                    ok[i] = False
            for i, op, b, h in https:
                st, _, body = await asyncio.to_thread(h.response)
                doc = json.loads(body)
                if st == 200:
                    ok[i] = True
                else:
                    self.assertIn((st, doc.get("code")), ((409, "conflict"),
                                                          (404, "not_found")), doc)
                    ok[i] = False
        finally:
            for *_, h in https:
                h.close()
        if len(frames) == 2:
            self.assertTrue(ok[1], f"the first of one write must be carried out: {got}")
        accepted = [(plan[i - 1][0], plan[i - 1][1]) for i in sorted(ok) if ok[i]]
        if any(op in ("reset", "restore", "hrestore", "hdelete") for op, _ in accepted):
            self.assertEqual(await self.until_closed(r, events), 4205)
        start = frozenset({"A", "B", "C"})
        possible = set()
        for order in itertools.permutations(accepted):
            state = start
            for op, b in order:
                state = apply(state, op, {op: contents.get(b)})
            possible.add(state)
        seen = await self.content(srv, session)
        self.assertIn(seen, possible, f"accepted {accepted}")
        restored = [e["restored"] for e in events if "restored" in e]
        self.assertEqual(sorted(restored), sorted(b for op, b in accepted if "restore" in op))
        # every database there is passes quick_check
        d = srv.session_dir(session)
        if seen is None:
            trash = os.path.join(srv.data_dir, ".deleted")
            d = os.path.join(trash, [x for x in os.listdir(trash)
                                     if x.startswith(session + "-")][0])
        dbs = [os.path.join(d, "session.db")] + [
            os.path.join(d, "backups", f) for f in os.listdir(os.path.join(d, "backups"))
            if f.startswith("snapshot_") and f.endswith(".db")]  # not a save's temp file
        for p in dbs:
            self.assertEqual(quick_check(p), "ok", p)
        await bob.close()
        r.close()

    async def test_every_pair(self):
        srv = self.server()
        ops = WS_OPS + HTTP_OPS
        for n, (op1, op2) in enumerate(itertools.product(ops, ops)):
            with self.subTest(pair=(op1, op2)):
                await self.run_pair(srv, f"p{n}", op1, op2)
        st, _, _ = srv.http_get("/healthz")
        self.assertEqual(st, 200)


class RestoreWithReadersTest(RaceCase):
    """A read connection to the old database that outlives the online
    restore (a join's sync stalled by a client that does not read) must not
    take the new database's WAL with it when it closes: SQLite's last
    connection deletes session.db-wal by name."""

    async def test_acknowledged_write_after_restore_survives_kill(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "setup", "test", admin_password=ADMIN_PW)
        big = "x" * 100000
        frames = [dict(type="node.create", id=i, uuid=f"big{i}", kind="Object",
                       data={"blob": big}) for i in range(1, 121)]
        from harness import pipeline
        for r in await pipeline(a, frames):
            self.assertEqual(r["type"], "ok", r)
        b = (await must(a, "admin.save"))["backup"]
        await a.close()
        # a joiner that reads nothing: its sync snapshot stays open
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall((f"GET /s/test HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        sock.sendall(RawWS.encode_frame(0x1, json.dumps(
            {"type": "hello", "id": 1, "user": "stalled"}).encode()))
        try:
            await asyncio.to_thread(srv.wait_for_log, "user=stalled", TIMEOUT)
            r = await self.admin_raw(srv, "test")
            await r.send_json({"type": "admin.restore", "id": 2, "backup": b})
            got, _ = await self.ws_answers(r, [2])
            self.assertEqual(got[2]["type"], "ok", got)
            w, _, _, _ = await self.joined(srv, "writer", "test")
            ack = await must(w, "node.create", uuid="after", kind="Object", data={})
            self.assertGreater(ack["seq"], 0)
        finally:
            sock.close()  # the stalled reader goes: its snapshot closes
        await asyncio.to_thread(srv.wait_for_log, "user=stalled reason=", TIMEOUT)
        for _ in range(2):  # loop passes after the close
            self.assertEqual((await w.request("ping"))["type"], "pong")
        srv.kill9()
        srv.restart()
        c, _, syncs, _ = await self.joined(srv, "checker", "test")
        nodes = {n["uuid"] for s in syncs for n in s.get("nodes", [])}
        self.assertIn("after", nodes, "an acknowledged write was lost")
        self.assertEqual(quick_check(os.path.join(srv.session_dir("test"), "session.db")),
                         "ok")


class RestoreCannotOpenTest(RaceCase):
    """A restored backup that passes the checks but cannot be opened (here:
    its migration fails) puts the previous database back; nothing kills the
    server, and the other sessions are served throughout."""

    async def test_migration_failure_puts_the_old_database_back(self):
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "root", "test", admin_password=ADMIN_PW)
        await must(a, "node.create", uuid="kept", kind="Object", data={})
        b = (await must(a, "admin.save"))["backup"]
        await must(a, "node.create", uuid="late", kind="Object", data={})
        o, _, _, _ = await self.joined(srv, "olga", "other")
        # a schema version that says "migrate", over tables that exist
        path = os.path.join(srv.session_dir("test"), "backups", b)
        db = sqlite3.connect(path)
        db.execute("PRAGMA user_version = 3")
        db.commit()
        db.close()
        r = await a.request("admin.restore", backup=b)
        self.assertEqual((r["type"], r["code"]), ("error", "unavailable"), r)
        self.assertIn("nothing was restored", r["message"])
        self.assertTrue(srv.alive(), srv.log())
        # the session goes on with what it held
        await must(a, "node.create", uuid="after", kind="Object", data={})
        self.assertEqual(await self.content(srv, "test"), {"kept", "late", "after"})
        await must(o, "node.create", uuid="o1", kind="Object", data={})
        st, _, body = srv.http_get("/healthz")
        self.assertEqual((st, json.loads(body)["status"]), (200, "ok"), body)
        self.assertEqual(quick_check(os.path.join(srv.session_dir("test"), "session.db")),
                         "ok")
        self.assertFalse(os.path.exists(os.path.join(srv.session_dir("test"), ".restore-pin")))


    async def test_session_that_cannot_be_reopened_goes_out_of_service(self):
        """A delete whose move fails must reopen the session; when even that
        fails, that session alone goes out of service."""
        srv = self.server()
        a, _, _, _ = await self.joined(srv, "root", "test", admin_password=ADMIN_PW)
        await must(a, "node.create", uuid="kept", kind="Object", data={})
        o, _, _, _ = await self.joined(srv, "olga", "other")
        # the move to .deleted/ fails (a file of that name), and the
        # database says "migrate" over tables that exist
        with open(os.path.join(srv.data_dir, ".deleted"), "w") as f:
            f.write("in the way")
        db = sqlite3.connect(os.path.join(srv.session_dir("test"), "session.db"))
        db.execute("PRAGMA user_version = 3")
        db.commit()
        db.close()
        h = RawHTTP(srv)
        try:
            h.send("DELETE", "/api/sessions/test")
            st, _, body = await asyncio.to_thread(h.response)
        finally:
            h.close()
        self.assertEqual(st, 500, body)
        self.assertTrue(srv.alive(), srv.log())
        # that session is out of service, the others are served
        st, _, body = srv.http_get("/healthz")
        health = json.loads(body)
        self.assertEqual((st, health["status"], health["failed_sessions"]),
                         (200, "degraded", ["test"]), health)
        await must(o, "node.create", uuid="o1", kind="Object", data={})
        c = await self.client(srv, "test")
        r = await c.request("hello", user="late")
        self.assertEqual((r["type"], r["code"]), ("error", "unavailable"), r)
        self.assertTrue(os.path.exists(os.path.join(srv.session_dir("test"), "session.db")))


# ======================================================================
def silent_sockets(srv, n, source="127.0.0.1"):
    """n TCP connections to the server that never send a byte (the kernel
    completes them whether or not the server accepts them)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if source != "127.0.0.1":
            s.bind((source, 0))
        try:
            s.connect(("127.0.0.1", srv.port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


class SlowConnectionsTest(RaceCase):
    """Sockets that never send cannot take the server off the air
    (MAX_IDLE_PER_ADDRESS, MAX_IDLE_CONNECTIONS)."""

    @classmethod
    def setUpClass(cls):
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < min(hard, 4096):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

    async def served_within_a_second(self, srv, member, source="127.0.0.1"):
        t0 = time.monotonic()
        st, _, b = await asyncio.to_thread(srv.http_get, "/healthz", 1.0)
        self.assertEqual(st, 200, b)
        self.assertLess(time.monotonic() - t0, 1.0)
        t0 = time.monotonic()
        c = await self.client(srv, "test", open_timeout=1.0)
        w, _, _ = await asyncio.wait_for(c.hello("newcomer"), 1.0)
        self.assertEqual(w["type"], "welcome")
        self.assertLess(time.monotonic() - t0, 1.0)
        # a member from before keeps being served
        await asyncio.wait_for(must(member, "node.create", uuid=f"n{time.monotonic_ns()}",
                                    kind="Object", data={}), 1.0)
        await c.close()

    async def test_many_silent_sockets_from_one_address(self):
        srv = self.server()
        member, _, _, _ = await self.joined(srv, "member")
        socks = silent_sockets(srv, 1100)
        try:
            # the server has seen them all once healthz (sent after them on
            # the same address) is answered
            await self.served_within_a_second(srv, member)
            st, _, b = await asyncio.to_thread(srv.http_get, "/metrics")
            dropped = metric(b.decode(), "sessiond_idle_connections_dropped_total")
            self.assertGreaterEqual(dropped, 1100 - 32)
            # and again: the peer reconnecting changes nothing
            for s in socks:
                s.close()
            socks = silent_sockets(srv, 1100)
            await self.served_within_a_second(srv, member)
        finally:
            for s in socks:
                s.close()

    async def test_total_cap_across_addresses(self):
        srv = self.server(["--max-idle-connections", "50", "--max-idle-per-address", "20"])
        member, _, _, _ = await self.joined(srv, "member")
        socks = []
        try:
            for i in range(2, 22):
                socks += silent_sockets(srv, 20, f"127.0.0.{i}")
            await self.served_within_a_second(srv, member)
            st, _, b = await asyncio.to_thread(srv.http_get, "/metrics")
            dropped = metric(b.decode(), "sessiond_idle_connections_dropped_total")
            self.assertGreaterEqual(dropped, 400 - 50)
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    unittest.main()
