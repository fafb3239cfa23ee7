#!/usr/bin/python3
"""Black-box tests of saves, backups and recovery (PROTOCOL.md sections 2, 8, 10).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_saves.py -v
Every test starts its own server on a free port with a fresh data dir
(the corruption tests copy a data dir built once per class).
"""

import asyncio
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, Client, ServerTestCase, TIMEOUT, pipeline   # noqa: E402
from support import (BACKUP_RE, FsizeServer, await_log, backup_files,  # noqa: E402
                     backup_sort_key, backups_dir, corrupt_files, corrupt_header,
                     corrupt_truncate, corrupt_zero_pages, create_node, log_lines,
                     log_mark, must, pipeline, read_metadata, sqlite3_cli, sync_part,
                     wait_until)

ADMIN = "r00t"
META_FIELDS = {"timestamp", "datetime", "reason", "initialized", "user_count", "node_count",
               "task_count", "chat_count", "seq", "epoch", "backup"}
SAVED_RE = re.compile(r"Session saved \(session=(\S+) reason=(\S+) backup=(\S+) "
                      r"bytes=(\d+) ms=(\d+)\)")


def saved_lines(srv, reason=None, start=0):
    """Parsed 'Session saved' log lines: [(session, reason, backup, bytes, ms)]."""
    out = []
    for line in log_lines(srv, "Session saved (", start):
        m = SAVED_RE.search(line)
        if m and (reason is None or m.group(2) == reason):
            out.append((m.group(1), m.group(2), m.group(3), int(m.group(4)), int(m.group(5))))
    return out


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class SaveCase(ServerTestCase):
    async def admin(self, srv, session="test", user="root"):
        c, w, s, d = await self.joined(srv, user, session, admin_password=ADMIN)
        self.assertEqual(w["role"], "admin")
        return c, w


