#!/usr/bin/python3
"""Black-box tests of sessionctl, the operator's tool, against the real server.

Run:  SESSIOND=build/sessiond SESSIONCTL=build/sessionctl \
      /usr/bin/python3 tests/integration/test_sessionctl.py -v

Every command and every error the operator can meet: exit 0 done, 1 a check
failed, 2 usage or I/O, one line on stderr, nothing half-written left.
"""

import asyncio
import json
import os
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                                         # noqa: E402
from harness import ServerTestCase, TIMEOUT, pipeline  # noqa: E402
from support import backup_files, backups_dir, corrupt_zero_pages, must  # noqa: E402

ADMIN = "r00t"


def ctl_path():
    return os.environ.get("SESSIONCTL") or os.path.join(harness.REPO, "build", "sessionctl")


def ctl(*args, fsize=None, env=None, timeout=60):
    """Run sessionctl; (returncode, stdout, stderr)."""
    pre = None
    if fsize is not None:
        def pre():
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    e = {k: v for k, v in os.environ.items() if k != "DATA_DIR"}
    e.update(env or {})
    p = subprocess.run([ctl_path(), *args], capture_output=True, text=True, timeout=timeout,
                       preexec_fn=pre, env=e)
    return p.returncode, p.stdout, p.stderr


def ctl_json(*args):
    rc, out, err = ctl(*args, "--json")
    if rc != 0:
        raise AssertionError(f"sessionctl {' '.join(args)} --json: exit {rc}: {err}")
    return json.loads(out)


def one_error_line(test, err, *words):
    """stderr is exactly one line starting with 'sessionctl:' naming words."""
    lines = err.strip().splitlines()
    test.assertEqual(len(lines), 1, err)
    test.assertTrue(lines[0].startswith("sessionctl: "), err)
    for w in words:
        test.assertIn(w, lines[0])


def no_temp_files(test, d):
    left = [f for f in os.listdir(d) if ".tmp" in f or f.startswith(".import-")]
    test.assertEqual(left, [], f"temporary files left in {d}")


def rows(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class CtlCase(ServerTestCase):
    server_args = ["--admin-password", ADMIN, "--save-interval", "0"]

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="sessionctl-it-")

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def populate(self, srv, session="test", user="alice", n=5):
        """n nodes (o0..), one task, one chat message; returns the client."""
        c, w, _, _ = await self.joined(srv, user, session, admin_password=ADMIN)
        frames = [dict(type="node.create", id=100 + i, uuid=f"o{i}", kind="Object",
                       data={"name": f"o{i}", "x": i}, deps=[f"o{i - 1}"] if i else [])
                  for i in range(n)]
        frames.append(dict(type="task.create", id=90, title="model the chair"))
        frames.append(dict(type="chat.send", id=91, text="hello"))
        for r in await pipeline(c, frames):
            self.assertEqual(r["type"], "ok", r)
        return c

    async def save(self, c):
        return (await must(c, "admin.save"))["backup"]

    def path(self, *p):
        return os.path.join(self.tmp, *p)


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
        con.execute("INSERT INTO blobs VALUES (?, ?, ?, 0, 'a')", (h, len(good), good))
        con.execute("INSERT INTO blobs VALUES (?, ?, ?, 0, 'a')", ("0" * 64, 3, b"abc"))
        con.execute("INSERT INTO blobs VALUES (?, ?, ?, 0, 'a')", ("1" * 64, 9, b"abc"))
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
        self.assertEqual(ctl_json("backup", srv.session_dir("test"), f)["path"], f)
        no_temp_files(self, self.tmp)
        # into a directory that does not exist: exit 2
        rc, _, err = ctl("backup", srv.session_dir("test"), self.path("no", "such.db"))
        self.assertEqual(rc, 2)
        one_error_line(self, err, "no such directory")

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
def cron_backup(*args):
    cmd = [os.path.join(harness.REPO, "tools", "cron-backup"), *args]
    env = dict(os.environ, SESSIONCTL=ctl_path())
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


