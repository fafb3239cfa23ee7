#!/usr/bin/python3
"""Black-box tests of blobs (PROTOCOL.md section 11): blob.put, binary
frames, blob.end, blob.get, blob.has, the nodes' `blobs` field, and what an
operator sees (admin.stats, HTTP API, /metrics, the database, backups).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_blobs.py -v
Every test starts its own server on a free port with a fresh data dir.
"""

import asyncio
import hashlib
import http.client
import json
import os
import shutil
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Client, ServerTestCase, TIMEOUT   # noqa: E402
from support import (await_log, backup_files, backups_dir, create_node,  # noqa: E402
                     log_lines, log_mark, must, sqlite3_cli, sync_part, wait_until)

ADMIN = "r00t"
MIB = 1024 * 1024
FRAME = MIB          # the server's largest download frame (conn.h CONN_BLOB_FRAME)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def blob_of(n, seed=0):
    """n deterministic bytes that differ per seed."""
    out = bytearray()
    block = hashlib.sha256(f"{seed}".encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


async def upload(c, data, frame=64 * 1024, hash=None, size=None):
    """blob.put, the bytes, blob.end: returns (put reply, end reply)."""
    h = hash or sha(data)
    put = await c.request("blob.put", hash=h, size=len(data) if size is None else size)
    if put["type"] != "ok" or put["have"]:
        return put, None
    for i in range(0, len(data), frame):
        await c.send_binary(data[i:i + frame])
    return put, await c.request("blob.end", hash=h)


async def recv_any(c, timeout=TIMEOUT):
    """The next frame, text (parsed) or binary (bytes)."""
    m = await asyncio.wait_for(c.ws.recv(), timeout)
    return m if isinstance(m, bytes) else json.loads(m)


async def download(test, c, h, rid=None):
    """blob.get: returns (ok, bytes, [sizes of the binary frames])."""
    rid = rid or f"get-{c.next_id()}"
    await c.send({"type": "blob.get", "id": rid, "hash": h})
    while True:
        m = await recv_any(c)
        test.assertNotIsInstance(m, bytes, "blob bytes before the ok of blob.get")
        if m.get("re") == rid:
            break
        c.pending.append(m)
    if m["type"] != "ok":
        return m, None, []
    got, sizes = bytearray(), []
    while len(got) < m["size"]:
        f = await recv_any(c)
        if isinstance(f, bytes):
            got += f
            sizes.append(len(f))
        else:
            c.pending.append(f)
    return m, bytes(got), sizes


def db_rows(srv, sql, session="test", file="session.db"):
    rc, out, err = sqlite3_cli(os.path.join(srv.session_dir(session), file), sql)
    if rc != 0:
        raise AssertionError(f"sqlite3 {sql!r}: {err}")
    return out


def chunk_rows(srv, session="test"):
    """How many chunks the session's database holds."""
    return db_rows(srv, "SELECT count(*) FROM chunks", session)


def blob_from_db(db, h):
    """Blob h's bytes as an operator reads them with sqlite3 (README)."""
    return b"".join(d for (d,) in db.execute(
        "SELECT c.data FROM blob_chunks bc JOIN chunks c ON c.hash = bc.chunk "
        "WHERE bc.blob = ? ORDER BY bc.n", (h,)))


class BlobCase(ServerTestCase):
    server_args = ()

    def start(self, **env):
        env.setdefault("ADMIN_PASSWORD", ADMIN)
        return self.server(env=env)

    async def user(self, srv, name="alice", **kw):
        c, _, _, _ = await self.joined(srv, name, **kw)
        return c


# ======================================================================
class RoundTripTest(BlobCase):
    async def test_round_trips_of_every_size(self):
        srv = self.start()
        c = await self.user(srv)
        cases = [("0 B", b"", 1), ("1 B", b"x", 1), ("one frame", blob_of(FRAME, 1), FRAME),
                 ("many frames", blob_of(3 * MIB + 5, 2), 64 * 1024)]
        for name, data, frame in cases:
            with self.subTest(name):
                h = sha(data)
                put, end = await upload(c, data, frame=frame)
                self.assertOk(put)
                self.assertEqual(put["hash"], h)
                self.assertIs(put["have"], False)
                self.assertOk(end)
                self.assertEqual((end["hash"], end["size"]), (h, len(data)))
                ok, got, sizes = await download(self, c, h)
                self.assertOk(ok)
                self.assertEqual((ok["hash"], ok["size"]), (h, len(data)))
                self.assertEqual(sha(got), h)
                self.assertTrue(all(s <= MIB for s in sizes), sizes)
                self.assertEqual(len(sizes), -(-len(data) // FRAME))
        r = await must(c, "blob.has", hashes=[sha(d) for _, d, _ in cases] + ["0" * 64])
        self.assertEqual(r["have"], [sha(d) for _, d, _ in cases])
        # One row per blob, their bytes in chunks of at most 1 MiB.
        self.assertEqual(db_rows(srv, "SELECT count(*) FROM blobs"), "4")
        self.assertEqual(db_rows(srv, "SELECT max(length(data)) FROM chunks"), str(MIB))
        with sqlite3.connect(os.path.join(srv.session_dir("test"), "session.db")) as db:
            for _, data, _ in cases:
                self.assertEqual(blob_from_db(db, sha(data)), data)

    async def test_dedupe_have_true_and_nothing_to_send(self):
        srv = self.start()
        a = await self.user(srv, "alice")
        b = await self.user(srv, "bob")
        data = blob_of(200_000, 3)
        _, end = await upload(a, data)
        self.assertOk(end)
        put = await must(b, "blob.put", hash=sha(data), size=len(data))
        self.assertIs(put["have"], True)
        # No upload is open on bob's connection: a binary frame is refused.
        await b.send_binary(b"abc")
        self.assertError(await b.next_event("error"), "bad_request", "binary")
        self.assertEqual(db_rows(srv, "SELECT count(*) FROM blobs"), "1")

    async def test_a_download_nobody_reads_is_lagging(self):
        """A download holds a database snapshot: a client that stops reading
        one is closed with 4429 after TIMEOUT, as one that stops reading
        its sync is."""
        srv = self.start(TIMEOUT="3")
        c = await self.user(srv)
        data = blob_of(24 * MIB, 33)
        self.assertOk((await upload(c, data, frame=MIB))[1])
        slow = await self.client(srv, max_queue=1, read_limit=2 ** 16)
        await slow.hello("slow")
        mark = log_mark(srv)
        await slow.send({"type": "blob.get", "id": "g", "hash": sha(data)})

        async def keep_talking():  # not silent: only its reading stops
            while True:
                await slow.send({"type": "ping"})
                await asyncio.sleep(0.5)
        talker = asyncio.create_task(keep_talking())
        try:
            await await_log(srv, "read no blob frame", timeout=15, start=mark)
        finally:
            talker.cancel()
        await await_log(srv, "reason=lagging", start=mark)

    async def test_gets_are_answered_in_order_one_blob_at_a_time(self):
        srv = self.start()
        c = await self.user(srv)
        one, two = blob_of(2 * MIB + 1, 4), blob_of(MIB + 7, 5)
        for d in (one, two):
            self.assertOk((await upload(c, d))[1])
        await c.send({"type": "blob.get", "id": "g1", "hash": sha(one)})
        await c.send({"type": "blob.get", "id": "g2", "hash": sha(two)})
        await c.send({"type": "ping", "id": "p"})
        seen, buf = [], bytearray()
        while not seen or seen[-1] != "p":
            m = await recv_any(c)
            if isinstance(m, bytes):
                buf += m
                continue
            if buf:
                seen.append(("bytes", sha(bytes(buf))))
                buf = bytearray()
            seen.append(m.get("re"))
        self.assertEqual(seen, ["g1", ("bytes", sha(one)), "g2", ("bytes", sha(two)), "p"])


# ======================================================================
class ErrorTest(BlobCase):
    async def nothing_kept(self, srv, c, h):
        r = await must(c, "blob.has", hashes=[h])
        self.assertEqual(r["have"], [])
        self.assertEqual(db_rows(srv, f"SELECT count(*) FROM blobs WHERE hash = '{h}'"), "0")

    async def test_binary_frame_without_upload(self):
        srv = self.start()
        c = await self.user(srv)
        await c.send_binary(b"\x00\x01\x02")
        self.assertError(await c.next_event("error"), "bad_request", "binary")
        await c.ok("ping")  # the connection stays open

    async def test_second_put_is_conflict_and_the_open_upload_goes_on(self):
        srv = self.start()
        c = await self.user(srv)
        data, other = blob_of(300_000, 6), blob_of(10, 7)
        h = sha(data)
        await must(c, "blob.put", hash=h, size=len(data))
        await c.send_binary(data[:100_000])
        r = await c.request("blob.put", hash=sha(other), size=len(other))
        self.assertError(r, "conflict", "upload", re=r["re"])
        await c.send_binary(data[100_000:])
        end = await c.request("blob.end", hash=h)
        self.assertOk(end)
        ok, got, _ = await download(self, c, h)
        self.assertEqual(got, data)

    async def test_size_mismatch(self):
        srv = self.start()
        c = await self.user(srv)
        data = blob_of(150_000, 8)
        for name, sent in (("short", data[:-1]), ("long", data + b"!")):
            with self.subTest(name):
                h = sha(data)
                await must(c, "blob.put", hash=h, size=len(data))
                await c.send_binary(sent)
                r = await c.request("blob.end", hash=h)
                self.assertError(r, "bad_request", "size", re=r["re"])
                await self.nothing_kept(srv, c, h)

    async def test_hash_mismatch(self):
        srv = self.start()
        c = await self.user(srv)
        data = blob_of(2 * MIB + 3, 9)
        wrong = sha(b"something else")
        _, end = await upload(c, data, hash=wrong)
        self.assertError(end, "bad_request", "hash", re=end["re"])
        await self.nothing_kept(srv, c, wrong)
        await self.nothing_kept(srv, c, sha(data))

    async def test_end_naming_another_hash_drops_the_upload(self):
        srv = self.start()
        c = await self.user(srv)
        data = blob_of(5000, 31)
        await must(c, "blob.put", hash=sha(data), size=len(data))
        await c.send_binary(data)
        r = await c.request("blob.end", hash=sha(b"other"))
        self.assertError(r, "bad_request", "hash", re=r["re"])
        await self.nothing_kept(srv, c, sha(data))
        # The upload is closed: a new blob.put starts over.
        self.assertOk((await upload(c, data))[1])

    async def test_two_connections_upload_the_same_blob(self):
        srv = self.start()
        a = await self.user(srv, "alice")
        b = await self.user(srv, "bob")
        data = blob_of(2 * MIB + 5, 32)
        h = sha(data)
        for c in (a, b):
            r = await must(c, "blob.put", hash=h, size=len(data))
            self.assertIs(r["have"], False)
        for c in (a, b):
            await c.send_binary(data)
        for c in (a, b):
            r = await c.request("blob.end", hash=h)
            self.assertOk(r)
            self.assertEqual(r["size"], len(data))
        self.assertEqual(db_rows(srv, "SELECT count(*) FROM blobs"), "1")
        self.assertEqual(chunk_rows(srv), "3")  # each chunk once
        ok, got, _ = await download(self, b, h)
        self.assertEqual(sha(got), h)

    async def test_too_large(self):
        srv = self.start(MAX_BLOB_BYTES="1000")
        c = await self.user(srv)
        r = await c.request("blob.put", hash=sha(b"a" * 1001), size=1001)
        self.assertError(r, "too_large", "MAX_BLOB_BYTES", re=r["re"])
        self.assertOk((await upload(c, b"a" * 1000))[1])

    async def test_unknown_hash_and_bad_fields(self):
        srv = self.start()
        c = await self.user(srv)
        ok, _, _ = await download(self, c, "ab" * 32)
        self.assertError(ok, "not_found", "hash", re=ok["re"])
        for type, fields, word in (
                ("blob.put", {"hash": "AB" * 32, "size": 1}, "hash"),
                ("blob.put", {"hash": "ab" * 31, "size": 1}, "hash"),
                ("blob.put", {"hash": "ab" * 32, "size": -1}, "size"),
                ("blob.put", {"hash": "ab" * 32}, "size"),
                ("blob.get", {}, "hash"),
                ("blob.end", {"hash": "ab" * 32}, "no upload"),
                ("blob.has", {"hashes": "ab" * 32}, "hashes"),
                ("blob.has", {"hashes": ["ab" * 32] * 1025}, "hashes"),
                ("node.create", {"kind": "Image", "data": {}, "blobs": ["x"]}, "blobs[0]"),
                ("node.create", {"kind": "Image", "data": {}, "blobs": ["ab" * 32] * 1025},
                 "blobs")):
            with self.subTest(type=type, fields=fields):
                r = await c.request(type, **fields)
                self.assertError(r, "bad_request", word, re=r["re"])

    async def test_connection_closing_mid_upload_leaves_nothing(self):
        srv = self.start()
        c = await self.user(srv)
        data = blob_of(3 * MIB, 10)
        await must(c, "blob.put", hash=sha(data), size=len(data))
        await c.send_binary(data[:2 * MIB + 1000])
        await c.ok("ping")
        # The first 2 MiB are in the database as chunks, not as a blob.
        self.assertEqual(chunk_rows(srv), "2")
        self.assertEqual(db_rows(srv, "SELECT count(*) FROM blobs"), "0")
        mark = log_mark(srv)
        await c.close()
        await await_log(srv, "Blob upload interrupted", start=mark)
        b = await self.user(srv, "bob")
        await self.nothing_kept(srv, b, sha(data))
        self.assertEqual(chunk_rows(srv), "2")  # kept for a resumed upload


# ======================================================================
class DurabilityTest(BlobCase):
    async def test_kill9_mid_upload_keeps_the_acknowledged_blob_only(self):
        srv = self.start()
        c = await self.user(srv)
        first, second = blob_of(MIB + 11, 11), blob_of(4 * MIB, 12)
        self.assertOk((await upload(c, first))[1])
        await must(c, "blob.put", hash=sha(second), size=len(second))
        await c.send_binary(second[:3 * MIB - 5])
        await c.ok("ping")
        self.assertEqual(chunk_rows(srv), "4")  # first's 2, second's 2 complete
        srv.kill9()
        srv.restart()
        await await_log(srv, "sessiond ready")
        c = await self.user(srv, "alice")
        r = await must(c, "blob.has", hashes=[sha(first), sha(second)])
        self.assertEqual(r["have"], [sha(first)])
        self.assertEqual(db_rows(srv, "SELECT count(*) FROM blobs"), "1")
        self.assertEqual(chunk_rows(srv), "4")
        ok, got, _ = await download(self, c, sha(first))
        self.assertEqual(sha(got), sha(first))


# ======================================================================
class NodeBlobsTest(BlobCase):
    async def test_blobs_field_in_node_objects_events_and_sync(self):
        srv = self.start()
        a = await self.user(srv, "alice")
        b = await self.user(srv, "bob")
        h1, h2 = sha(b"one"), sha(b"two")
        await create_node(a, "img", kind="Image", blobs=[h1, h2])
        ev = await b.next_event("node", pred=lambda m: m["op"] == "create")
        self.assertEqual(ev["node"]["blobs"], [h1, h2])
        r = await must(a, "node.update", uuid="img", blobs=[h2])
        self.assertEqual(r["version"], 2)
        ev = await b.next_event("node", pred=lambda m: m["op"] == "update")
        self.assertEqual(ev["blobs"], [h2])
        self.assertNotIn("data", ev)
        r = await must(b, "node.get", uuid="img")
        self.assertEqual(r["node"]["blobs"], [h2])
        await create_node(a, "plain")
        r = await must(b, "node.get", uuid="plain")
        self.assertEqual(r["node"]["blobs"], [])
        c = await self.client(srv)
        _, syncs, _ = await c.hello("carol")
        nodes = {n["uuid"]: n for n in sync_part(syncs, "nodes")}
        self.assertEqual(nodes["img"]["blobs"], [h2])
        self.assertEqual(nodes["plain"]["blobs"], [])

    async def test_blob_survives_save_restore_and_delta_resume(self):
        srv = self.start()
        a = await self.user(srv, "alice", admin_password=ADMIN)
        data = blob_of(2 * MIB + 99, 13)
        h = sha(data)
        _, w0_syncs, synced0 = await (await self.client(srv)).hello("watcher")
        self.assertOk((await upload(a, data))[1])
        await create_node(a, "tex", kind="Image", blobs=[h])
        save = await must(a, "admin.save")
        # The backup holds the blob, byte for byte.
        backup = os.path.join(backups_dir(srv, "test"), save["backup"])
        with sqlite3.connect(backup) as db:
            stored = blob_from_db(db, h)
        self.assertEqual(sha(stored), h)
        # The blob survives the save (a named blob is never collected).
        ok, got, _ = await download(self, a, h)
        self.assertEqual(sha(got), h)
        # Delta resume from before the node was created carries its blobs.
        w = await self.client(srv)
        welcome = await must(a, "admin.stats")
        _, syncs, _ = await w.hello("late", epoch=welcome["epoch"], since=synced0["seq"])
        nodes = {n["uuid"]: n for n in sync_part(syncs, "nodes")}
        self.assertEqual(nodes["tex"]["blobs"], [h])
        # Restore the backup by hand (README): the blob is there.
        await a.close()
        await w.close()
        srv.stop()
        d = srv.session_dir("test")
        for f in ("session.db", "session.db-wal", "session.db-shm"):
            if os.path.exists(os.path.join(d, f)):
                os.remove(os.path.join(d, f))
        shutil.copy(backup, os.path.join(d, "session.db"))
        srv.restart()
        c = await self.user(srv, "alice")
        ok, got, _ = await download(self, c, h)
        self.assertEqual(sha(got), h)
        r = await must(c, "node.get", uuid="tex")
        self.assertEqual(r["node"]["blobs"], [h])


# ======================================================================
class CollectionTest(BlobCase):
    async def test_unnamed_blobs_go_after_the_grace_named_ones_stay(self):
        srv = self.start(BLOB_GC_GRACE="1")
        a = await self.user(srv, "alice", admin_password=ADMIN)
        named, loose, orphan = blob_of(5000, 14), blob_of(6000, 15), blob_of(7000, 16)
        for d in (named, loose, orphan):
            self.assertOk((await upload(a, d))[1])
        await create_node(a, "keep", kind="Image", blobs=[sha(named)])
        await create_node(a, "gone", kind="Image", blobs=[sha(orphan)])
        await must(a, "node.delete", uuid="gone")
        mark = log_mark(srv)

        async def collected():
            await must(a, "admin.save")
            return log_lines(srv, "Blobs collected", start=mark)
        # The grace is counted from the end of each upload: saves repeat
        # until it has passed.
        deadline = asyncio.get_running_loop().time() + 15
        lines = []
        while not lines:
            self.assertLess(asyncio.get_running_loop().time(), deadline, "no collection")
            lines = await collected()
            await asyncio.sleep(0.2)
        self.assertIn("count=2 bytes=13000", lines[0])
        r = await must(a, "blob.has", hashes=[sha(named), sha(loose), sha(orphan)])
        self.assertEqual(r["have"], [sha(named)])
        stats = await must(a, "admin.stats")
        self.assertEqual((stats["blob_count"], stats["blob_bytes"]), (1, 5000))
        metrics = srv.http_get("/metrics")[2].decode()
        self.assertIn("sessiond_blobs_collected_total 2", metrics)

    async def test_a_fresh_unnamed_blob_survives_a_save(self):
        srv = self.start()
        a = await self.user(srv, "alice", admin_password=ADMIN)
        data = blob_of(1000, 17)
        self.assertOk((await upload(a, data))[1])
        await must(a, "admin.save")
        r = await must(a, "blob.has", hashes=[sha(data)])
        self.assertEqual(r["have"], [sha(data)])


# ======================================================================
class ReportingTest(BlobCase):
    async def test_stats_http_api_and_metrics(self):
        srv = self.start()
        a = await self.user(srv, "alice", admin_password=ADMIN)
        for i, n in enumerate((1000, 2345)):
            self.assertOk((await upload(a, blob_of(n, 20 + i)))[1])
        stats = await must(a, "admin.stats")
        self.assertEqual((stats["blob_count"], stats["blob_bytes"]), (2, 3345))
        self.assertEqual((stats["chunk_count"], stats["chunk_bytes"]), (2, 3345))
        status, body = http_get_admin(srv, "/api/sessions/test")
        self.assertEqual(status, 200, body)
        api = json.loads(body)
        self.assertEqual((api["blob_count"], api["blob_bytes"]), (2, 3345))
        self.assertEqual((api["chunk_count"], api["chunk_bytes"]), (2, 3345))
        metrics = srv.http_get("/metrics")[2].decode()
        self.assertIn('sessiond_blob_bytes{session="test"} 3345', metrics)
        self.assertIn('sessiond_chunk_bytes{session="test"} 3345', metrics)


def http_get_admin(srv, path):
    """(status, body) of a GET of the admin API with the bearer token."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {ADMIN}"})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


# ======================================================================
class ConcurrencyTest(BlobCase):
    async def test_another_client_is_served_during_an_upload(self):
        srv = self.start()
        a = await self.user(srv, "alice")
        b = await self.user(srv, "bob")
        await create_node(b, "n")
        data = blob_of(8 * MIB, 30)
        h = sha(data)
        await must(a, "blob.put", hash=h, size=len(data))
        for i in range(0, 4 * MIB, 64 * 1024):
            await a.send_binary(data[i:i + 64 * 1024])
        # The upload is open and half sent: bob's writes go on.
        for i in range(20):
            r = await must(b, "node.update", uuid="n", patch={"i": i})
            self.assertEqual(r["version"], i + 2)
        self.assertEqual(db_rows(srv, "SELECT count(*) FROM blobs"), "0")
        for i in range(4 * MIB, len(data), 64 * 1024):
            await a.send_binary(data[i:i + 64 * 1024])
        self.assertOk(await a.request("blob.end", hash=h))
        ok, got, _ = await download(self, b, h)
        self.assertEqual(sha(got), h)


if __name__ == "__main__":
    unittest.main()
