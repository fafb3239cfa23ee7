#!/usr/bin/python3
"""Black-box tests of chunked blobs (PROTOCOL.md section 11, version 1.2):
blob.put with `chunks` and `missing`, per-chunk and whole-blob hash checks,
resumed uploads (dropped connection, kill -9), blob.chunks, chunk.get,
chunk.has, downloads against MAX_CLIENT_QUEUE_BYTES, the collection clocks,
and 1.1 clients beside 1.2 ones. The 1.1 rules are in test_blobs.py.

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_chunks.py -v
Every test starts its own server on a free port with a fresh data dir.
"""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support import await_log, create_node, log_lines, log_mark, must  # noqa: E402
from test_blobs import (ADMIN, MIB, BlobCase, blob_of, db_rows, download,  # noqa: E402
                        recv_any, sha, upload)

KIB = 1024


def cut(data, size=256 * KIB):
    """The client's cut: [(hash, size)] and the pieces."""
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    return [[sha(p), len(p)] for p in pieces], pieces


async def put_chunked(c, data, size=256 * KIB, hash=None):
    """blob.put with chunks: returns (reply, pieces)."""
    chunks, pieces = cut(data, size)
    r = await c.request("blob.put", hash=hash or sha(data), size=len(data), chunks=chunks)
    return r, pieces


async def send_missing(c, r, pieces, frame=300 * KIB):
    """The bytes of the missing chunks, one after the other, in frames of
    `frame` bytes whatever the chunk boundaries."""
    stream = b"".join(pieces[i] for i in r["missing"])
    for i in range(0, len(stream), frame):
        await c.send_binary(stream[i:i + frame])
    return len(stream)


async def upload_chunked(c, data, size=256 * KIB, hash=None):
    """The whole 1.2 upload: returns (put reply, end reply, bytes sent)."""
    h = hash or sha(data)
    r, pieces = await put_chunked(c, data, size, h)
    if r["type"] != "ok" or r["have"]:
        return r, None, 0
    sent = await send_missing(c, r, pieces)
    return r, await c.request("blob.end", hash=h), sent


async def chunk_get(test, c, hashes, rid="cg"):
    """chunk.get: returns (ok, [binary frames])."""
    await c.send({"type": "chunk.get", "id": rid, "hashes": hashes})
    while True:
        m = await recv_any(c)
        test.assertNotIsInstance(m, bytes, "chunk bytes before the ok of chunk.get")
        if m.get("re") == rid:
            break
        c.pending.append(m)
    frames = []
    while m["type"] == "ok" and len(frames) < len(m["hashes"]):
        f = await recv_any(c)
        if isinstance(f, bytes):
            frames.append(f)
        else:
            c.pending.append(f)
    return m, frames