class CronBackupTest(CtlCase):
    async def test_against_a_running_server(self):
        srv = self.server()
        c = await self.populate(srv, "alpha", n=3)
        await self.populate(srv, "beta", user="bob", n=2)
        dest = self.path("dest")
        rc, out, err = cron_backup(srv.data_dir, dest)
        self.assertEqual(rc, 0, err)
        for name, n in (("alpha", 3), ("beta", 2)):
            copies = os.listdir(os.path.join(dest, name))
            self.assertEqual(len(copies), 1, copies)
            p = os.path.join(dest, name, copies[0])
            self.assertIn(p, out)
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600)
            self.assertEqual(ctl("verify", p)[0], 0)
            self.assertEqual(ctl_json("info", p)["nodes"], n)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(dest, "alpha")).st_mode), 0o700)
        # writes go on meanwhile
        await must(c, "node.create", uuid="more", kind="Object", data={})

        # a session that cannot be read: not a database (and, when not
        # root, a directory nobody may enter)
        broken = srv.session_dir("broken")
        os.mkdir(broken, 0o700)
        with open(os.path.join(broken, "session.db"), "wb") as f:
            f.write(b"garbage, not a database" * 100)
        locked = srv.session_dir("locked")
        if os.geteuid() != 0:
            os.mkdir(locked, 0o700)
            shutil.copy(os.path.join(srv.session_dir("beta"), "session.db"), locked)
            os.chmod(locked, 0)
        # an old copy goes, the newest stays even when old
        old = os.path.join(dest, "alpha", "alpha-20200101-000000.db")
        shutil.copy(os.path.join(dest, "alpha", os.listdir(os.path.join(dest, "alpha"))[0]),
                    old)
        os.utime(old, (0, 0))
        lone = os.path.join(dest, "gone")
        os.mkdir(lone)
        with open(os.path.join(lone, "gone-20200101-000000.db"), "w") as f:
            f.write("x")
        os.utime(os.path.join(lone, "gone-20200101-000000.db"), (0, 0))
        try:
            rc, out, err = cron_backup(srv.data_dir, dest, "14")
        finally:
            if os.path.isdir(locked):
                os.chmod(locked, 0o700)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("FAILED: broken: ", err)
        self.assertIn("not an SQLite database", err)
        if os.geteuid() != 0:
            self.assertIn("FAILED: locked: ", err)
        self.assertNotIn("FAILED: alpha", err)
        self.assertEqual(len(os.listdir(os.path.join(dest, "alpha"))), 2)   # old one removed
        self.assertFalse(os.path.exists(old))
        self.assertEqual(os.listdir(lone), ["gone-20200101-000000.db"])
        self.assertEqual(len(os.listdir(os.path.join(dest, "beta"))), 2)
        self.assertEqual(os.listdir(os.path.join(dest, "broken")), [])

    def test_usage(self):
        for args in ([], ["a"], ["a", "b", "x"], [self.tmp, self.path("d"), "-1"]):
            rc, _, err = cron_backup(*args)
            self.assertEqual(rc, 2, args)
            self.assertTrue(err.startswith(("usage:", "cron-backup:")), err)
        rc, _, err = cron_backup(self.path("missing"), self.path("d"))
        self.assertEqual(rc, 2)
        self.assertIn("no such directory", err)