# ======================================================================
class AdminSaveTest(SaveCase):
    """admin.save, admin.backups, session_metadata.json."""

    async def test_admin_save(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, w = await self.admin(srv)
        b, _, _, _ = await self.joined(srv, "bob")
        for i in range(3):
            await create_node(a, f"n{i}", data={"i": i, "x": i * 10})
        await must(a, "node.delete", uuid="n2")
        await must(b, "task.create", title="keep")
        t2 = await must(b, "task.create", title="drop")
        await must(b, "task.delete", task=t2["task"]["id"])
        for i in range(4):
            await must(b, "chat.send", text=f"c{i}")
        init = await must(a, "session.init")
        seq = init["seq"]

        r = await a.request("admin.save", timeout=30)
        self.assertEqual(r["type"], "ok", r)
        self.assertRegex(r["backup"], BACKUP_RE)
        self.assertIsInstance(r["bytes"], int)
        self.assertIsInstance(r["ms"], int)
        self.assertGreater(r["bytes"], 0)
        self.assertGreaterEqual(r["ms"], 0)
        path = os.path.join(backups_dir(srv, "test"), r["backup"])
        self.assertTrue(os.path.isfile(path), f"{path} missing")
        self.assertEqual(os.path.getsize(path), r["bytes"])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(sqlite3_cli(path, "PRAGMA quick_check"), (0, "ok", ""))
        rc, out, err = sqlite3_cli(path, "SELECT json_extract(data,'$.x') FROM nodes "
                                         "WHERE uuid='n1'")
        self.assertEqual((rc, out), (0, "10"), err)
        self.assertEqual([x for x in os.listdir(backups_dir(srv, "test"))
                          if not BACKUP_RE.match(x)], [], "stray files in backups/")

        meta = read_metadata(srv, "test")
        self.assertEqual(set(meta) - META_FIELDS, set(), meta)
        self.assertEqual(META_FIELDS - set(meta), set(), meta)
        self.assertEqual(meta["reason"], "admin")
        self.assertEqual(meta["backup"], r["backup"])
        self.assertEqual(meta["epoch"], w["epoch"])
        self.assertEqual(meta["seq"], seq)
        self.assertIs(meta["initialized"], True)
        self.assertEqual((meta["user_count"], meta["node_count"], meta["task_count"],
                          meta["chat_count"]), (2, 2, 1, 4), meta)
        self.assertIsInstance(meta["timestamp"], (int, float))
        self.assertLess(abs(meta["timestamp"] - time.time()), 60)
        self.assertIsInstance(meta["datetime"], str)
        self.assertTrue(meta["datetime"].startswith(
            time.strftime("%Y-%m-%d", time.gmtime(meta["timestamp"]))), meta["datetime"])
        self.assertEqual(saved_lines(srv, "admin")[-1][2], r["backup"])

        # Not for users.
        for typ in ("admin.save", "admin.backups"):
            r2 = await b.request(typ)
            self.assertError(r2, "forbidden", re=r2["re"])
        self.assertEqual(backup_files(srv, "test"), [r["backup"]])

    async def test_admin_backups_newest_first(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, _ = await self.admin(srv)
        names = []
        for i in range(3):
            await create_node(a, f"n{i}")
            r = await a.request("admin.save", timeout=30)
            self.assertEqual(r["type"], "ok", r)
            names.append(r["backup"])
        self.assertEqual(len(set(names)), 3, names)
        self.assertEqual(sorted(names, key=backup_sort_key), names)
        r = await must(a, "admin.backups")
        got = r["backups"]
        self.assertEqual([x["file"] for x in got], names[::-1])
        for x in got:
            self.assertEqual(x["bytes"], os.path.getsize(
                os.path.join(backups_dir(srv, "test"), x["file"])))
            self.assertIsInstance(x["created_at"], (int, float))
            self.assertLess(abs(x["created_at"] - time.time()), 120)
            self.assertIn("reason", x)
        self.assertGreaterEqual(got[0]["created_at"], got[-1]["created_at"])

    async def test_admin_backups_reason(self):
        """Each entry of admin.backups carries the reason of its save."""
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, _ = await self.admin(srv)
        await create_node(a, "n")
        r = await a.request("admin.save", timeout=30)
        self.assertEqual(r["type"], "ok", r)
        got = (await must(a, "admin.backups"))["backups"]
        self.assertEqual([(x["file"], x["reason"]) for x in got], [(r["backup"], "admin")])

    async def test_rotation(self):
        # MAX_BACKUPS alone (hourly/daily retention would keep one more
        # when the saves straddle an hour)
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0",
                           "--max-backups", "3", "--backup-keep-hourly", "0",
                           "--backup-keep-daily", "0"])
        a, _ = await self.admin(srv)
        names = []
        # Backup names have a one-second stamp; start early in a second so
        # the six saves (a few ms each) share one stamp and get _N suffixes,
        # the case where a name freed by rotation could be handed out again.
        if time.time() % 1 > 0.5:
            await asyncio.sleep(1.02 - time.time() % 1)
        for i in range(6):
            await create_node(a, f"n{i}")
            r = await a.request("admin.save", timeout=30)
            self.assertEqual(r["type"], "ok", r)
            names.append(r["backup"])
            on_disk = backup_files(srv, "test")
            # The save just made is the newest: rotation must never remove it.
            self.assertIn(r["backup"], on_disk,
                          f"save #{i + 1}: its ok names {r['backup']}, which rotation "
                          f"deleted; oks so far {names}; on disk {on_disk}")
            self.assertLessEqual(len(on_disk), 3, on_disk)
        self.assertEqual(len(set(names)), 6, names)
        self.assertEqual(sorted(backup_files(srv, "test")), sorted(names[-3:]))
        self.assertEqual(sorted(os.listdir(backups_dir(srv, "test"))), sorted(names[-3:]),
                         "stray files in backups/")
        r = await must(a, "admin.backups")
        self.assertEqual([x["file"] for x in r["backups"]], names[:-4:-1])
        # The newest holds everything.
        path = os.path.join(backups_dir(srv, "test"), names[-1])
        self.assertEqual(sqlite3_cli(path, "SELECT count(*) FROM nodes WHERE uuid LIKE 'n%'"),
                         (0, "6", ""))


