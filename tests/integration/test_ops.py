#!/usr/bin/python3
"""Operations against the real server: tools/cron-backup while it runs, a
backup installed by hand gets a new epoch, the online restore (admin.restore
and POST /api/sessions/NAME/restore), DELETE /api/sessions/NAME, retention
by hour and day, and all of that on a session closed while idle.

Run:  SESSIOND=build/sessiond SESSIONCTL=build/sessionctl \
      /usr/bin/python3 tests/integration/test_ops.py -v
"""

import asyncio
import json
import os
import shutil
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ctl_support import (ADMIN, CtlCase, cron_backup, ctl, ctl_json, http,  # noqa: E402
                         rows)
from support import backup_files, backups_dir, corrupt_zero_pages, must     # noqa: E402


# ======================================================================
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

class BlobsMoveTest(CtlCase):
    """Blobs uploaded over the protocol survive export -> import (byte-identical
    exports) and the online restore, and are served from the new session."""

    async def test_export_import_and_restore_with_blobs(self):
        from test_blobs import blob_of, download, sha, upload
        srv = self.server()
        c = await self.populate(srv)
        blobs = [blob_of(1, 1), blob_of(1000, 2), blob_of(2 * 1024 * 1024 + 5, 3)]
        for data in blobs:
            put, end = await upload(c, data)
            self.assertEqual(end["type"], "ok", end)
        hashes = [sha(b) for b in blobs]
        await must(c, "node.update", uuid="o1", blobs=hashes[:2])
        await must(c, "node.create", uuid="img", kind="Image", data={}, blobs=[hashes[2]])
        b = await self.save(c)
        self.assertEqual(ctl("verify", srv.session_dir("test"))[0], 0)
        self.assertEqual(ctl_json("info", srv.session_dir("test"))["blobs"], 3)
        rc, e1, err = ctl("export", srv.session_dir("test"))
        self.assertEqual(rc, 0, err)
        f = os.path.join(self.tmp, "e.json")
        with open(f, "w") as fh:
            fh.write(e1)
        rc, _, err = ctl("import", srv.session_dir("moved"), f)
        self.assertEqual(rc, 0, err)
        self.assertEqual(ctl("export", srv.session_dir("moved"))[1], e1)
        c2, _, syncs, _ = await self.joined(srv, "carol", "moved")
        nodes = {n["uuid"]: n for s in syncs for n in s.get("nodes", [])}
        self.assertEqual(nodes["o1"]["blobs"], hashes[:2])
        self.assertEqual(nodes["img"]["blobs"], [hashes[2]])
        ok, got, _ = await download(self, c2, hashes[2])
        self.assertEqual(ok["type"], "ok", ok)
        self.assertEqual(got, blobs[2])
        # the online restore brings blobs back with their backup
        await must(c, "node.update", uuid="img", blobs=[])
        r = await c.request("admin.restore", backup=b)
        self.assertEqual(r["type"], "ok", r)
        c3, _, syncs, _ = await self.joined(srv, "dave")
        nodes = {n["uuid"]: n for s in syncs for n in s.get("nodes", [])}
        self.assertEqual(nodes["img"]["blobs"], [hashes[2]])
        ok, got, _ = await download(self, c3, hashes[2])
        self.assertEqual(got, blobs[2])


if __name__ == "__main__":
    unittest.main()