# ======================================================================
def http(srv, method, path, body=None, token=ADMIN, timeout=TIMEOUT * 3):
    """(status, parsed JSON body) of an admin API request."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None
    finally:
        conn.close()


class ReEpochTest(CtlCase):
    """A database installed from a backup by hand gets a new epoch when the
    server opens it, once; nothing reports the replaced file's save."""

    async def test_backup_copied_by_hand(self):
        srv = self.server()
        c = await self.populate(srv)
        b = os.path.join(backups_dir(srv, "test"), await self.save(c))
        await must(c, "node.delete", uuid="o0")
        r = await must(c, "node.create", uuid="late", kind="Object", data={})
        _, w0, _, _ = await self.joined(srv, "watcher")
        old_epoch, old_seq = w0["epoch"], r["seq"]
        srv.stop()
        d = srv.session_dir("test")
        os.rename(os.path.join(d, "session.db"), os.path.join(d, "session.db.old"))
        for sfx in ("-wal", "-shm"):
            if os.path.exists(os.path.join(d, "session.db" + sfx)):
                os.remove(os.path.join(d, "session.db" + sfx))
        shutil.copy(b, os.path.join(d, "session.db"))
        srv.restart()
        line = [l for l in srv.lines if "installed from a backup" in l]
        self.assertEqual(len(line), 1, srv.log())
        loaded = [l for l in srv.lines if "Session loaded (session=test " in l][0]
        self.assertIn("last_save_reason=restore", loaded)
        with open(os.path.join(d, "session_metadata.json")) as f:
            meta = json.load(f)
        self.assertEqual(meta["reason"], "restore")
        self.assertNotEqual(meta["epoch"], old_epoch)
        c2, w, syncs, _ = await self.joined(srv, "bob", epoch=old_epoch, since=old_seq)
        self.assertEqual(w["resume"], "full")
        self.assertEqual(w["epoch"], meta["epoch"])
        self.assertEqual(sorted(n["uuid"] for s in syncs for n in s.get("nodes", [])),
                         [f"o{i}" for i in range(5)])
        self.assertIsNone(ctl_json("info", d)["backup"])
        await c2.close()
        # once: the next start keeps that epoch
        srv.restart()
        self.assertFalse([l for l in srv.lines if "installed from a backup" in l])
        _, w2, _, _ = await self.joined(srv, "carol")
        self.assertEqual(w2["epoch"], meta["epoch"])


class OnlineRestoreTest(CtlCase):
    async def two_clients(self, srv):
        a, wa, _, _ = await self.joined(srv, "alice2", admin_password=ADMIN)
        b, wb, _, _ = await self.joined(srv, "bob")
        return a, b, wa["epoch"]

    async def check_closed_and_resync(self, srv, clients, epoch, since, backup):
        for cl in clients:
            ev = await cl.next_event("session")
            self.assertTrue(ev["reset"])
            self.assertEqual(ev["restored"], backup)
            self.assertNotEqual(ev["epoch"], epoch)
            await cl.closed()
            self.assertEqual(cl.close_code, 4205)
        c, w, syncs, _ = await self.joined(srv, "bob", epoch=epoch, since=since)
        self.assertEqual(w["resume"], "full")
        self.assertNotEqual(w["epoch"], epoch)
        return w, sorted(n["uuid"] for s in syncs for n in s.get("nodes", []))

    async def test_ws_admin_restore_with_two_clients(self):
        srv = self.server()
        c = await self.populate(srv)
        b = await self.save(c)
        await c.close()
        a, bob, epoch = await self.two_clients(srv)
        await must(bob, "node.delete", uuid="o0")
        r = await must(bob, "node.create", uuid="late", kind="Object", data={})
        before = set(backup_files(srv, "test"))
        ok = await must(a, "admin.restore", backup=b)
        self.assertEqual(ok["backup"], b)
        self.assertIn(ok["saved"], backup_files(srv, "test"))
        self.assertNotIn(ok["saved"], before)
        self.assertEqual(ctl_json("info", os.path.join(backups_dir(srv, "test"),
                                                      ok["saved"]))["backup"]["reason"],
                         "restore")
        w, nodes = await self.check_closed_and_resync(srv, [a, bob], epoch, r["seq"], b)
        self.assertEqual(w["epoch"], ok["epoch"])
        self.assertEqual(nodes, [f"o{i}" for i in range(5)])
        d = srv.session_dir("test")
        self.assertEqual(len([f for f in os.listdir(d)
                              if f.startswith("session.db.before-restore-")
                              and not f.endswith(("-wal", "-shm"))]), 1)
        self.assertFalse(os.path.exists(os.path.join(d, ".restore-pin")))
        with open(os.path.join(d, "session_metadata.json")) as f:
            self.assertEqual(json.load(f)["reason"], "restore")
        self.assertEqual(ctl("verify", d)[0], 0)
        # the pre-restore save holds what was there: "late" is not lost
        pre = os.path.join(backups_dir(srv, "test"), ok["saved"])
        self.assertEqual(rows(pre, "SELECT count(*) FROM nodes WHERE uuid = 'late'"), [(1,)])
        # the server restarts on it with the same epoch (the mark was spent)
        srv.restart()
        _, w2, _, _ = await self.joined(srv, "carol")
        self.assertEqual(w2["epoch"], ok["epoch"])

    async def test_http_restore(self):
        srv = self.server()
        c = await self.populate(srv)
        b = await self.save(c)
        await c.close()
        a, bob, epoch = await self.two_clients(srv)
        r = await must(bob, "node.create", uuid="late", kind="Object", data={})
        status, body = await asyncio.to_thread(http, srv, "POST",
                                               "/api/sessions/test/restore", {"backup": b})
        self.assertEqual(status, 200, body)
        self.assertEqual((body["session"], body["backup"]), ("test", b))
        w, nodes = await self.check_closed_and_resync(srv, [a, bob], epoch, r["seq"], b)
        self.assertEqual(w["epoch"], body["epoch"])
        self.assertNotIn("late", nodes)
        _, _, text = srv.http_get("/metrics")
        self.assertIn('sessiond_saves_total{reason="restore",result="ok"} 1', text.decode())

    async def test_missing_or_damaged_backup_changes_nothing(self):
        srv = self.server()
        c = await self.populate(srv)
        b = await self.save(c)
        a, bob, epoch = await self.two_clients(srv)
        for name in ("snapshot_19990101_000000.db", "../session.db", ".hidden", ""):
            r = await a.request("admin.restore", backup=name)
            self.assertError(r, "not_found", "backup", re=None)
        r = await a.request("admin.restore")
        self.assertError(r, "bad_request", "backup", re=None)
        status, body = await asyncio.to_thread(
            http, srv, "POST", "/api/sessions/test/restore", {"backup": "nope.db"})
        self.assertEqual((status, body["code"]), (404, "not_found"))
        status, body = await asyncio.to_thread(
            http, srv, "POST", "/api/sessions/test/restore", "not json")
        self.assertEqual(status, 400)
        # a damaged backup: the save runs, the restore does not
        bad = os.path.join(backups_dir(srv, "test"), b)
        corrupt_zero_pages(bad)
        r = await a.request("admin.restore", backup=b)
        self.assertError(r, "bad_request", "integrity_check", re=None)
        status, body = await asyncio.to_thread(
            http, srv, "POST", "/api/sessions/test/restore", {"backup": b})
        self.assertEqual(status, 422, body)
        self.assertIn("nothing was restored", body["error"])
        # nobody was closed, the epoch and the data are as they were
        r = await must(bob, "node.create", uuid="still", kind="Object", data={})
        self.assertEqual((await must(a, "admin.stats"))["epoch"], epoch)
        self.assertFalse(os.path.exists(os.path.join(srv.session_dir("test"), ".restore-pin")))