# ======================================================================
class AutoSaveTest(SaveCase):

    async def test_auto_save_after_change_and_skip_when_idle(self):
        srv = self.server(["--save-interval", "1", "--log-level", "debug"])
        a, _, _, _ = await self.joined(srv, "alice")
        mark = log_mark(srv)
        ok = await create_node(a, "n1", data={"v": 1})
        line = await await_log(srv, "reason=auto-save", timeout=6, start=mark)
        m = SAVED_RE.search(line)
        self.assertIsNotNone(m, line)
        self.assertEqual((m.group(1), m.group(2)), ("test", "auto-save"))
        backup = m.group(3)
        self.assertRegex(backup, BACKUP_RE)
        path = os.path.join(backups_dir(srv, "test"), backup)
        self.assertTrue(os.path.isfile(path))
        self.assertEqual(int(m.group(4)), os.path.getsize(path))
        meta = read_metadata(srv, "test")
        self.assertEqual((meta["reason"], meta["backup"], meta["seq"]),
                         ("auto-save", backup, ok["seq"]))
        self.assertEqual(sqlite3_cli(path, "SELECT json_extract(data,'$.v') FROM nodes "
                                           "WHERE uuid='n1'"), (0, "1", ""))
        # Idle: the next intervals skip, no new backup.
        files = backup_files(srv, "test")
        mark = log_mark(srv)
        await await_log(srv, "Auto-save skipped (session=test", timeout=5, start=mark)
        mark2 = log_mark(srv)
        await await_log(srv, "Auto-save skipped (session=test", timeout=5, start=mark2)
        self.assertEqual(saved_lines(srv, start=mark), [])
        self.assertEqual(backup_files(srv, "test"), files)
        self.assertEqual(read_metadata(srv, "test")["backup"], backup)
        # A new change saves again.
        mark = log_mark(srv)
        await must(a, "chat.send", text="again")
        await await_log(srv, "reason=auto-save", timeout=6, start=mark)
        self.assertEqual(len(backup_files(srv, "test")), len(files) + 1)


# ======================================================================
class DisconnectAndShutdownTest(SaveCase):

    async def test_user_disconnect_saves(self):
        srv = self.server(["--save-interval", "0"])
        a, _, _, _ = await self.joined(srv, "alice")
        obs, _, _, _ = await self.joined(srv, "obs")
        ok = await create_node(a, "n1")
        mark = log_mark(srv)
        await a.close()
        ev = await obs.next_event("user", pred=lambda m: m["op"] == "leave")
        self.assertEqual(ev["reason"], "disconnect")
        line = await await_log(srv, "reason=user_disconnect:alice ", timeout=10, start=mark)
        backup = SAVED_RE.search(line).group(3)
        self.assertIn(backup, backup_files(srv, "test"))
        meta = read_metadata(srv, "test")
        self.assertEqual((meta["reason"], meta["backup"]), ("user_disconnect:alice", backup))
        self.assertGreaterEqual(meta["seq"], ok["seq"])

    async def test_sigterm_closes_1001_saves_and_keeps_everything(self):
        srv = self.server(["--save-interval", "0"])
        a, w, _, _ = await self.joined(srv, "alice")
        b, _, _, _ = await self.joined(srv, "bob")
        frames = [{"type": "node.create", "id": i, "uuid": f"n{i:03d}", "kind": "k",
                   "data": {"i": i}} for i in range(100)]
        frames += [{"type": "task.create", "id": f"t{i}", "title": f"t{i}"} for i in range(10)]
        frames += [{"type": "chat.send", "id": f"c{i}", "text": f"c{i}"} for i in range(10)]
        ra = await pipeline(a, frames)
        self.assertTrue(all(r["type"] == "ok" for r in ra), ra[:3])
        rb = await pipeline(b, [{"type": "node.update", "id": i, "uuid": f"n{i:03d}",
                                 "patch": {"b": True}} for i in range(50)])
        self.assertTrue(all(r["type"] == "ok" for r in rb), rb[:3])
        last = max(r["seq"] for r in ra + rb)
        rc = await asyncio.to_thread(srv.stop)
        self.assertEqual(await a.closed(), 1001)
        self.assertEqual(await b.closed(), 1001)
        self.assertEqual(rc, 0, srv.log())
        shut = saved_lines(srv, "shutdown")
        self.assertEqual(len(shut), 1, srv.log())
        meta = read_metadata(srv, "test")
        self.assertEqual((meta["reason"], meta["backup"], meta["seq"]),
                         ("shutdown", shut[0][2], last))
        self.assertEqual((meta["node_count"], meta["task_count"], meta["chat_count"]),
                         (100, 10, 10))
        srv.restart()
        c, wc, syncs, synced = await self.joined(srv, "carol")
        self.assertEqual(wc["epoch"], w["epoch"])
        self.assertEqual(synced["seq"], last)
        nodes = {n["uuid"]: n for n in sync_part(syncs, "nodes")}
        self.assertEqual(len(nodes), 100)
        for i in range(100):
            self.assertEqual(nodes[f"n{i:03d}"]["data"],
                             {"i": i, "b": True} if i < 50 else {"i": i})
        self.assertEqual(sorted(t["title"] for t in sync_part(syncs, "tasks")),
                         sorted(f"t{i}" for i in range(10)))
        self.assertEqual([m["text"] for m in sync_part(syncs, "chat")],
                         [f"c{i}" for i in range(10)])


