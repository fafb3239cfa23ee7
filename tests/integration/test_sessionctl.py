#!/usr/bin/python3
"""Black-box tests of sessionctl, the operator's tool, against the real server.

Run:  SESSIOND=build/sessiond SESSIONCTL=build/sessionctl \
      /usr/bin/python3 tests/integration/test_sessionctl.py -v

Every command and every error the operator can meet: exit 0 done, 1 a check
failed, 2 usage or I/O, one line on stderr, nothing half-written left.
The server-side operations (online restore, re-epoch, delete, retention) and
tools/cron-backup are in test_ops.py.
"""

import asyncio
import json
import os
import shutil
import sqlite3
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ctl_support import (CtlCase, ctl, ctl_json, no_temp_files,  # noqa: E402
                         one_error_line, rows)
from harness import pipeline                                           # noqa: E402
from support import backups_dir, corrupt_zero_pages, must  # noqa: E402


# ======================================================================
class ReadCommandsTest(CtlCase):
    async def test_list_text_and_json(self):
        srv = self.server()
        c = await self.populate(srv, "alpha", n=3)
        await self.save(c)
        await self.populate(srv, "beta", user="bob", n=2)
        o = ctl_json("list", srv.data_dir)
        self.assertTrue(o["server_running"])
        by = {s["name"]: s for s in o["sessions"]}
        self.assertEqual(sorted(by), ["alpha", "beta"])
        self.assertEqual(by["alpha"]["nodes"], 3)
        self.assertEqual(by["alpha"]["tasks"], 1)
        self.assertEqual(by["alpha"]["chat"], 1)
        self.assertEqual(by["alpha"]["blobs"], 0)
        self.assertEqual(by["alpha"]["backups"], 1)
        self.assertEqual(by["alpha"]["seq"], 5)
        self.assertEqual(by["alpha"]["last_save"]["reason"], "admin")
        self.assertEqual(by["beta"]["backups"], 0)
        self.assertIsNone(by["beta"]["last_save"])
        self.assertGreater(by["alpha"]["bytes"], 0)
        rc, out, err = ctl("list", srv.data_dir)
        self.assertEqual(rc, 0, err)
        self.assertIn("a server is running", out)
        self.assertIn("alpha", out)
        # DATA_DIR from the environment, like the server
        rc, out, _ = ctl("list", env={"DATA_DIR": srv.data_dir})
        self.assertIn("beta", out)
        await c.close()
        srv.stop()
        self.assertFalse(ctl_json("list", srv.data_dir)["server_running"])

    async def test_info_of_dir_db_and_backup(self):
        srv = self.server()
        c = await self.populate(srv)
        b = await self.save(c)
        for p in (srv.session_dir("test"), os.path.join(srv.session_dir("test"), "session.db")):
            o = ctl_json("info", p)
            self.assertEqual(o["schema_version"], o["schema_version"])
            self.assertEqual(o["seq"], 7)
            self.assertEqual(o["nodes"], 5)
            self.assertEqual(o["tasks"], 1)
            self.assertEqual(o["chat"], 1)
            self.assertEqual(o["users"], 1)
            self.assertIsNone(o["backup"])
            self.assertFalse(o["initialized"])
            self.assertEqual(len(o["epoch"]), 32)
        o = ctl_json("info", os.path.join(backups_dir(srv, "test"), b))
        self.assertEqual(o["backup"]["reason"], "admin")
        self.assertIsInstance(o["backup"]["created_at"], float)
        rc, out, _ = ctl("info", srv.session_dir("test"))
        self.assertEqual(rc, 0)
        self.assertIn("schema version:", out)
        self.assertIn("nodes:          5", out)

    async def test_verify_sound_live_and_backup(self):
        srv = self.server()
        c = await self.populate(srv)
        b = await self.save(c)
        for p in (srv.session_dir("test"), os.path.join(backups_dir(srv, "test"), b)):
            rc, out, err = ctl("verify", p)
            self.assertEqual((rc, err), (0, ""))
            self.assertIn(": ok", out)
        self.assertEqual(ctl_json("verify", srv.session_dir("test")),
                         {"ok": True, "path": srv.session_dir("test"), "problems": []})


