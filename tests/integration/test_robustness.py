#!/usr/bin/python3
"""Black-box tests of the server's robustness: one server per DATA_DIR, a
start-up that cannot check a session, a join that reads no sync, writes racing
admin.reset's backup, and the locks of a user whose leave could not be
committed (PROTOCOL.md sections 1, 2, 4, 8; README "Settings" and "Restore").

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_robustness.py -v
Every test starts its own server on a free port with a fresh data dir.
"""

import asyncio
import base64
import hashlib
import json
import os
import socket
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets.exceptions                                            # noqa: E402

from harness import (Client, Closed, RawWS, Server, ServerError, ServerTestCase,  # noqa: E402
                     TIMEOUT)
from support import (BACKUP_RE, FsizeServer, await_log, backup_files,  # noqa: E402
                     backups_dir, corrupt_files, create_node, log_lines, log_mark,
                     must, pipeline, sync_part, wait_until)

ADMIN = "r00t"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


async def create_many(c, prefix, n, data, chunk):
    """n pipelined node.create requests (uuids prefix00000...), chunk at a time;
    every one must get an ok."""
    for start in range(0, n, chunk):
        frames = [{"type": "node.create", "id": i, "uuid": f"{prefix}{i:05d}",
                   "kind": "Object", "data": data}
                  for i in range(start, min(n, start + chunk))]
        replies = await pipeline(c, frames, timeout=60)
        bad = [r for r in replies if r["type"] != "ok"]
        if bad:
            raise AssertionError(f"{len(bad)} of {len(frames)} creates failed: {bad[:2]}")