# ======================================================================
class CorruptionTest(SaveCase):
    """Start-up check and restore from the newest good backup."""

    template = None

    @classmethod
    def setUpClass(cls):
        cls.template = tempfile.mkdtemp(prefix="sessiond-tpl-")
        srv = Server(["--admin-password", ADMIN, "--save-interval", "0"],
                     data_dir=cls.template)
        srv.start()
        try:
            cls.info = asyncio.run(cls._build(srv))
        except BaseException:
            srv.cleanup()
            shutil.rmtree(cls.template, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.template, ignore_errors=True)

    @staticmethod
    async def _build(srv):
        c = await Client.connect(srv, "test")
        w, _, _ = await c.hello("root", admin_password=ADMIN)
        pad = "p" * 3000
        frames = [{"type": "node.create", "id": i, "uuid": f"n{i:02d}", "kind": "k",
                   "data": {"i": i, "pad": pad}} for i in range(20)]
        replies = await pipeline(c, frames)
        assert all(r["type"] == "ok" for r in replies), replies[:3]
        await must(c, "task.create", title="restore me")
        await must(c, "chat.send", text="hello backup")
        b1 = (await must(c, "admin.save"))["backup"]
        await create_node(c, "n20", data={"i": 20})
        b2 = (await must(c, "admin.save"))["backup"]
        last = await create_node(c, "n21", data={"i": 21})    # only in the shutdown save
        # SIGTERM with the client still connected: its leave has reason
        # shutdown, so the only save after b2 is the shutdown save.
        rc = await asyncio.to_thread(srv.stop)
        code = await c.closed()
        if rc != 0 or code != 1001:
            raise AssertionError(f"template server: exit {rc}, close {code}\n{srv.log()}")
        shut = saved_lines(srv, "shutdown")
        if len(shut) != 1 or len(saved_lines(srv)) != 3:
            raise AssertionError(f"template: expected saves admin, admin, shutdown\n{srv.log()}")
        return {"epoch": w["epoch"], "b1": b1, "b2": b2, "b3": shut[0][2], "seq": last["seq"]}

    def copy(self):
        d = tempfile.mkdtemp(prefix="sessiond-it-")
        shutil.rmtree(d)
        shutil.copytree(self.template, d)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def sdir(self, d):
        return os.path.join(d, "test")

    def check_backups_as_built(self, d):
        names = sorted(backup_files_in(self.sdir(d)), key=backup_sort_key)
        self.assertEqual(names, [self.info["b1"], self.info["b2"], self.info["b3"]])

    async def start_corrupt(self, mutate_db, backups_to_break=()):
        d = self.copy()
        self.check_backups_as_built(d)
        db = os.path.join(self.sdir(d), "session.db")
        for f in os.listdir(self.sdir(d)):
            self.assertFalse(f.startswith("session.db-wal") and
                             os.path.getsize(os.path.join(self.sdir(d), f)) > 0,
                             "template left a non-empty WAL")
        mutate_db(db)
        bad_sha = sha(db)
        for name, mutate in backups_to_break:
            mutate(os.path.join(self.sdir(d), "backups", name))
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"], data_dir=d)
        aside = corrupt_files(self.sdir(d))
        self.assertEqual(len(aside), 1, os.listdir(self.sdir(d)))
        self.assertRegex(os.path.basename(aside[0]), r"^session\.db\.corrupt-\d{8}_\d{6}$")
        self.assertEqual(sha(aside[0]), bad_sha, "the corrupt file was changed")
        return srv

    async def expect_restored(self, srv, backup, with_n21):
        lines = log_lines(srv, "restored from backup")
        self.assertEqual(len(lines), 1, srv.log())
        self.assertIn("test", lines[0])
        self.assertIn(backup, lines[0])
        c, w, syncs, synced = await self.joined(srv, "carol")
        self.assertNotEqual(w["epoch"], self.info["epoch"], "restore kept the old epoch")
        nodes = {n["uuid"]: n["data"] for n in sync_part(syncs, "nodes")}
        want = {f"n{i:02d}" for i in range(21 if not with_n21 else 22)}
        self.assertEqual(set(nodes), want)
        self.assertEqual(nodes["n07"]["i"], 7)
        self.assertEqual(len(nodes["n07"]["pad"]), 3000)
        self.assertEqual([t["title"] for t in sync_part(syncs, "tasks")], ["restore me"])
        self.assertEqual([m["text"] for m in sync_part(syncs, "chat")], ["hello backup"])
        # A client of the old history gets a full resync.
        d, wd, syncs, _ = await self.joined(srv, "dave", epoch=self.info["epoch"],
                                            since=self.info["seq"])
        self.assertEqual(wd["resume"], "full")
        self.assertEqual(len(sync_part(syncs, "nodes")), len(want))
        # The restored session works and its database passes the check.
        await create_node(c, "after")
        self.assertEqual(sqlite3_cli(os.path.join(srv.session_dir("test"), "session.db"),
                                     "PRAGMA quick_check")[:2], (0, "ok"))

    async def test_garbage_header(self):
        srv = await self.start_corrupt(corrupt_header)
        await self.expect_restored(srv, self.info["b3"], with_n21=True)

    async def test_truncated(self):
        srv = await self.start_corrupt(corrupt_truncate)
        await self.expect_restored(srv, self.info["b3"], with_n21=True)

    async def test_zeroed_pages(self):
        srv = await self.start_corrupt(corrupt_zero_pages)
        await self.expect_restored(srv, self.info["b3"], with_n21=True)

    async def start_with_fixture(self, name):
        """Replaces session.db with a corrupt file kept under tests/fixtures/."""
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", name)
        return await self.start_corrupt(lambda db: shutil.copyfile(src, db))

    async def test_fixture_garbage_header(self):
        srv = await self.start_with_fixture("corrupt_header.db")
        await self.expect_restored(srv, self.info["b3"], with_n21=True)

    async def test_fixture_truncated(self):
        srv = await self.start_with_fixture("corrupt_truncated.db")
        await self.expect_restored(srv, self.info["b3"], with_n21=True)

    async def test_fixture_zeroed_pages(self):
        srv = await self.start_with_fixture("corrupt_zeroed.db")
        await self.expect_restored(srv, self.info["b3"], with_n21=True)

    async def test_newest_backup_corrupt_too(self):
        srv = await self.start_corrupt(corrupt_header,
                                       [(self.info["b3"], corrupt_zero_pages)])
        # Named in the log whichever way it fails: unreadable when its
        # order is read, or by integrity_check when it is tried.
        self.assertTrue(log_lines(srv, self.info["b3"] + " failed integrity_check") or
                        log_lines(srv, self.info["b3"] + " cannot be read"), srv.log())
        await self.expect_restored(srv, self.info["b2"], with_n21=False)

    async def test_no_good_backup(self):
        srv = await self.start_corrupt(
            corrupt_truncate, [(self.info["b1"], corrupt_header),
                               (self.info["b2"], corrupt_truncate),
                               (self.info["b3"], corrupt_zero_pages)])
        loud = [l for l in log_lines(srv, "test") if " ERROR " in l and "EMPTY" in l.upper()]
        self.assertEqual(len(loud), 1, srv.log())
        c, w, syncs, _ = await self.joined(srv, "carol")
        self.assertNotEqual(w["epoch"], self.info["epoch"])
        self.assertEqual(sync_part(syncs, "nodes"), [])
        self.assertEqual(sync_part(syncs, "tasks"), [])
        self.assertEqual(w["resume"], "full")
        await create_node(c, "fresh")
        # The broken backups are not deleted either.
        self.assertEqual(len(backup_files(srv, "test")), 3)