# ======================================================================
class VerifyProblemsTest(CtlCase):
    """verify exits 1 and names each problem."""

    async def asyncSetUp(self):
        srv = self.server()
        c = await self.populate(srv)
        self.backup = os.path.join(backups_dir(srv, "test"), await self.save(c))

    def copy(self):
        p = self.path("copy.db")
        shutil.copy(self.backup, p)
        return p

    def edit(self, p, sql):
        con = sqlite3.connect(p, isolation_level=None)
        con.executescript(sql)
        con.close()

    def problems(self, p):
        rc, out, err = ctl("verify", p)
        self.assertEqual(rc, 1, out + err)
        one_error_line(self, err, "problem")
        o = json.loads(ctl("verify", p, "--json")[1])
        self.assertFalse(o["ok"])
        return o["problems"]

    def test_dangling_dep_row(self):
        p = self.copy()
        self.edit(p, "PRAGMA foreign_keys=OFF; INSERT INTO node_deps VALUES ('ghost', 0, 'o1');")
        self.assertTrue(any("node_deps" in x and "ghost" in x for x in self.problems(p)))

    def test_deleted_node_with_deps(self):
        p = self.copy()
        self.edit(p, "UPDATE nodes SET deleted = 1, data = NULL WHERE uuid = 'o2';")
        self.assertTrue(any("o2" in x and "deps" in x for x in self.problems(p)))

    def test_missing_table_and_column(self):
        p = self.copy()
        self.edit(p, "DROP TABLE chat; ALTER TABLE tasks DROP COLUMN assignee;")
        probs = self.problems(p)
        self.assertIn("schema: table chat is missing", probs)
        self.assertIn("schema: column tasks.assignee is missing", probs)

    def test_unknown_schema_version(self):
        p = self.copy()
        self.edit(p, "PRAGMA user_version = 99;")
        self.assertTrue(any("schema version 99" in x for x in self.problems(p)))
        # the other commands refuse it: exit 2, one line
        rc, _, err = ctl("info", p)
        self.assertEqual(rc, 2)
        one_error_line(self, err, "newer")

    def test_blob_hash_and_size(self):
        p = self.copy()
        good = bytes(range(256)) * 10
        import hashlib
        h = hashlib.sha256(good).hexdigest()
        self.edit(p, "CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, size INTEGER "
                     "NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL, created_by TEXT);")
        con = sqlite3.connect(p)
        con.execute("DELETE FROM blobs")
        con.execute("INSERT INTO blobs (hash, size, data, created_at, created_by) "
                    "VALUES (?, ?, ?, 0, 'a')", (h, len(good), good))
        con.execute("INSERT INTO blobs (hash, size, data, created_at, created_by) "
                    "VALUES (?, ?, ?, 0, 'a')", ("0" * 64, 3, b"abc"))
        con.execute("INSERT INTO blobs (hash, size, data, created_at, created_by) "
                    "VALUES (?, ?, ?, 0, 'a')", ("1" * 64, 9, b"abc"))
        con.commit()
        con.close()
        probs = self.problems(p)
        self.assertEqual(len(probs), 2, probs)
        self.assertTrue(any(x.startswith("blob " + "0" * 64) and "hash to" in x for x in probs))
        self.assertTrue(any(x.startswith("blob " + "1" * 64) and "size" in x for x in probs))

    def test_corrupt_file(self):
        p = self.copy()
        corrupt_zero_pages(p)
        probs = self.problems(p)
        self.assertTrue(probs)