class RetentionTest(CtlCase):
    async def test_hours_and_days_survive_many_saves(self):
        srv = self.server()
        c = await self.populate(srv)
        b = os.path.join(backups_dir(srv, "test"), await self.save(c))
        await c.close()
        srv.stop()
        # older backups: two on one old day (different hours), one on another
        old = ["snapshot_20200103_180000.db", "snapshot_20200103_090000.db",
               "snapshot_20200101_120000.db"]
        for n in old:
            shutil.copy(b, os.path.join(backups_dir(srv, "test"), n))
        srv.restart(args=self.server_args + ["--max-backups", "2", "--backup-keep-hourly", "3",
                                             "--backup-keep-daily", "3"])
        c, _, _, _ = await self.joined(srv, "root", admin_password=ADMIN)
        made = []
        for i in range(5):
            await must(c, "node.create", uuid=f"r{i}", kind="Object", data={})
            made.append(await self.save(c))
        files = backup_files(srv, "test")
        # the newest two (last), and per hour/day: today's newest is one of
        # them; 2020-01-03 18h (hour 2 and day 2); 2020-01-03 09h (hour 3);
        # 2020-01-01 (day 3)
        self.assertEqual(sorted(files), sorted(made[-2:] + old))
        got = {x["file"]: x["kept_by"] for x in (await must(c, "admin.backups"))["backups"]}
        self.assertEqual(got[made[-1]], ["last", "hourly", "daily"])
        self.assertEqual(got[made[-2]], ["last"])
        self.assertEqual(got[old[0]], ["hourly", "daily"])
        self.assertEqual(got[old[1]], ["hourly"])
        self.assertEqual(got[old[2]], ["daily"])
        status, body = await asyncio.to_thread(http, srv, "GET", "/api/sessions/test/backups")
        self.assertEqual(status, 200)
        self.assertEqual({x["file"]: x["kept_by"] for x in body["backups"]}, got)