def backup_files_in(session_dir):
    try:
        return [f for f in os.listdir(os.path.join(session_dir, "backups"))
                if BACKUP_RE.match(f)]
    except FileNotFoundError:
        return []


# ======================================================================
class LiveDatabaseTest(SaveCase):

    async def test_sqlite3_cli_reads_live_session(self):
        srv = self.server(["--save-interval", "0"])
        a, _, _, _ = await self.joined(srv, "alice")
        await create_node(a, "w", data={"x": 0})
        db = os.path.join(srv.session_dir("test"), "session.db")
        state = {"x": 0, "n": 1, "stop": False}

        async def writer():
            i = 0
            while not state["stop"]:
                i += 1
                await must(a, "node.update", uuid="w", data={"x": i})
                state["x"] = i
                await create_node(a, f"c{i}", data={"i": i})
                state["n"] = i + 1

        task = asyncio.ensure_future(writer())
        try:
            await wait_until(lambda: state["n"] > 20 or task.done(), 10, "writes")
            last_n = last_x = 0
            x_start = state["x"]
            for _ in range(15):
                n_before, x_before = state["n"], state["x"]
                rc, out, err = await asyncio.to_thread(
                    sqlite3_cli, db, "SELECT count(*) FROM nodes")
                self.assertEqual((rc, err), (0, ""), out)
                n = int(out)
                self.assertGreaterEqual(n, n_before)
                self.assertLessEqual(n, state["n"] + 1)
                self.assertGreaterEqual(n, last_n)
                rc, out, err = await asyncio.to_thread(
                    sqlite3_cli, db, "SELECT json_extract(data,'$.x') FROM nodes "
                                     "WHERE uuid='w'")
                self.assertEqual((rc, err), (0, ""), out)
                x = int(out)
                self.assertGreaterEqual(x, x_before)
                self.assertGreaterEqual(x, last_x)
                last_n, last_x = n, x
                self.assertFalse(task.done(), "the writer stopped")
        finally:
            state["stop"] = True
            await asyncio.wait_for(task, TIMEOUT)
        # The reads saw the writes go on (the writer was never blocked by them).
        self.assertGreater(last_x, x_start, "the reads saw no progress of the writer")
        self.assertEqual(sqlite3_cli(db, "SELECT count(*) FROM nodes")[:2],
                         (0, str(state["n"])))
        self.assertEqual(sqlite3_cli(db, "SELECT json_extract(data,'$.x') FROM nodes "
                                         "WHERE uuid='w'")[:2], (0, str(state["x"])))