# ======================================================================
class ErrorsTest(CtlCase):
    """Missing file, not SQLite, locked, full disk, usage: exit 2, one line."""

    async def asyncSetUp(self):
        srv = self.server()
        c = await self.populate(srv)
        self.srv = srv
        self.backup = os.path.join(backups_dir(srv, "test"), await self.save(c))

    def test_missing_file(self):
        for cmd in (["info"], ["verify"], ["export"], ["backup"], ["diff", self.backup]):
            args = cmd + [self.path("nope.db")]
            if cmd == ["backup"]:
                args.append(self.tmp)
            rc, out, err = ctl(*args)
            self.assertEqual(rc, 2, (args, out, err))
            one_error_line(self, err, "nope.db", "No such file")

    def test_not_sqlite(self):
        p = self.path("notes.db")
        with open(p, "w") as f:
            f.write("these are my notes, not a database\n" * 10)
        for cmd in ("info", "verify", "export"):
            rc, _, err = ctl(cmd, p)
            self.assertEqual(rc, 2)
            one_error_line(self, err, "not an SQLite database")
        open(self.path("empty.db"), "w").close()
        rc, _, err = ctl("info", self.path("empty.db"))
        self.assertEqual(rc, 2)
        one_error_line(self, err, "not an SQLite database")

    def test_locked_database(self):
        p = self.path("locked.db")
        shutil.copy(self.backup, p)
        con = sqlite3.connect(p, isolation_level=None)
        con.execute("PRAGMA journal_mode = DELETE")
        con.execute("BEGIN EXCLUSIVE")
        try:
            for cmd in ("info", "verify"):
                rc, _, err = ctl(cmd, p)
                self.assertEqual(rc, 2, err)
                one_error_line(self, err, "locked")
            rc, _, err = ctl("backup", p, self.path("out.db"))
            self.assertEqual(rc, 2)
            one_error_line(self, err, "locked")
        finally:
            con.execute("ROLLBACK")
            con.close()
        self.assertFalse(os.path.exists(self.path("out.db")))
        no_temp_files(self, self.tmp)

    def test_full_disk(self):
        dest = self.path("dest")
        os.mkdir(dest)
        rc, out, err = ctl("backup", self.srv.session_dir("test"), dest, fsize=8192)
        self.assertEqual(rc, 2, out + err)
        one_error_line(self, err, "full")
        self.assertEqual(os.listdir(dest), [])

    def test_usage(self):
        for args in ([], ["frobnicate"], ["info"], ["backup", "x"], ["info", "a", "--bogus"],
                     ["info", self.backup, "--no-blobs"]):
            rc, _, err = ctl(*args)
            self.assertEqual(rc, 2, args)
            if args:
                one_error_line(self, err)
        rc, out, _ = ctl("--help")
        self.assertEqual(rc, 0)
        for cmd in ("list", "info", "verify", "backup", "restore", "export", "import", "diff",
                    "delete"):
            self.assertIn(cmd, out)