def vm_rss_kib(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ======================================================================
class ChunkedUploadTest(BlobCase):
    async def test_welcome_says_protocol_1_2(self):
        srv = self.start()
        _, welcome, _, _ = await self.joined(srv, "alice")
        self.assertEqual(welcome["server"]["protocol"], "1.2")

    async def test_only_missing_chunks_are_sent_and_stored_once(self):
        srv = self.start()
        c = await self.user(srv)
        a = blob_of(MIB + 100, 40)                       # 5 chunks of the 256 KiB cut
        put, end, sent = await upload_chunked(c, a)
        self.assertEqual(put["missing"], [0, 1, 2, 3, 4])
        self.assertOk(end)
        self.assertEqual((end["hash"], end["size"], sent), (sha(a), len(a), len(a)))
        # One byte changed in the third piece: only that piece goes.
        b = bytearray(a)
        b[600 * KIB] ^= 0xFF
        b = bytes(b)
        put, end, sent = await upload_chunked(c, b)
        self.assertEqual(put["missing"], [2])
        self.assertOk(end)
        self.assertEqual(sent, 256 * KIB)
        # A piece listed twice is missing once, at its first index.
        x = blob_of(100 * KIB, 41)
        chunks = [[sha(x), len(x)]] * 3 + cut(a)[0][:1]
        r = await must(c, "blob.put", hash=sha(x * 3 + a[:256 * KIB]), size=3 * len(x) +
                       256 * KIB, chunks=chunks)
        self.assertEqual((r["have"], r["missing"]), (False, [0]))
        await c.send_binary(x)
        self.assertOk(await c.request("blob.end", hash=sha(x * 3 + a[:256 * KIB])))
        for data in (a, b, x * 3 + a[:256 * KIB]):
            ok, got, sizes = await download(self, c, sha(data))
            self.assertEqual(got, data)
            self.assertTrue(all(s <= 256 * KIB for s in sizes), sizes)
        # Shared chunks are stored once: a's 5, b's changed one, x.
        stats = await must(c, "blob.has", hashes=[sha(a), sha(b)])
        self.assertEqual(len(stats["have"]), 2)
        self.assertEqual(db_rows(srv, "SELECT count(*), sum(size) FROM chunks"),
                         f"7|{len(a) + 256 * KIB + len(x)}")
        # The same blob again: have:true, its (well-formed) list not looked at.
        r = await must(c, "blob.put", hash=sha(a), size=len(a),
                       chunks=[["0" * 64, MIB], ["0" * 64, len(a) - MIB]])
        self.assertEqual(r["have"], True)
        self.assertNotIn("missing", r)

    async def test_1_1_and_1_2_clients_side_by_side(self):
        srv = self.start()
        new = await self.user(srv, "new")
        old = await self.user(srv, "old")
        a = blob_of(2 * MIB + 5, 42)
        _, end, _ = await upload_chunked(new, a, size=100 * KIB)
        self.assertOk(end)
        ok, got, _ = await download(self, old, sha(a))          # 1.1 download
        self.assertEqual(got, a)
        b = blob_of(3 * MIB - 7, 43)
        self.assertOk((await upload(old, b))[1])                # 1.1 upload: 1 MiB cut
        r = await must(new, "blob.chunks", hash=sha(b))
        self.assertEqual((r["hash"], r["size"]), (sha(b), len(b)))
        self.assertEqual([s for _, s in r["chunks"]], [MIB, MIB, MIB - 7])
        self.assertEqual([h for h, _ in r["chunks"]], [sha(b[i:i + MIB]) for i in
                                                        range(0, len(b), MIB)])
        # A 1.2 client that holds the first chunk fetches the other two.
        ok, frames = await chunk_get(self, new, [h for h, _ in r["chunks"][1:]])
        self.assertEqual(b[:MIB] + b"".join(frames), b)

    async def test_bad_chunk_hash_ends_the_upload_quietly(self):
        srv = self.start()
        c = await self.user(srv)
        data = blob_of(MIB, 44)
        chunks, pieces = cut(data)
        chunks[1][0] = sha(b"not this piece")
        put = await must(c, "blob.put", hash=sha(data), size=len(data), chunks=chunks)
        # Every byte in flight at once: the frames after the bad chunk are
        # dropped without an error each.
        for i in range(0, len(data), 128 * KIB):
            await c.send_binary(data[i:i + 128 * KIB])
        err = await c.next_event("error")
        self.assertError(err, "bad_request", "chunk 1", re=put["re"])
        self.assertEqual(await c.quiet(), [])  # no other error came
        r = await must(c, "blob.has", hashes=[sha(data)])
        self.assertEqual(r["have"], [])
        r = await must(c, "chunk.has", hashes=[h for h, _ in cut(data)[0]])
        self.assertEqual(r["have"], [sha(pieces[0])])  # the good one before it stays
        # The connection goes on: a binary frame now is an error again, and
        # the upload can start over (sending only what is missing).
        await c.send_binary(b"x")
        self.assertError(await c.next_event("error"), "bad_request", "binary")
        put, end, sent = await upload_chunked(c, data)
        self.assertEqual(put["missing"], [1, 2, 3])
        self.assertOk(end)

    async def test_bad_whole_hash_with_good_chunks(self):
        srv = self.start()
        c = await self.user(srv)
        a = blob_of(3 * MIB, 45)
        self.assertOk((await upload_chunked(c, a, size=MIB))[1])
        wrong = sha(b"another blob")
        for name, data in (("all sent", blob_of(600 * KIB, 46)),
                           ("mostly held", a + b"tail")):
            with self.subTest(name):
                chunks, pieces = cut(data, MIB)
                r = await must(c, "blob.put", hash=wrong, size=len(data), chunks=chunks)
                await send_missing(c, r, pieces)
                end = await c.request("blob.end", hash=wrong)
                self.assertError(end, "bad_request", "hash mismatch", re=end["re"])
                r = await must(c, "blob.has", hashes=[wrong, sha(data)])
                self.assertEqual(r["have"], [])

    async def test_sizes_that_do_not_add_up(self):
        srv = self.start()
        c = await self.user(srv)
        h = sha(b"abc")
        for chunks, word in (([[h, 2]], "add up"), ([[h, 0], [h, 3]], "chunks[0]"),
                             ([[h, MIB + 1]], "chunks[0]"), ([[h]], "chunks[0]"),
                             ([["AB" * 32, 3]], "chunks[0]"), ({"a": 1}, "chunks"),
                             ([[h, 1]] * 4097, "4096")):
            with self.subTest(word=word, n=len(chunks)):
                size = 3 if word != "4096" else 4097
                r = await c.request("blob.put", hash=h, size=size, chunks=chunks)
                self.assertError(r, "bad_request", word, re=r["re"])
        # More bytes than the missing chunks hold: blob.end refuses.
        data = blob_of(1000, 47)
        r, pieces = await put_chunked(c, data)
        await c.send_binary(data + b"!")
        end = await c.request("blob.end", hash=sha(data))
        self.assertError(end, "bad_request", "size mismatch", re=end["re"])
        r = await must(c, "blob.has", hashes=[sha(data)])
        self.assertEqual(r["have"], [])

    async def test_held_chunks_are_hashed_before_the_end_is_answered(self):
        """blob.end of a blob whose chunks are mostly held: the server reads
        them back (in steps) before it answers, and answers in order."""
        srv = self.start()
        c = await self.user(srv)
        a = blob_of(24 * MIB, 48)
        self.assertOk((await upload_chunked(c, a, size=MIB))[1])
        b = a + b"one more"
        r, pieces = await put_chunked(c, b, size=MIB)
        self.assertEqual(r["missing"], [24])
        await c.send_binary(b"one more")
        await c.send({"type": "blob.end", "id": "end", "hash": sha(b)})
        await c.send({"type": "ping", "id": "after"})
        first = await c.recv()
        self.assertEqual(first.get("re"), "end", first)
        self.assertOk(first)
        self.assertEqual(first["size"], len(b))
        self.assertEqual((await c.recv()).get("re"), "after")
        ok, got, _ = await download(self, c, sha(b))
        self.assertEqual(got, b)


# ======================================================================
class ResumeTest(BlobCase):
    async def interrupted(self, srv, data):
        c = await self.user(srv, "alice")
        r, pieces = await put_chunked(c, data)
        self.assertEqual(r["missing"], list(range(16)))
        await c.send_binary(data[:2 * MIB + 100])
        await c.ok("ping")  # the 8 complete chunks are committed
        return c

    async def resumed(self, srv, data):
        c = await self.user(srv, "alice2")
        put, end, sent = await upload_chunked(c, data)
        self.assertEqual(put["missing"], list(range(8, 16)))
        self.assertOk(end)
        self.assertEqual(sent, 2 * MIB)
        ok, got, _ = await download(self, c, sha(data))
        self.assertEqual(got, data)

    async def test_resume_after_a_dropped_connection(self):
        srv = self.start()
        data = blob_of(4 * MIB, 50)
        c = await self.interrupted(srv, data)
        mark = log_mark(srv)
        await c.close()
        await await_log(srv, "Blob upload interrupted", start=mark)
        await self.resumed(srv, data)

    async def test_resume_after_kill9(self):
        srv = self.start()
        data = blob_of(4 * MIB, 51)
        await self.interrupted(srv, data)
        srv.kill9()
        srv.restart()
        await await_log(srv, "sessiond ready")
        await self.resumed(srv, data)


# ======================================================================
class DownloadTest(BlobCase):
    async def test_chunk_get_order_and_frames(self):
        srv = self.start()
        c = await self.user(srv)
        data = blob_of(700 * KIB, 52)
        _, end, _ = await upload_chunked(c, data, size=300 * KIB)
        self.assertOk(end)
        (h0, s0), (h1, s1), (h2, s2) = cut(data, 300 * KIB)[0]
        ok, frames = await chunk_get(self, c, [h2, h0, h2])
        self.assertEqual((ok["hashes"], ok["sizes"]), ([h2, h0, h2], [s2, s0, s2]))
        self.assertEqual(frames, [data[600 * KIB:], data[:300 * KIB], data[600 * KIB:]])
        r = await c.request("chunk.get", hashes=[h1, "0" * 64])
        self.assertError(r, "not_found", "0" * 64, re=r["re"])
        r = await c.request("chunk.get", hashes=[h1] * 1025)
        self.assertError(r, "bad_request", "hashes", re=r["re"])
        r = await must(c, "chunk.has", hashes=[h1, "0" * 64, h0])
        self.assertEqual(r["have"], [h1, h0])
        r = await c.request("blob.chunks", hash="0" * 64)
        self.assertError(r, "not_found", "0" * 64, re=r["re"])
        # Downloads are answered one at a time, in order, around other replies.
        await c.send({"type": "chunk.get", "id": "a", "hashes": [h1]})
        await c.send({"type": "blob.get", "id": "b", "hash": sha(data)})
        await c.send({"type": "ping", "id": "p"})
        seen = []
        while not seen or seen[-1] != "p":
            m = await recv_any(c)
            seen.append(len(m) if isinstance(m, bytes) else m.get("re"))
        self.assertEqual(seen, ["a", s1, "b", s0, s1, s2, "p"])

    async def test_pipelined_downloads_count_in_the_queue_limit(self):
        """A client that asks for many downloads and reads nothing holds at
        most a chunk of them in the server, and is closed as lagging; one
        that reads gets everything under the same limit."""
        # Under AddressSanitizer, freed memory waits in a quarantine (256 MB
        # by default) and would count in the server's RSS: keep it small.
        asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=4"]))
        srv = self.start(MAX_CLIENT_QUEUE_BYTES=str(2 * MIB), TIMEOUT="3", ASAN_OPTIONS=asan)
        c = await self.user(srv)
        data = blob_of(8 * MIB, 53)
        self.assertOk((await upload(c, data, frame=MIB))[1])
        for i in range(4):
            await c.send({"type": "blob.get", "id": f"g{i}", "hash": sha(data)})
        got = bytearray()
        while len(got) < 4 * len(data):
            m = await recv_any(c)
            if isinstance(m, bytes):
                got += m
        self.assertEqual(bytes(got), data * 4)

        slow = await self.client(srv, max_queue=1, read_limit=2 ** 16)
        await slow.hello("slow")
        before = vm_rss_kib(srv)
        mark = log_mark(srv)
        for i in range(40):
            await slow.send({"type": "blob.get", "id": f"s{i}", "hash": sha(data)})

        async def keep_talking():  # not silent: only its reading stops
            while True:
                await slow.send({"type": "ping"})
                await asyncio.sleep(0.3)
        talker = asyncio.create_task(keep_talking())
        try:
            await await_log(srv, "reason=lagging", timeout=20, start=mark)
        finally:
            talker.cancel()
        # 40 downloads of 8 MiB were asked for: the server grew by far less.
        self.assertLess(vm_rss_kib(srv) - before, 16 * 1024)
        await c.ok("ping")  # everyone else is served


# ======================================================================
class CollectionTest(BlobCase):
    async def saved(self, c):
        """admin.save, then a ping: collection steps run in the passes
        between (a small session is done before its save anyway)."""
        await must(c, "admin.save")
        await c.ok("ping")

    async def test_have_true_protects_the_blob_for_its_hour(self):
        """1.1 defect: a save between a have:true and the node.create naming
        the blob deleted it."""
        srv = self.start(BLOB_GC_GRACE="2")
        a = await self.user(srv, "alice", admin_password=ADMIN)
        data = blob_of(5000, 60)
        self.assertOk((await upload(a, data))[1])
        await asyncio.sleep(2.5)  # its upload is older than the grace now
        r = await must(a, "blob.put", hash=sha(data), size=len(data))
        self.assertIs(r["have"], True)
        await self.saved(a)  # the save between the have:true and the name
        r = await must(a, "blob.has", hashes=[sha(data)])
        self.assertEqual(r["have"], [sha(data)])
        await create_node(a, "img", kind="Image", blobs=[sha(data)])
        await asyncio.sleep(2.5)
        await self.saved(a)  # named: kept however old
        # Unnamed now: it has the grace from this moment, not from its upload.
        await must(a, "node.update", uuid="img", blobs=[])
        await self.saved(a)
        r = await must(a, "blob.has", hashes=[sha(data)])
        self.assertEqual(r["have"], [sha(data)])
        await asyncio.sleep(2.5)
        await self.saved(a)
        r = await must(a, "blob.has", hashes=[sha(data)])
        self.assertEqual(r["have"], [])
        r = await must(a, "admin.stats")
        self.assertEqual((r["blob_count"], r["chunk_count"], r["chunk_bytes"]), (0, 0, 0))

    async def test_chunks_of_open_uploads_stay_others_go(self):
        srv = self.start(BLOB_GC_GRACE="1")
        a = await self.user(srv, "alice", admin_password=ADMIN)
        b = await self.user(srv, "bob")
        left, kept = blob_of(MIB, 61), blob_of(MIB, 62)
        # An interrupted upload leaves its complete chunks behind...
        r, pieces = await put_chunked(a, left)
        await a.send_binary(pieces[0] + pieces[1])
        await a.ok("ping")
        # ... and bob has an upload open that lists its chunks.
        r, kpieces = await put_chunked(b, kept)
        await b.send_binary(kpieces[0])
        await b.ok("ping")
        await a.close()
        a = await self.user(srv, "alice", admin_password=ADMIN)
        await asyncio.sleep(1.5)
        await self.saved(a)
        r = await must(a, "chunk.has", hashes=[sha(p) for p in pieces + kpieces])
        self.assertEqual(r["have"], [sha(kpieces[0])])
        # Bob's upload goes on and completes.
        for p in kpieces[1:]:
            await b.send_binary(p)
        self.assertOk(await b.request("blob.end", hash=sha(kept)))

    async def test_collection_runs_in_steps_to_the_end(self):
        srv = self.start(BLOB_GC_GRACE="1")
        a = await self.user(srv, "alice", admin_password=ADMIN)
        n = 300  # several steps of rows
        for i in range(n):
            self.assertOk((await upload(a, blob_of(100 + i, 1000 + i)))[1])
        await asyncio.sleep(1.5)
        mark = log_mark(srv)
        await must(a, "admin.save")
        await await_log(srv, f"Blobs collected (session=test count={n}", start=mark)
        r = await must(a, "admin.stats")
        self.assertEqual((r["blob_count"], r["chunk_count"]), (0, 0))
        self.assertEqual(len(log_lines(srv, "Blobs collected", start=mark)), 1)


# ======================================================================
class ConcurrencyTest(BlobCase):
    async def test_other_clients_acks_during_a_large_upload(self):
        srv = self.start()
        a = await self.user(srv, "alice")
        b = await self.user(srv, "bob")
        await create_node(b, "n")
        data = blob_of(48 * MIB, 70)
        done = asyncio.Event()
        acks_during = 0

        async def bob():
            nonlocal acks_during
            i = 0
            while not done.is_set():
                r = await must(b, "node.update", uuid="n", patch={"i": i})
                self.assertEqual(r["version"], i + 2)
                i += 1
                if not done.is_set():
                    acks_during += 1
        task = asyncio.create_task(bob())
        put, end, _ = await upload_chunked(a, data, size=MIB)
        done.set()
        await task
        self.assertOk(end)
        self.assertGreater(acks_during, 10)
        ok, got, _ = await download(self, b, sha(data))
        self.assertEqual(sha(got), sha(data))


if __name__ == "__main__":
    unittest.main()