# ======================================================================
class DiskFullTest(SaveCase):

    async def test_disk_full_answers_unavailable(self):
        limit = 4 * 1024 * 1024
        srv = FsizeServer(["--save-interval", "0"], fsize=limit)
        self._servers.append(srv)
        srv.start()
        a, _, _, _ = await self.joined(srv, "alice")
        blob = "z" * (100 * 1024)
        ok, failed = [], []
        i = 0
        while i < 300 and len(failed) < 8:
            uuid = f"big{i:03d}"
            r = await a.request("node.create", uuid=uuid, kind="Blob",
                                data={"i": i, "blob": blob}, timeout=30)
            if r["type"] == "ok":
                ok.append(uuid)
            else:
                self.assertError(r, "unavailable", re=r["re"])
                failed.append(uuid)
            i += 1
        self.assertTrue(failed, f"{len(ok)} nodes of 100 KB under a {limit}-byte file "
                                f"limit and never `unavailable`")
        self.assertTrue(ok)
        # Still serving.
        r = await a.request("ping")
        self.assertEqual(r["type"], "pong")
        r = await must(a, "node.get", uuid=ok[0])
        self.assertEqual(len(r["node"]["data"]["blob"]), len(blob))
        r = await a.request("node.get", uuid=failed[0])
        self.assertError(r, "not_found", re=r["re"])
        c, _, syncs, _ = await self.joined(srv, "carol")
        self.assertEqual({n["uuid"] for n in sync_part(syncs, "nodes")}, set(ok))
        rc = await asyncio.to_thread(srv.stop)
        # Without the limit everything acknowledged is there, nothing else.
        srv.fsize = None
        srv.restart()
        b, _, syncs, _ = await self.joined(srv, "bob")
        nodes = {n["uuid"]: n for n in sync_part(syncs, "nodes")}
        self.assertEqual(set(nodes), set(ok), f"stop exit status {rc}")
        for u in ok:
            self.assertEqual(len(nodes[u]["data"]["blob"]), len(blob))
        await create_node(b, "after-full", data={"blob": blob})
        print(f"\n  disk full: {len(ok)} ok, {len(failed)} unavailable (first at "
              f"{failed[0]}); exit status of SIGTERM under the limit: {rc}", file=sys.stderr)