# ======================================================================
class BackupTest(CtlCase):
    async def test_backup_to_dir_and_file(self):
        srv = self.server()
        await self.populate(srv)
        rc, out, err = ctl("backup", srv.session_dir("test"), self.tmp)
        self.assertEqual(rc, 0, err)
        path = out.strip()
        self.assertEqual(os.path.dirname(path), self.tmp)
        self.assertRegex(os.path.basename(path), r"^test-\d{8}-\d{6}\.db$")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(ctl_json("info", path)["backup"]["reason"], "sessionctl")
        # a second one in the same second gets its own name
        rc, out2, _ = ctl("backup", srv.session_dir("test"), self.tmp)
        self.assertNotEqual(out2.strip(), path)
        # DEST a file name
        f = self.path("named.db")
        rc, out, err = ctl("backup", os.path.join(srv.session_dir("test"), "session.db"), f)
        self.assertEqual((rc, out.strip()), (0, f), err)
        self.assertEqual(ctl("verify", f)[0], 0)
        self.assertEqual(ctl_json("backup", srv.session_dir("test"), f, "--force")["path"], f)
        no_temp_files(self, self.tmp)
        # into a directory that does not exist: exit 2
        rc, _, err = ctl("backup", srv.session_dir("test"), self.path("no", "such.db"))
        self.assertEqual(rc, 2)
        one_error_line(self, err, "no such directory")

    async def test_existing_dest_and_session_dirs_are_refused(self):
        srv = self.server()
        await self.save(await self.populate(srv))  # backups/ exists
        f = self.path("keep.db")
        with open(f, "wb") as fh:
            fh.write(b"an operator's file")
        rc, _, err = ctl("backup", srv.session_dir("test"), f)
        self.assertEqual(rc, 2)
        one_error_line(self, err, "--force")
        with open(f, "rb") as fh:
            self.assertEqual(fh.read(), b"an operator's file")
        # never into a session directory, nor below it, even with --force
        live = os.path.join(srv.session_dir("test"), "session.db")
        for dest in (live, srv.session_dir("test"),
                     os.path.join(srv.session_dir("test"), "backups"),
                     os.path.join(srv.session_dir("test"), "backups", "x.db")):
            with self.subTest(dest=dest):
                rc, _, err = ctl("backup", srv.session_dir("test"), dest, "--force")
                self.assertEqual(rc, 2, dest)
                one_error_line(self, err, "inside a session directory")
        self.assertEqual(ctl("verify", live)[0], 0)
        self.assertFalse(os.path.exists(os.path.join(srv.session_dir("test"), "backups",
                                                     "x.db")))
        # --force replaces a file elsewhere, and belongs to backup only
        rc, out, err = ctl("backup", srv.session_dir("test"), f, "--force")
        self.assertEqual((rc, out.strip()), (0, f), err)
        self.assertEqual(ctl("verify", f)[0], 0)
        rc, _, err = ctl("info", f, "--force")
        self.assertEqual(rc, 2)
        one_error_line(self, err, "--force belongs to backup")

    async def test_backup_while_client_writes_holds_a_prefix(self):
        """A copy taken while a client writes steadily verifies and holds
        exactly the changes up to its seq: every one acknowledged before the
        copy started, none it does not list."""
        srv = self.server()
        c, _, _, _ = await self.joined(srv, "writer")
        acked = {}                       # uuid -> seq
        stop = asyncio.Event()
        backups = []

        async def writer():
            i = 0
            while not stop.is_set():
                frames = [dict(type="node.create", id=f"w{i + k}", uuid=f"w{i + k}",
                               kind="Object", data={"i": i + k, "pad": "x" * 200})
                          for k in range(20)]
                for r in await pipeline(c, frames):
                    self.assertEqual(r["type"], "ok", r)
                    acked[r["uuid"]] = r["seq"]
                i += 20

        task = asyncio.create_task(writer())
        try:
            for _ in range(3):
                while len(acked) < 200 * (len(backups) + 1):
                    await asyncio.sleep(0.01)
                before = max(acked.values())
                rc, out, err = await asyncio.to_thread(ctl, "backup",
                                                       srv.session_dir("test"), self.tmp)
                self.assertEqual(rc, 0, err)
                backups.append((before, out.strip()))
        finally:
            stop.set()
            await task
        for before, path in backups:
            self.assertEqual(ctl("verify", path)[0], 0)
            seq = ctl_json("info", path)["seq"]
            self.assertGreaterEqual(seq, before)
            have = {u: s for u, s in rows(path, "SELECT uuid, seq FROM nodes")}
            expect = {u: s for u, s in acked.items() if s <= seq}
            self.assertEqual(have, expect)
        self.assertLess(ctl_json("info", backups[0][1])["seq"], max(acked.values()))