class DeleteApiTest(CtlCase):
    async def test_delete_closes_everyone_and_keeps_everything(self):
        srv = self.server()
        c = await self.populate(srv, "typo")
        await c.close()
        a, _, _, _ = await self.joined(srv, "watcher", "typo")
        b, _, _, _ = await self.joined(srv, "other", "keep")
        status, body = await asyncio.to_thread(http, srv, "DELETE", "/api/sessions/typo")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["session"], "typo")
        ev = await a.next_event("session")
        self.assertTrue(ev["deleted"])
        self.assertEqual(await a.closed(), 4205)
        self.assertFalse(os.path.exists(srv.session_dir("typo")))
        kept = os.path.join(srv.data_dir, body["moved_to"])
        self.assertTrue(body["moved_to"].startswith(".deleted/typo-"))
        self.assertEqual(ctl_json("info", kept)["nodes"], 5)
        # the final backup is among the kept backups
        self.assertIn(body["backup"], os.listdir(os.path.join(kept, "backups")))
        self.assertEqual(ctl_json("info", os.path.join(kept, "backups", body["backup"]))
                         ["backup"]["reason"], "delete")
        # gone from the API; the other session is untouched
        status, _ = await asyncio.to_thread(http, srv, "GET", "/api/sessions/typo")
        self.assertEqual(status, 404)
        status, body = await asyncio.to_thread(http, srv, "GET", "/api/sessions")
        self.assertEqual([x["session"] for x in body["sessions"]], ["keep"])
        await must(b, "node.create", uuid="k", kind="Object", data={})
        status, _ = await asyncio.to_thread(http, srv, "DELETE", "/api/sessions/nothing")
        self.assertEqual(status, 404)
        status, _ = await asyncio.to_thread(http, srv, "DELETE", "/api/sessions/keep",
                                            token="wrong")
        self.assertEqual(status, 403)
        # the name can be used again: a new, empty session
        c2, w, syncs, _ = await self.joined(srv, "again", "typo")
        self.assertEqual([n for s in syncs for n in s.get("nodes", [])], [])
        # and a restart does not bring the deleted one back
        await c2.close()
        srv.restart()
        self.assertEqual(sorted(x["name"] for x in ctl_json("list", srv.data_dir)["sessions"]),
                         ["keep", "typo"])
        self.assertEqual(ctl_json("info", srv.session_dir("typo"))["nodes"], 0)


class BlobExportTest(CtlCase):
    """Export/import with blobs. Blobs (protocol 1.1 section 11) live in the
    tables `blobs` and `node_blobs` of the server's schema; until that
    migration exists this test has nothing to round-trip and skips."""

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


class IdleSessionTest(CtlCase):
    """Restore and delete reach a session that was closed while idle."""

    async def test_restore_and_delete_a_closed_session(self):
        srv = self.server(args=self.server_args + ["--session-idle-close", "1"])
        c = await self.populate(srv)
        b = await self.save(c)
        await must(c, "node.create", uuid="late", kind="Object", data={})
        await c.close()
        ok = await asyncio.to_thread(srv.wait_for_log, "Session closed after", 15)
        self.assertTrue(ok, srv.log())
        status, body = await asyncio.to_thread(http, srv, "POST", "/api/sessions/test/restore",
                                               {"backup": b})
        self.assertEqual(status, 200, body)
        c2, w, syncs, _ = await self.joined(srv, "bob")
        self.assertEqual(w["epoch"], body["epoch"])
        self.assertEqual(sorted(n["uuid"] for s in syncs for n in s.get("nodes", [])),
                         [f"o{i}" for i in range(5)])
        await c2.close()
        mark = len(srv.lines)
        ok = await asyncio.to_thread(srv.wait_for_log, "Session closed after", 15, False, mark)
        self.assertTrue(ok, srv.log())
        status, body = await asyncio.to_thread(http, srv, "DELETE", "/api/sessions/test")
        self.assertEqual(status, 200, body)
        self.assertFalse(os.path.exists(srv.session_dir("test")))


if __name__ == "__main__":
    unittest.main()