# ======================================================================
class LargeSaveTest(SaveCase):

    async def test_save_of_100mb_does_not_stall_writes(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, _ = await self.admin(srv)
        blob = "q" * (100 * 1024)
        N = 1000
        for start in range(0, N, 50):
            frames = [{"type": "node.create", "id": i, "uuid": f"big{i:04d}", "kind": "Blob",
                       "data": {"i": i, "blob": blob}} for i in range(start, start + 50)]
            replies = await pipeline(a, frames, timeout=60)
            self.assertTrue(all(r["type"] == "ok" for r in replies), replies[:2])
        await create_node(a, "w", data={"n": 0})
        b, _, _, _ = await self.joined(srv, "writer")
        times = []
        state = {"stop": False}

        async def writer():
            i = 0
            while not state["stop"]:
                i += 1
                await must(b, "node.update", uuid="w", patch={"n": i})
                times.append(time.monotonic())

        task = asyncio.ensure_future(writer())
        try:
            await wait_until(lambda: len(times) >= 50 or task.done(), 10, "writer oks")
            t_save = time.monotonic()
            r = await a.request("admin.save", timeout=90)
            t_done = time.monotonic()
            n_at_done = len(times)
            await wait_until(lambda: len(times) >= n_at_done + 50 or task.done(), 10,
                             "writer oks after the save")
        finally:
            state["stop"] = True
            await asyncio.wait_for(task, 30)
        self.assertEqual(r["type"], "ok", r)
        self.assertGreater(r["bytes"], N * 100 * 1024)
        gaps = [y - x for x, y in zip(times, times[1:])]
        worst = max(gaps)
        during = [g for x, g in zip(times, gaps) if t_save - 1 <= x <= t_done]
        oks_during = len([x for x in times if t_save <= x <= t_done])
        print(f"\n  large save: {r['bytes'] / 1e6:.1f} MB in {r['ms']} ms "
              f"(request to ok {t_done - t_save:.2f} s); writer: {len(times)} oks, "
              f"{oks_during} during the save, worst gap {worst * 1000:.0f} ms "
              f"(during the save {max(during or [0]) * 1000:.0f} ms)", file=sys.stderr)
        self.assertGreater(oks_during, 0, "no writer ok while the save ran")
        self.assertLess(worst, 2.0, f"writer stalled {worst:.2f} s")


# ======================================================================
class StaleTempTest(SaveCase):
    """A save cut short by kill -9 leaves its temporary copy; the next start
    removes it (and only it), names it in the log and counts it."""

    async def test_kill_during_save_then_restart_removes_the_temporary(self):
        srv = self.server(["--admin-password", ADMIN, "--save-interval", "0"])
        a, _ = await self.admin(srv)
        await create_node(a, "first", data={"n": 1})
        r = await a.request("admin.save")
        self.assertEqual(r["type"], "ok", r)
        bdir = os.path.join(srv.session_dir("test"), "backups")
        kept = {f: sha(os.path.join(bdir, f)) for f in os.listdir(bdir)}
        self.assertEqual(list(kept), [r["backup"]])
        foreign = os.path.join(bdir, ".tmp-notes.txt")
        with open(foreign, "w") as f:
            f.write("an operator's file")
        # Large enough that the save's copy exists for a while.
        blob = "q" * (100 * 1024)
        for start in range(0, 400, 50):
            frames = [{"type": "node.create", "id": i, "uuid": f"big{i:04d}", "kind": "Blob",
                       "data": {"i": i, "blob": blob}} for i in range(start, start + 50)]
            replies = await pipeline(a, frames, timeout=60)
            self.assertTrue(all(x["type"] == "ok" for x in replies), replies[:2])

        found = []
        stop = threading.Event()

        def watch():  # the copy is the event we wait for: it has no message
            while not stop.is_set():
                try:
                    names = [n for n in os.listdir(bdir) if n.startswith(".tmp-snapshot_")]
                except FileNotFoundError:
                    names = []
                if names:
                    found.extend(names)
                    srv.kill9()
                    return
                time.sleep(0.0005)

        t = threading.Thread(target=watch)
        t.start()
        try:
            await a.send({"type": "admin.save", "id": "s2"})
            await asyncio.get_running_loop().run_in_executor(None, t.join, 60)
        finally:
            stop.set()
            t.join()
        self.assertTrue(found, "no temporary copy appeared during the save")
        tmp = found[0]
        self.assertTrue(os.path.exists(os.path.join(bdir, tmp)), "the kill came too late")

        srv.restart()
        self.assertTrue(srv.wait_for_log(tmp), "the log does not name " + tmp)
        line = [x for x in srv.lines if tmp in x][-1]
        self.assertRegex(line, r"(?i)warn")
        self.assertRegex(line, r"\(\d+ bytes\)")
        left = sorted(os.listdir(bdir))
        self.assertNotIn(tmp, left)
        self.assertFalse([n for n in left if n.startswith(".tmp-snapshot_")], left)
        self.assertTrue(os.path.exists(foreign), "an operator's file was removed")
        for f, digest in kept.items():
            self.assertEqual(sha(os.path.join(bdir, f)), digest, f)
        status, _, body = srv.http_get("/metrics")
        body = body.decode()
        m = re.search(r"^sessiond_stale_temp_removed_total (\d+)$", body, re.M)
        self.assertTrue(m, "metric missing")
        self.assertGreaterEqual(int(m.group(1)), 1)
        # The foreign file is not a backup either.
        c, _ = await self.admin(srv, user="root2")
        r = await c.request("admin.backups")
        self.assertEqual([b["file"] for b in r["backups"]], list(kept))


if __name__ == "__main__":
    unittest.main()