# ======================================================================
class RestoreTest(CtlCase):
    async def test_refused_while_server_runs(self):
        srv = self.server()
        c = await self.populate(srv)
        b = os.path.join(backups_dir(srv, "test"), await self.save(c))
        before = sorted(os.listdir(srv.session_dir("test")))
        rc, out, err = ctl("restore", srv.session_dir("test"), b)
        self.assertEqual(rc, 2, out)
        one_error_line(self, err, "server is running", "online restore",
                       "/api/sessions/test/restore")
        self.assertEqual(sorted(os.listdir(srv.session_dir("test"))), before)

    async def test_offline_restore_new_epoch_full_resync(self):
        srv = self.server()
        c = await self.populate(srv)
        b = os.path.join(backups_dir(srv, "test"), await self.save(c))
        # changes after the backup, then stop
        await must(c, "node.delete", uuid="o0")
        await must(c, "node.create", uuid="late", kind="Object", data={})
        r = await must(c, "chat.send", text="after")
        old_epoch, old_seq = ctl_json("info", srv.session_dir("test"))["epoch"], r["seq"]
        await c.close()
        srv.stop()
        rc, out, err = ctl("restore", srv.session_dir("test"), b)
        self.assertEqual(rc, 0, err)
        self.assertIn("new epoch", out)
        d = srv.session_dir("test")
        aside = [f for f in os.listdir(d) if f.startswith("session.db.before-restore-")]
        self.assertEqual(len(aside), 1)
        self.assertEqual(rows(os.path.join(d, aside[0]),
                              "SELECT count(*) FROM nodes WHERE uuid = 'late'"), [(1,)])
        info = ctl_json("info", d)
        self.assertNotEqual(info["epoch"], old_epoch)
        self.assertEqual(info["restored_from"], os.path.basename(b))
        self.assertIsNone(info["backup"])
        with open(os.path.join(d, "session_metadata.json")) as f:
            meta = json.load(f)
        self.assertEqual((meta["reason"], meta["epoch"], meta["seq"]),
                         ("restore", info["epoch"], info["seq"]))
        no_temp_files(self, d)
        srv.restart()
        c2, w, syncs, synced = await self.joined(srv, "bob", epoch=old_epoch, since=old_seq)
        self.assertEqual(w["resume"], "full")
        self.assertEqual(w["epoch"], info["epoch"])
        nodes = sorted(n["uuid"] for s in syncs for n in s.get("nodes", []))
        self.assertEqual(nodes, [f"o{i}" for i in range(5)])

    async def test_damaged_backup_changes_nothing(self):
        srv = self.server()
        c = await self.populate(srv)
        b = os.path.join(backups_dir(srv, "test"), await self.save(c))
        await c.close()
        srv.stop()
        bad = self.path("bad.db")
        shutil.copy(b, bad)
        corrupt_zero_pages(bad)
        d = srv.session_dir("test")
        before = {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                  if os.path.isfile(os.path.join(d, f))}
        rc, out, err = ctl("restore", d, bad)
        self.assertEqual(rc, 1, out + err)
        one_error_line(self, err)
        after = {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                 if os.path.isfile(os.path.join(d, f))}
        self.assertEqual(after, before)
        rc, _, err = ctl("restore", d, self.path("missing.db"))
        self.assertEqual(rc, 2)
        one_error_line(self, err, "missing.db")


# ======================================================================
class DiffTest(CtlCase):
    async def test_diff_of_two_backups_around_known_changes(self):
        srv = self.server()
        c = await self.populate(srv)
        b1 = os.path.join(backups_dir(srv, "test"), await self.save(c))
        await must(c, "node.update", uuid="o0", patch={"name": "chair", "extra": 1})
        await must(c, "node.update", uuid="o3", deps=[])
        await must(c, "node.delete", uuid="o1")
        await must(c, "node.create", uuid="new", kind="Mesh", data={"v": 1})
        t = await must(c, "task.create", title="paint it")
        await must(c, "task.update", task=1, status="done")
        await must(c, "chat.send", text="done with the chair")
        b2 = os.path.join(backups_dir(srv, "test"), await self.save(c))
        o = ctl_json("diff", b1, b2)
        self.assertTrue(o["same_history"])
        self.assertEqual(o["nodes"]["added"], [{"uuid": "new", "kind": "Mesh"}])
        self.assertEqual(o["nodes"]["removed"], [{"uuid": "o1", "kind": "Object"}])
        ch = {x["uuid"]: x for x in o["nodes"]["changed"]}
        self.assertEqual(sorted(ch), ["o0", "o3"])
        self.assertEqual(sorted(ch["o0"]["keys"]), ["extra", "name"])
        self.assertFalse(ch["o0"]["deps_changed"])
        self.assertTrue(ch["o3"]["deps_changed"])
        self.assertEqual(ch["o3"]["keys"], [])
        self.assertEqual([x["id"] for x in o["tasks"]["added"]], [t["task"]["id"]])
        self.assertEqual([(x["id"], x["fields"]) for x in o["tasks"]["changed"]],
                         [(1, "status")])
        self.assertEqual([x["text"] for x in o["chat"]["added"]], ["done with the chair"])
        rc, out, _ = ctl("diff", b1, b2)
        self.assertEqual(rc, 0)
        self.assertIn("nodes: 1 added, 1 removed, 2 changed", out)
        self.assertIn("~ o0 (Object): data keys ", out)
        self.assertIn("+ new (Mesh)", out)
        # a backup against the live session, while the server runs
        await must(c, "node.create", uuid="live", kind="Object", data={})
        o = ctl_json("diff", b2, srv.session_dir("test"))
        self.assertEqual(o["nodes"]["added"], [{"uuid": "live", "kind": "Object"}])
        # the same file on both sides: nothing
        o = ctl_json("diff", b2, b2)
        self.assertEqual([o["nodes"][k] for k in ("added", "removed", "changed")], [[], [], []])


