"""The add-on's protocol client (clients/blender/sessiond_blender/client.py)
against the real server, with plain python3 and no Blender: handshake,
errors in the server's words, events between two clients, delta resume after
a reconnect, the server killed and restarted under a connected client, and
blobs (upload, download into the cache, dedup) when the server has them,
and chunked blobs (protocol 1.2): only missing chunks sent and fetched, an
interrupted upload resumed, the chunk cache bounded and reused after a
restart, whole blobs with a 1.1 server.

One server for the whole file (the kill -9 test restarts it on the same
port and data).
"""

import base64
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "clients", "blender"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import Server                          # noqa: E402
from sessiond_blender import client as sc           # noqa: E402
from sessiond_blender import ws as sws              # noqa: E402

T = 10.0
MIB = 1024 * 1024


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--admin-password", "adm"]).start()
        cls.cache = tempfile.mkdtemp(prefix="sessiond-cache-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        shutil.rmtree(cls.cache, ignore_errors=True)

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.disconnect()

    def make(self, user, session="c", srv=None, **kw):
        srv = srv or self.srv
        kw.setdefault("cache_dir", os.path.join(self.cache, user))
        c = sc.Client("127.0.0.1", srv.port, session, user, **kw)
        self.clients.append(c)
        return c

    def joined(self, user, session="c", **kw):
        c = self.make(user, session, **kw)
        c.open_and_sync(T)
        return c

    # -- frames ----------------------------------------------------------
    def test_mask_round_trip(self):
        data = os.urandom(1000003)
        mask = b"\x01\x02\x03\x04"
        masked = sws.mask_payload(mask, data)
        self.assertEqual(masked[:4], bytes(a ^ b for a, b in zip(data[:4], mask)))
        self.assertEqual(sws.mask_payload(mask, masked), data)

    def test_merge_patch(self):
        old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
        new = {"a": 1, "b": {"c": 5}, "e": [1], "f": "x"}
        p = sc.make_patch(old, new)
        self.assertEqual(p, {"b": {"c": 5, "d": None}, "e": [1], "f": "x"})
        self.assertEqual(sc.merge_patch(old, p), new)
        self.assertIsNone(sc.make_patch(new, dict(new)))

    # -- handshake ---------------------------------------------------------
    def test_handshake(self):
        c = self.joined("alice", "hs", color="#ff8800")
        self.assertEqual(c.status, "connected")
        self.assertEqual(c.resume, "full")
        self.assertFalse(c.initialized)
        self.assertTrue(c.epoch)
        self.assertIn("alice", c.users)
        self.assertEqual(c.users["alice"]["color"], "#ff8800")
        self.assertEqual(c.role, "user")
        c.call("session.init")
        self.assertTrue(c.initialized)
        admin = self.joined("root", "hs", admin_password="adm")
        self.assertEqual(admin.role, "admin")
        self.assertTrue(admin.initialized)

    def test_errors_in_the_servers_words(self):
        c = self.make("mallory", "hs2", admin_password="wrong")
        c.connect()
        with self.assertRaises(sc.Error) as e:
            c.wait(lambda: c.synced, T)
        self.assertEqual(e.exception.code, "auth_failed")
        self.assertEqual(c.status, "error")
        self.assertTrue(c.status_text().startswith("error: "))
        # No retry after a refusal: the client stays stopped.
        c.pump(0.3)
        self.assertEqual(c.status, "error")
        self.joined("bob", "hs2")
        dup = self.make("bob", "hs2")
        dup.connect()
        with self.assertRaises(sc.Error) as e:
            dup.wait(lambda: dup.synced, T)
        self.assertEqual(e.exception.code, "name_taken")

    def test_nodes_tasks_chat_between_two(self):
        a = self.joined("a", "two")
        b = self.joined("b", "two")
        a.call("node.create", uuid="n1", kind="Object", data={"name": "Cube", "loc": [0, 0, 0]})
        b.wait(lambda: "n1" in b.nodes, T)
        a.call("node.update", uuid="n1", patch={"loc": [1, 2, 3]})
        self.assertEqual(a.nodes["n1"]["data"]["loc"], [1, 2, 3])
        b.wait(lambda: b.nodes["n1"]["data"].get("loc") == [1, 2, 3], T)
        self.assertEqual(b.nodes["n1"]["data"]["name"], "Cube")
        b.call("node.lock", uuid="n1")
        a.wait(lambda: a.nodes["n1"]["owner"] == "b", T)
        r = a.request("node.update", uuid="n1", patch={"loc": [9, 9, 9]})
        a.wait(lambda: r.done, T)
        self.assertEqual(r.reply["code"], "forbidden")
        self.assertEqual(a.nodes["n1"]["data"]["loc"], [1, 2, 3])
        errors = [e for e in a.take_events() if e[0] == "error"]
        self.assertEqual(errors[-1][1], "forbidden")
        a.call("task.create", title="Fix the cube", node="n1")
        b.wait(lambda: any(t["title"] == "Fix the cube" for t in b.tasks.values()), T)
        b.call("chat.send", text="hello a")
        a.wait(lambda: any(m["text"] == "hello a" for m in a.chat), T)
        self.assertEqual(b.chat[-1]["text"], "hello a")
        with self.assertRaises(sc.Error) as e:
            a.call("node.delete", uuid="n1")    # locked by b
        self.assertEqual(e.exception.code, "forbidden")
        self.assertIn("n1", a.nodes)

    def test_delta_resume_after_reconnect(self):
        a = self.joined("ra", "resume")
        b = self.joined("rb", "resume")
        for i in range(3):
            a.call("node.create", uuid="r%d" % i, kind="Object", data={"i": i})
        b.wait(lambda: len(b.nodes) == 3, T)
        b.disconnect()
        a.call("node.update", uuid="r0", patch={"i": 10})
        a.call("node.delete", uuid="r1")
        a.call("node.create", uuid="r3", kind="Object", data={"i": 3})
        a.call("chat.send", text="while you were away")
        b.take_events()
        b.connect()
        b.wait(lambda: b.synced, T)
        self.assertEqual(b.resume, "delta")
        self.assertEqual(sorted(b.nodes), ["r0", "r2", "r3"])
        self.assertEqual(b.nodes["r0"]["data"], {"i": 10})
        self.assertEqual(b.chat[-1]["text"], "while you were away")
        ev = b.take_events()
        self.assertIn(("node", "delete", "r1"), ev)
        # only what changed came in the delta
        self.assertNotIn(("node", "update", "r2"), ev)
        self.assertNotIn(("node", "create", "r2"), ev)

    def test_reconnect_after_kill9(self):
        srv = self.srv
        a = self.make("ka", "kill")
        a.open_and_sync(T)
        a.call("node.create", uuid="k1", kind="Object", data={"v": 1})
        epoch = a.epoch
        srv.kill9()
        try:
            a.wait(lambda: a.status == "reconnecting", T)
            self.assertRegex(a.status_text(), r"^reconnecting in \d+ s$")
        finally:
            srv.start()           # same port, same data
        a.wait(lambda: a.synced, T)
        self.assertEqual(a.epoch, epoch)
        self.assertEqual(a.resume, "delta")
        self.assertEqual(a.nodes["k1"]["data"], {"v": 1})
        a.call("node.update", uuid="k1", patch={"v": 2})

    # -- blobs ---------------------------------------------------------------
    def test_blobs(self):
        a = self.joined("ba", "blobs")
        b = self.joined("bb", "blobs")
        data = os.urandom(3 * 1024 * 1024 + 17)
        h = a.put_blob(data)
        self.assertEqual(h, hashlib.sha256(data).hexdigest())
        a.call("node.create", needs=[h], uuid="img", kind="Image",
               data={"blob": h}, blobs=[h])
        self.assertIn(h, a.uploaded)
        b.wait(lambda: "img" in b.nodes, T)
        self.assertEqual(b.nodes["img"].get("blobs"), [h])
        self.assertFalse(b.fetch_blob(h))
        b.wait(lambda: b.has_blob(h), 30)
        self.assertEqual(b.read_blob(h), data)
        self.assertIn(("blob", h), b.take_events())
        # the same bytes again: the server already has them
        r = a.request("blob.put", hash=h, size=len(data))
        a.wait(lambda: r.done, T)
        self.assertTrue(r.reply.get("have"), r.reply)
        r = b.request("blob.has", hashes=[h, "1" * 64])
        b.wait(lambda: r.done, T)
        self.assertEqual(r.reply["have"], [h])


class Client11(sc.Client):
    """The add-on's client told by its welcome that the server speaks 1.1
    (a server of that version: no chunks)."""

    def _on_welcome(self, m):
        if m.get("type") == "welcome":
            m = dict(m, server=dict(m.get("server") or {}, protocol="1.1"))
        super()._on_welcome(m)


KIB = 1024
PIECE = 256 * KIB


class ChunkTest(unittest.TestCase):
    """Protocol 1.2 blobs as the add-on sends and fetches them: only the
    chunks the other side lacks travel; the chunk cache is bounded and
    survives a restart; a 1.1 server gets whole blobs."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--admin-password", "adm"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def setUp(self):
        self.clients = []
        self.cache = tempfile.mkdtemp(prefix="sessiond-chunks-")

    def tearDown(self):
        for c in self.clients:
            c.disconnect()
        shutil.rmtree(self.cache, ignore_errors=True)

    def joined(self, user, session, cls=sc.Client, cache=None, **kw):
        c = cls("127.0.0.1", self.srv.port, session, user,
                cache_dir=os.path.join(self.cache, cache or user), **kw)
        self.clients.append(c)
        c.open_and_sync(T)
        return c

    def publish(self, c, uuid, data, parts=None):
        """Upload `data` and name it in a node; returns (hash, blob bytes
        sent, bytes on the wire)."""
        sent, wire = c.blob_bytes_sent, c.ws.bytes_sent
        h = c.put_blob(data, parts=parts)
        if uuid in c.nodes:
            c.call("node.update", needs=[h], uuid=uuid, blobs=[h], patch={"blob": h})
        else:
            c.call("node.create", needs=[h], uuid=uuid, kind="Mesh", data={"blob": h}, blobs=[h])
        return h, c.blob_bytes_sent - sent, c.ws.bytes_sent - wire

    def fetch(self, c, h):
        """Download a blob; returns the blob bytes received."""
        got = c.blob_bytes_received
        if not c.fetch_blob(h):
            c.wait(lambda: c.has_blob(h), 30)
        self.assertIn(("blob", h), c.take_events())
        return c.blob_bytes_received - got

    def test_only_missing_chunks_travel(self):
        a = self.joined("ca", "chunks")
        b = self.joined("cb", "chunks")
        self.assertTrue(a.chunked)
        # Two "arrays" of 1 MiB + 10 and 2 MiB + 17 bytes: each cut from its start.
        parts = [MIB + 10, 2 * MIB + 17]
        v1 = os.urandom(sum(parts))
        h1, sent, wire1 = self.publish(a, "mesh", v1, parts)
        self.assertEqual(sent, len(v1))
        self.assertEqual(self.fetch(b, h1), len(v1))
        self.assertEqual(b.read_blob(h1), v1)
        # 100 bytes changed at the start of the second array: one chunk.
        v2 = bytearray(v1)
        v2[parts[0] + 5:parts[0] + 105] = os.urandom(100)
        v2 = bytes(v2)
        h2, sent, wire2 = self.publish(a, "mesh", v2, parts)
        self.assertEqual(sent, PIECE)
        self.assertLess(wire2, 0.1 * wire1)
        self.assertEqual(self.fetch(b, h2), PIECE)
        self.assertEqual(b.read_blob(h2), v2)
        # The same blob again: nothing is sent at all.
        h, sent, _ = self.publish(a, "mesh", v2, parts)
        self.assertEqual((h, sent), (h2, 0))
        # What the web page does for a thumbnail (a 1.1 blob.get) reads the
        # chunked blob whole.
        web = self.joined("web", "chunks", cls=Client11)
        self.assertFalse(web.chunked)
        self.assertEqual(self.fetch(web, h2), len(v2))
        self.assertEqual(web.read_blob(h2), v2)

    def test_an_interrupted_upload_resumes(self):
        a = self.joined("ia", "interrupted")
        data = os.urandom(8 * PIECE)
        calls = []
        send = a._send_bytes

        def cut_off(view):
            # The connection drops once the first four chunks are out.
            calls.append(len(view))
            if len(calls) <= 4:
                send(view)
            if len(calls) == 4:
                while a.ws.pending_output:
                    a.ws.pump(0.01)
                a.ws.sock.shutdown(socket.SHUT_WR)
        a._send_bytes = cut_off
        h = a.put_blob(data)
        a.wait(lambda: len(calls) == 8 and a.status == "reconnecting", T)
        a._send_bytes = send
        before = a.blob_bytes_sent
        a.call("node.create", needs=[h], uuid="n", kind="Mesh", data={"blob": h}, blobs=[h])
        self.assertEqual(a.blob_bytes_sent - before, 4 * PIECE)
        b = self.joined("ib", "interrupted")
        self.fetch(b, h)
        self.assertEqual(b.read_blob(h), data)

    def test_cache_is_bounded(self):
        a = self.joined("ba", "bounded")
        b = self.joined("bb", "bounded", cache_memory=MIB, cache_disk=2 * MIB)
        blobs = [os.urandom(MIB) for _ in range(4)]
        hashes = []
        for i, data in enumerate(blobs):
            h, _, _ = self.publish(a, "n%d" % i, data)
            hashes.append(h)
            self.fetch(b, h)
            self.assertLessEqual(b.chunks.memory_bytes, MIB)
            self.assertLessEqual(b.chunks.disk_bytes, 2 * MIB)
        on_disk = sum(os.path.getsize(os.path.join(d, f))
                      for d, _, files in os.walk(b.cache_dir) for f in files)
        self.assertLessEqual(on_disk, 2 * MIB)
        self.assertEqual(b.read_blob(hashes[-1]), blobs[-1])
        # The oldest was evicted: fetched again (all of it), and right.
        self.assertFalse(b.has_blob(hashes[0]))
        self.assertEqual(self.fetch(b, hashes[0]), MIB)
        self.assertEqual(b.read_blob(hashes[0]), blobs[0])

    def test_disk_cache_reused_after_restart(self):
        a = self.joined("ra", "restart")
        b = self.joined("rb", "restart")
        v1 = os.urandom(2 * MIB)
        h1, _, _ = self.publish(a, "mesh", v1)
        self.fetch(b, h1)
        b.disconnect()
        # A new client (Blender started again) on the same cache directory.
        b2 = self.joined("rb", "restart", cache="rb")
        self.assertTrue(b2.fetch_blob(h1))
        self.assertEqual(b2.read_blob(h1), v1)
        v2 = v1[:MIB] + os.urandom(16) + v1[MIB + 16:]
        h2, _, _ = self.publish(a, "mesh", v2)
        self.assertEqual(self.fetch(b2, h2), PIECE)
        self.assertEqual(b2.read_blob(h2), v2)
        # A damaged chunk file is not used: it is fetched again.
        b2.disconnect()
        for d, _, files in os.walk(os.path.join(self.cache, "rb", "chunks")):
            for f in files:
                with open(os.path.join(d, f), "r+b") as fh:
                    fh.write(b"x")
        b3 = self.joined("rb", "restart", cache="rb")
        self.assertIsNone(b3.read_blob(h2))
        self.assertEqual(self.fetch(b3, h2), len(v2))
        self.assertEqual(b3.read_blob(h2), v2)

    def test_a_1_1_server_gets_whole_blobs(self):
        a = self.joined("oa", "old", cls=Client11)
        b = self.joined("ob", "old", cls=Client11)
        c = self.joined("oc", "old")
        v1 = os.urandom(MIB + 3)
        h1, sent, _ = self.publish(a, "mesh", v1, [MIB, 3])
        self.assertEqual(sent, len(v1))
        v2 = b"y" + v1[1:]
        h2, sent, _ = self.publish(a, "mesh", v2, [MIB, 3])
        self.assertEqual(sent, len(v2))        # no chunks: every byte again
        self.assertEqual(self.fetch(b, h2), len(v2))
        self.assertEqual(b.read_blob(h2), v2)
        # A 1.2 client beside them reads what the 1.1 one uploaded.
        self.assertEqual(self.fetch(c, h1), len(v1))
        self.assertEqual(c.read_blob(h1), v1)
        # and the 1.1 one what a 1.2 one uploaded.
        v3 = os.urandom(300 * KIB)
        h3, sent, _ = self.publish(c, "other", v3)
        self.assertEqual(sent, len(v3))
        self.assertEqual(self.fetch(b, h3), len(v3))
        self.assertEqual(b.read_blob(h3), v3)


def tls_echo_server(cert, key):
    """A one-connection wss:// server: upgrade, echo one message back
    (unmasked, as a server sends), then close with 1000. Returns (port,
    thread, received-frames list)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    got = []

    def serve():
        conn, _ = ls.accept()
        ls.close()
        with ctx.wrap_socket(conn, server_side=True) as c:
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key")][0]
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                      .digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            buf = b""
            while True:
                buf += c.recv(65536)
                if len(buf) < 2:
                    continue
                n = buf[1] & 0x7F
                off = 2
                if n == 126:
                    n, off = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127:
                    n, off = struct.unpack("!Q", buf[2:10])[0], 10
                if len(buf) >= off + 4 + n:
                    break
            mask, payload = buf[off:off + 4], buf[off + 4:off + 4 + n]
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            got.append((buf[0] & 0x0F, bool(buf[1] & 0x80), data))
            c.sendall(bytes([0x81, len(data)]) + data)
            c.sendall(b"\x88\x02\x03\xe8")
            c.settimeout(T)
            got.append(c.recv(100)[0] & 0x0F)      # the client's answering close

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return ls.getsockname()[1], t, got


@unittest.skipUnless(shutil.which("openssl"), "openssl is not installed")
class TlsTest(unittest.TestCase):
    def test_wss_round_trip(self):
        tmp = tempfile.mkdtemp(prefix="sessiond-tls-")
        try:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost"],
                           check=True, capture_output=True)
            port, thread, got = tls_echo_server(cert, key)
            ctx = ssl.create_default_context(cafile=cert)
            w = sws.WebSocket("localhost", port, "/s/x", tls=True, ssl_context=ctx)
            events = []
            deadline = time.monotonic() + T
            sent = False
            while not any(e[0] == "close" for e in events) and time.monotonic() < deadline:
                events += w.pump(0.05)
                if w.state == sws.OPEN and not sent:
                    w.send_text("hello over tls")
                    sent = True
            thread.join(T)
            self.assertEqual(got, [(1, True, b"hello over tls"), 8])    # text masked; close
            self.assertIn(("open", None), events)
            self.assertIn(("text", "hello over tls"), events)
            self.assertEqual(events[-1], ("close", (1000, "")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