async def raw_connect(srv, path="/s/test", rcvbuf=None):
    """RawWS over a socket whose receive buffer is fixed at `rcvbuf` bytes (no
    kernel autotuning), so a peer that does not read stalls the server fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(
            sock, ("127.0.0.1", srv.port)), TIMEOUT)
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    if int(head.split(b" ", 2)[1]) != 101:
        writer.close()
        raise AssertionError(f"upgrade of {path} refused: {head[:200]!r}")
    return RawWS(reader, writer)


def healthz(srv):
    status, _, body = srv.http_get("/healthz")
    return status, json.loads(body)


# ======================================================================
class DataDirLockTest(ServerTestCase):
    """README Settings: one server per DATA_DIR (DATA_DIR/.sessiond.lock)."""

    async def test_second_server_on_same_data_dir_exits_2(self):
        first = self.server()
        a, _, _, _ = await self.joined(first, "alice")
        await create_node(a, "before")
        second = Server(data_dir=first.data_dir)   # same dir, another port
        self._servers.append(second)
        with self.assertRaises(ServerError):
            await asyncio.to_thread(second.start)
        rc = await asyncio.to_thread(second.proc.wait, TIMEOUT)
        await asyncio.to_thread(second.reader.join, 5)
        self.assertEqual(rc, 2, second.log())
        lines = [l for l in second.lines if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one stderr line\n{second.log()}")
        self.assertIn("in use", lines[0])
        # The first one keeps serving, old and new connections alike.
        self.assertTrue(first.alive(), first.log())
        await create_node(a, "after")
        b, w, syncs, _ = await self.joined(first, "bob")
        self.assertEqual(w["type"], "welcome")
        self.assertEqual({n["uuid"] for n in sync_part(syncs, "nodes")}, {"before", "after"})


# ======================================================================
class StartupCheckTest(ServerTestCase):
    """README Restore: a session that cannot be checked (here: locked by another
    program) stops the start, names the file and leaves it untouched."""

    async def test_locked_session_db_is_skipped_untouched(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, w, _, _ = await self.joined(srv, "root", admin_password=ADMIN)
        epoch = w["epoch"]
        uuids = {f"n{i:02d}" for i in range(20)}
        for u in sorted(uuids):
            await create_node(a, u, data={"name": u})
        await must(a, "admin.save")
        await a.close()
        self.assertEqual(await asyncio.to_thread(srv.stop), 0, srv.log())

        sdir = srv.session_dir("test")
        db = os.path.join(sdir, "session.db")
        digest = sha(db)
        backups = backup_files(srv, "test")
        self.assertTrue(backups)
        # Another program holds an exclusive lock on the database (WAL mode:
        # locking_mode=EXCLUSIVE makes even readers wait).
        con = sqlite3.connect(db, isolation_level=None, timeout=0)
        try:
            con.execute("PRAGMA locking_mode=EXCLUSIVE")
            con.execute("BEGIN EXCLUSIVE")
            probe = sqlite3.connect(db, timeout=0)
            try:
                with self.assertRaises(sqlite3.OperationalError,
                                       msg="the test's lock does not block a reader"):
                    probe.execute("SELECT count(*) FROM nodes").fetchone()
            finally:
                probe.close()

            # The locked session is skipped, untouched and refused; the
            # server starts and serves the others, and says it is degraded.
            await asyncio.to_thread(srv.restart)
            self.assertTrue([l for l in srv.lines if "test" in l and "CANNOT BE OPENED" in l],
                            f"no log line names the session\n{srv.log()}")
            status, _, body = srv.http_get("/healthz")
            health = json.loads(body)
            self.assertEqual(status, 200)
            self.assertEqual(health["status"], "degraded")
            self.assertEqual(health["failed_sessions"], ["test"])
            c = await Client.connect(srv, "test")
            await c.send({"type": "hello", "id": 1, "user": "root"})
            self.assertEqual(await c.closed(), 1011)
            errors = [m for m in c.pending if m["type"] == "error"]
            self.assertEqual(errors[0]["code"], "unavailable", errors)
            other, w, _, _ = await self.joined(srv, "alice", "other")
            self.assertEqual(w["session"], "other")
            await other.close()
            self.assertEqual(await asyncio.to_thread(srv.stop), 0, srv.log())
            self.assertEqual(sha(db), digest, "session.db changed")
            self.assertEqual(corrupt_files(sdir), [])
            self.assertEqual(backup_files(srv, "test"), backups)
        finally:
            con.close()
        self.assertEqual(sha(db), digest, "session.db changed")

        # Lock released: the session is back as it was.
        await asyncio.to_thread(srv.restart)
        b, w2, syncs, _ = await self.joined(srv, "root", admin_password=ADMIN)
        self.assertEqual(w2["epoch"], epoch)
        nodes = {n["uuid"]: n for n in sync_part(syncs, "nodes")}
        self.assertEqual(set(nodes), uuids)
        self.assertEqual(nodes["n07"]["data"], {"name": "n07"})
        self.assertEqual(corrupt_files(sdir), [])


# ======================================================================
class LaggingJoinTest(ServerTestCase):
    """PROTOCOL.md 1 (Choice): a client that has not taken a single sync frame
    for TIMEOUT seconds is lagging: closed 4429, the others see a `user`
    leave with reason `lagging`."""

    async def test_join_that_reads_no_sync_is_closed_as_lagging(self):
        srv = self.server(["--timeout", "3", "--save-interval", "0", "--rate-limit", "0"])
        a, _, _, _ = await self.joined(srv, "alice")
        # Chunks of 500: a pipeline of creates is answered well within the
        # 3 s TIMEOUT even on a loaded machine (the client is silent while it
        # waits, and a silent client is closed 4408).
        await create_many(a, "n", 20000, {"b": "x" * 500}, chunk=500)

        slow = await raw_connect(srv, rcvbuf=16384)
        self._clients.append(slow)
        await slow.send_json({"type": "hello", "id": 1, "user": "slow"})
        t0 = time.monotonic()
        await a.next_event("user", pred=lambda m: m.get("op") == "join"
                           and m["user"]["name"] == "slow")

        # `slow` never reads, but keeps sending (a request without id every
        # 0.5 s), so it is not silent (4408): only the lagging rule applies.
        async def keep_sending():
            try:
                while True:
                    await asyncio.sleep(0.5)
                    slow.send_frame(0x1, b'{"type":"ping"}')
                    await slow.writer.drain()
            except (ConnectionError, OSError):
                pass

        sender = asyncio.ensure_future(keep_sending())
        leave, oks = None, []
        try:
            while leave is None and time.monotonic() - t0 < 10:
                await must(a, "node.update", uuid="n00000", patch={"k": len(oks)})
                oks.append(time.monotonic())
                leave = next((m for m in a.pending if m.get("type") == "user"
                              and m.get("op") == "leave" and m.get("user") == "slow"), None)
                await asyncio.sleep(0.01)    # pace the writer, ~100 updates/s
        finally:
            sender.cancel()
        waited = time.monotonic() - t0
        lag_logs = log_lines(srv, "4429")
        self.assertIsNotNone(
            leave, f"no `user` leave of the non-reading join within {waited:.1f}s "
                   f"(TIMEOUT=3); server log lines about 4429: {lag_logs}")
        self.assertEqual(leave["reason"], "lagging", leave)
        gaps = [y - x for x, y in zip([t0] + oks, oks)]
        self.assertLess(max(gaps), 2.0, "alice's updates stalled while `slow` lagged")
        # Still serving alice after the close.
        for i in range(20):
            await must(a, "node.update", uuid="n00001", patch={"after": i})
        # The connection is gone from the server (only alice's is left) ...
        await wait_until(lambda: healthz(srv)[1]["connections"] == 1, 5,
                         "/healthz connections == 1")
        # ... and what `slow` finally reads ends with 4429 (or a bare EOF when
        # the close frame could not be written to a full socket).
        code = await slow.wait_close(TIMEOUT)
        self.assertIn(code, (4429, None))
        print(f"\n  lagging join: leave after {waited:.1f}s, {len(oks)} alice oks meanwhile, "
              f"worst gap {max(gaps) * 1000:.0f} ms, slow's close code {code}",
              file=sys.stderr)


# ======================================================================
class Stream:
    """A client that pipelines requests (bursts of 20, 2 ms apart) while
    reading every frame, until the server closes the connection. `inject` =
    (k, coroutine function): awaited right after the k-th burst, so what it
    sends lands among this stream's requests; with `then` set, the stream
    stops sending `then` bursts after that."""

    def __init__(self, client, make, inject=None, then=None):
        self.c = client
        self.make = make            # i -> request frame (with an id)
        self.inject = inject
        self.then = then
        self.got = []               # every frame received, in order
        self.close = "open"         # close code received (None: no close frame)
        self.sent = 0
        self.flowing = asyncio.Event()
        self.tasks = []

    def start(self):
        self.tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._send())]

    async def _read(self):
        try:
            while True:
                m = await self.c.recv(30)
                self.got.append(m)
                if m.get("type") in ("ok", "pong"):
                    self.flowing.set()
        except Closed as c:
            self.close = c.code

    async def _send(self):
        burst, stop_at = 0, None
        try:
            while self.sent < 50000 and burst != stop_at:
                for _ in range(20):
                    await self.c.send(self.make(self.sent))
                    self.sent += 1
                burst += 1
                if self.inject and burst == self.inject[0]:
                    await self.inject[1]()
                    if self.then is not None:
                        stop_at = burst + self.then
                    continue
                await asyncio.sleep(0.002)
        except websockets.exceptions.ConnectionClosed:
            pass

    async def wait(self, timeout=30):
        try:
            await asyncio.wait_for(asyncio.gather(*self.tasks), timeout)
        finally:
            for t in self.tasks:
                t.cancel()

    def replies(self):
        return [m for m in self.got if m.get("type") in ("ok", "error", "pong")]


class ResetBackupTest(ServerTestCase):
    """PROTOCOL.md 8: writes that reach the server while admin.reset writes
    its backup get `unavailable`; nothing acknowledged is lost by the reset;
    then every connection gets the `session` reset event and close 4205."""

    async def test_creates_racing_admin_reset_are_in_its_backup(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0",
                           "--rate-limit", "0"])
        adm, w, _, _ = await self.joined(srv, "root", admin_password=ADMIN)
        await create_many(adm, "big", 2000, {"blob": "q" * 20000}, chunk=100)  # ~40 MB
        bob, _, _, _ = await self.joined(srv, "bob")

        def create(i):
            return {"type": "node.create", "id": f"c{i}", "uuid": f"u{i:05d}",
                    "kind": "Probe", "data": {"i": i}}

        # Creates that race the reset: pipelined right before it (the first
        # half surely acknowledged before it is sent), so some are read
        # before the reset and some in the same loop pass. Whatever is
        # acknowledged must be in the reset's backup.
        for i in range(100):
            await bob.send(create(i))
        early = [await bob.reply("c49")]
        mark = log_mark(srv)
        rid = adm.next_id()
        await adm.send({"type": "admin.reset", "id": rid})
        # The server has read the reset; from its next loop pass until the
        # backup is written, every write is refused. Creates sent from now
        # on, one at a time, are read in a later pass: the first is refused
        # unless the whole ~40 MB backup was written within one round trip.
        await await_log(srv, "requested a reset", start=mark)
        direct, i = [], 100
        try:
            while i < 200 and not any(m["type"] == "error" for m in direct):
                await bob.send(create(i))
                direct.append(await bob.reply(f"c{i}"))
                i += 1
        except Closed as c:
            self.fail(f"bob was closed ({c.code}) before any write was refused: the reset's "
                      f"backup ended within a round trip; got {direct[-3:]}")
        # And a burst right behind the refusal: refused too, or unanswered
        # once the reset has closed bob.
        sent = i
        try:
            for sent in range(i, i + 20):
                await bob.send(create(sent))
            sent += 1
        except websockets.exceptions.ConnectionClosed:
            pass
        reset = await adm.reply(rid, timeout=60)
        self.assertEqual(await bob.closed(), 4205, bob.pending[-3:])
        replies = early + direct + [m for m in bob.pending if m["type"] in ("ok", "error")]

        self.assertOk(reset, rid)
        self.assertNotEqual(reset["epoch"], w["epoch"])
        self.assertRegex(reset["backup"], BACKUP_RE)
        oks = [m for m in replies if m["type"] == "ok"]
        errors = [m for m in replies if m["type"] == "error"]
        self.assertEqual({e["code"] for e in errors} - {"unavailable"}, set(), errors[:3])
        self.assertTrue(errors, "no write was refused while the reset waited for its backup")
        self.assertEqual(direct[-1]["type"], "error", direct[-3:])
        self.assertTrue(oks, "no create was acknowledged before the reset")
        self.assertTrue(all(m["seq"] < reset["seq"] for m in oks),
                        [m for m in oks if m["seq"] >= reset["seq"]][:3])

        # Every acknowledged create is in the reset's backup.
        path = os.path.join(backups_dir(srv, "test"), reset["backup"])
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            in_backup = {u for (u,) in con.execute("SELECT uuid FROM nodes WHERE deleted = 0")}
        finally:
            con.close()
        acked = {m["uuid"] for m in oks}
        self.assertEqual(sorted(acked - in_backup), [],
                         f"{len(acked - in_backup)} acknowledged creates are not in "
                         f"{reset['backup']}")
        self.assertEqual(len([u for u in in_backup if u.startswith("big")]), 2000)

        # Every connection: the event (last), then 4205.
        event = {"type": "session", "reset": True, "epoch": reset["epoch"],
                 "seq": reset["seq"]}
        self.assertEqual(await adm.closed(), 4205)
        self.assertIn(event, adm.pending)
        self.assertEqual(bob.pending[-1], event)

        # The session itself starts over, empty, in the new epoch.
        c, w2, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual(w2["epoch"], reset["epoch"])
        self.assertEqual(sync_part(syncs, "nodes"), [])
        self.assertFalse(w2["initialized"])
        print(f"\n  reset race: bob sent {sent} creates: {len(oks)} ok, "
              f"{len(errors)} unavailable, {sent - len(replies)} unanswered; "
              f"reset seq {reset['seq']}", file=sys.stderr)

    async def test_reset_event_and_4205_reach_a_client_still_sending(self):
        # The same race, but bob keeps pipelining (as a busy add-on would)
        # until he reads the close: he must still get the `session` event and
        # close 4205, not a dropped connection (1006).
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0",
                           "--rate-limit", "0"])
        adm, _, _, _ = await self.joined(srv, "root", admin_password=ADMIN)
        await create_many(adm, "big", 2000, {"blob": "q" * 20000}, chunk=100)
        bob, _, _, _ = await self.joined(srv, "bob")
        stream = Stream(bob, lambda i: {"type": "node.create", "id": f"c{i}",
                                        "uuid": f"u{i:05d}", "kind": "Probe",
                                        "data": {"i": i}})
        stream.start()
        try:
            await asyncio.wait_for(stream.flowing.wait(), TIMEOUT)
            reset = await adm.request("admin.reset", timeout=60)
            self.assertOk(reset)
        finally:
            await stream.wait()
        event = {"type": "session", "reset": True, "epoch": reset["epoch"],
                 "seq": reset["seq"]}
        self.assertEqual(await adm.closed(), 4205)
        self.assertTrue(event in stream.got,
                        f"bob (still sending) got no reset event; close code "
                        f"{stream.close}; last frames {stream.got[-2:]}")
        self.assertEqual(stream.close, 4205, stream.got[-2:])


# ======================================================================
class LeaveLockReleaseTest(ServerTestCase):
    """PROTOCOL.md 4: when a user leaves, its locks are released -- also when
    the commit of that leave failed (disk full), once storage works again.

    The disk is "full" through RLIMIT_FSIZE on the WAL: filled with node
    updates until even the smallest write answers `unavailable`. alice's leave
    then fails to commit; the save her leave triggers checkpoints the WAL,
    which frees the space, so the failure is transient and bob must get the
    lock without a restart."""

    async def test_locks_released_after_failed_leave_commit(self):
        limit = 4 * 1024 * 1024        # below the WAL size that triggers a checkpoint
        srv = FsizeServer(["--save-interval", "0", "--rate-limit", "0"], fsize=limit)
        self._servers.append(srv)
        await asyncio.to_thread(srv.start)
        a, _, _, _ = await self.joined(srv, "alice")
        b, _, _, _ = await self.joined(srv, "bob")
        await create_node(a, "locked")
        await create_node(b, "filler")
        await create_node(b, "big", data={"blob": ""})
        await must(a, "node.lock", uuid="locked")
        await b.next_event("node", pred=lambda m: m.get("uuid") == "locked"
                           and m.get("op") == "owner" and m.get("owner") == "alice")
        r = await b.request("node.lock", uuid="locked")
        self.assertError(r, "forbidden", re=r["re"])

        # Fill the disk: large writes, then small ones, then the smallest
        # (a lock: one node row and the seq), until each fails 3 times running.
        # A failed write changes nothing, so the lock filler retries the same
        # request until it succeeds and only then toggles lock/unlock.
        async def fill(make, what):
            fails = n = 0
            toggle = False
            while fails < 3:
                n += 1
                self.assertLess(n, 5000, f"{what}: never `unavailable`")
                type, fields = make(n, toggle)
                r = await b.request(type, **fields)
                if r["type"] == "ok":
                    fails = 0
                    toggle = not toggle
                else:
                    self.assertError(r, "unavailable", re=r["re"])
                    fails += 1
            return n

        blob = os.urandom(20000).hex()
        big = await fill(lambda n, t: ("node.update", {"uuid": "big",
                                                       "data": {"blob": f"{n}{blob}"}}), "big")
        small = await fill(lambda n, t: ("node.update", {"uuid": "filler", "patch": {"n": n}}),
                           "small")
        tiny = await fill(lambda n, t: ("node.unlock" if t else "node.lock",
                                        {"uuid": "filler"}), "lock")
        mark = log_mark(srv)

        await a.close()                 # alice leaves; her leave cannot be committed
        await b.next_event("user", pred=lambda m: m.get("op") == "leave"
                           and m.get("user") == "alice")
        await await_log(srv, "Commit failed", start=mark)
        ev = await b.next_event("node", timeout=10,
                                pred=lambda m: m.get("uuid") == "locked"
                                and m.get("op") == "owner")
        self.assertIsNone(ev["owner"], ev)
        r = await must(b, "node.lock", uuid="locked")
        self.assertEqual(r["owner"], "bob")
        self.assertGreater(r["seq"], ev["seq"])
        print(f"\n  failed leave commit: filled with {big}+{small}+{tiny} writes; lock "
              f"released at seq {ev['seq']}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