# ======================================================================
class ExportImportTest(CtlCase):
    async def test_round_trip_is_byte_identical(self):
        srv = self.server()
        c = await self.populate(srv)
        await must(c, "node.update", uuid="o2", patch={"f": 0.1, "u": "é\u2603", "n": None})
        await must(c, "node.delete", uuid="o4")
        rc, e1, err = ctl("export", srv.session_dir("test"))
        self.assertEqual(rc, 0, err)
        doc = json.loads(e1)
        self.assertEqual(doc["format"], "sessiond-export")
        self.assertIn("nodes", doc["tables"])
        f = self.path("e1.json")
        with open(f, "w") as fh:
            fh.write(e1)
        rc, out, err = ctl("import", srv.session_dir("moved"), f)
        self.assertEqual(rc, 0, err)
        rc, e2, _ = ctl("export", srv.session_dir("moved"))
        self.assertEqual(e1, e2)
        no_temp_files(self, srv.data_dir)
        # refuses to overwrite
        rc, _, err = ctl("import", srv.session_dir("moved"), f)
        self.assertEqual(rc, 2)
        one_error_line(self, err, "exists")
        rc, _, err = ctl("import", srv.session_dir("test"), f)
        self.assertEqual(rc, 2)
        # the running server serves the imported session
        c2, w, syncs, _ = await self.joined(srv, "carol", "moved")
        nodes = {n["uuid"]: n for s in syncs for n in s.get("nodes", [])}
        self.assertEqual(sorted(nodes), ["o0", "o1", "o2", "o3"])
        self.assertEqual(nodes["o2"]["data"]["u"], "é\u2603")
        self.assertEqual(nodes["o1"]["deps"], ["o0"])

    async def test_import_errors_leave_nothing(self):
        srv = self.server()
        await self.populate(srv)
        bad = self.path("bad.json")
        for text, words in (("{not json", ["bad.json"]),
                            ('{"format":"other"}', ["not a sessionctl export"]),
                            ('{"format":"sessiond-export","schema_version":99,"tables":{}}',
                             ["newer"]),
                            ('{"format":"sessiond-export","schema_version":3,"tables":'
                             '{"nodes":[{"uuid":"a"}]}}', ["nodes"])):
            with open(bad, "w") as fh:
                fh.write(text)
            rc, _, err = ctl("import", srv.session_dir("x"), bad)
            self.assertEqual(rc, 2, err)
            one_error_line(self, err, *words)
            self.assertFalse(os.path.exists(srv.session_dir("x")))
            no_temp_files(self, srv.data_dir)
        rc, _, err = ctl("import", os.path.join(srv.data_dir, "bad name!"), bad)
        self.assertEqual(rc, 2)
        one_error_line(self, err, "not a session name")

    async def test_no_blobs(self):
        srv = self.server()
        await self.populate(srv)
        rc, out, _ = ctl("export", srv.session_dir("test"), "--no-blobs")
        self.assertEqual(rc, 0)
        doc = json.loads(out)
        self.assertFalse(doc["blobs"])
        self.assertNotIn("blobs", doc["tables"])


# ======================================================================
class DeleteTest(CtlCase):
    async def test_delete_offline_keeps_everything(self):
        srv = self.server()
        c = await self.populate(srv, "typo-name")
        await self.save(c)
        await c.close()
        rc, _, err = ctl("delete", srv.session_dir("typo-name"))
        self.assertEqual(rc, 2)
        one_error_line(self, err, "server is running", "DELETE /api/sessions/typo-name")
        self.assertTrue(os.path.isdir(srv.session_dir("typo-name")))
        srv.stop()
        rc, out, err = ctl("delete", srv.session_dir("typo-name"))
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(srv.session_dir("typo-name")))
        kept = os.listdir(os.path.join(srv.data_dir, ".deleted"))
        self.assertEqual(len(kept), 1)
        self.assertRegex(kept[0], r"^typo-name-\d{8}_\d{6}$")
        k = os.path.join(srv.data_dir, ".deleted", kept[0])
        self.assertEqual(ctl("verify", k)[0], 0)
        self.assertGreaterEqual(len(os.listdir(os.path.join(k, "backups"))), 1)
        self.assertEqual([s["name"] for s in ctl_json("list", srv.data_dir)["sessions"]], [])
        # the server starts without it
        srv.restart()
        self.assertNotIn("session=typo-name", "\n".join(srv.lines))
        rc, _, err = ctl("delete", srv.session_dir("nothing-here"))
        self.assertEqual(rc, 2)
        one_error_line(self, err, "nothing-here")


# ======================================================================
class BlobExportTest(CtlCase):
    """Export/import of blobs written straight into a backup (0 B to 3 MiB,
    a node naming one): base64 in the export, the same bytes after import.
    Blobs uploaded over the protocol: test_ops.py BlobsMoveTest."""

    async def test_round_trip_with_blobs(self):
        import base64
        import hashlib
        srv = self.server()
        c = await self.populate(srv)
        b = os.path.join(backups_dir(srv, "test"), await self.save(c))
        tables = {t for (t,) in rows(b, "SELECT name FROM sqlite_master WHERE type='table'")}
        if "blobs" not in tables:
            self.skipTest("this schema has no blobs table yet")
        cols = [r[1] for r in rows(b, "PRAGMA table_info(blobs)")]
        p = self.path("with-blobs.db")
        shutil.copy(b, p)
        blobs = [os.urandom(n) for n in (0, 1, 1000, 3 * 1024 * 1024 + 7)]
        con = sqlite3.connect(p)
        for data in blobs:
            row = {"hash": hashlib.sha256(data).hexdigest(), "size": len(data), "data": data,
                   "created_at": 1736695945.25, "created_by": "alice"}
            use = [k for k in cols if k in row]
            con.execute(f"INSERT INTO blobs ({', '.join(use)}) VALUES "
                        f"({', '.join('?' for _ in use)})", [row[k] for k in use])
        if "node_blobs" in tables:
            ncols = [r[1] for r in rows(b, "PRAGMA table_info(node_blobs)")]
            h = hashlib.sha256(blobs[2]).hexdigest()
            vals = {"uuid": "o1", "position": 0, "hash": h}
            use = [k for k in ncols if k in vals]
            con.execute(f"INSERT INTO node_blobs ({', '.join(use)}) VALUES "
                        f"({', '.join('?' for _ in use)})", [vals[k] for k in use])
        con.commit()
        con.close()
        self.assertEqual(ctl("verify", p)[0], 0, ctl("verify", p))
        rc, e1, err = ctl("export", p)
        self.assertEqual(rc, 0, err)
        doc = json.loads(e1)
        got = {x["hash"]: base64.b64decode(x["data"]) for x in doc["tables"]["blobs"]}
        self.assertEqual(sorted(got.values(), key=len), sorted(blobs, key=len))
        f = self.path("e.json")
        with open(f, "w") as fh:
            fh.write(e1)
        self.assertEqual(ctl("import", srv.session_dir("copy"), f)[0], 0)
        self.assertEqual(ctl("export", srv.session_dir("copy"))[1], e1)
        self.assertEqual(ctl_json("info", srv.session_dir("copy"))["blobs"], len(blobs))
        self.assertEqual(ctl("verify", srv.session_dir("copy"))[0], 0)
        no_blobs = json.loads(ctl("export", p, "--no-blobs")[1])
        self.assertNotIn("blobs", no_blobs["tables"])

if __name__ == "__main__":
    unittest.main()
