"""Shared helpers for the sessiond black-box integration tests.

The tests start the real binary on a free port and talk to it as a client
would, asserting only what a client (or an operator looking at the data
directory) can see.  Standard library plus Debian's websockets 10.4; run with
/usr/bin/python3.

- Server: starts `$SESSIOND` (default build/sessiond) on 127.0.0.1 and a free
  port with a data directory, waits for "listening on 127.0.0.1:PORT" on
  stderr, keeps every log line in `lines`, stops with SIGTERM or SIGKILL.
- Client: a websockets connection with JSON helpers.  `request()` assigns
  integer ids and buffers whatever arrives before the matching reply, so
  events are never lost; `next_event()` takes from that buffer first.
- RawWS: a minimal hand-written WebSocket client over asyncio streams, for
  what websockets will not send (invalid UTF-8, odd frames), for peers
  that stop reading, and for pipelining (send_json_many: frames in one write).
- ServerTestCase: IsolatedAsyncioTestCase that owns servers and clients and
  cleans them up; it fails a test whose server died on its own.

Every wait is bounded.  Set SESSIOND_SHOW_LOG=1 to print server logs.
"""

import asyncio
import base64
import http.client
import itertools
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import websockets
import websockets.exceptions

# IsolatedAsyncioTestCase runs its loop in debug mode; keep its "slow
# callback" warnings out of the test output.
logging.getLogger("asyncio").setLevel(logging.ERROR)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 10.0          # one frame / one reply
# The server reads every setting from an environment variable of this name
# too; strip them so the caller's environment cannot change a test.
SETTINGS = ("PORT", "HOST", "DATA_DIR", "SERVER_PASSWORD", "ADMIN_PASSWORD",
            "LOG_LEVEL", "TIMEOUT", "SAVE_INTERVAL", "MAX_BACKUPS",
            "MAX_MESSAGE_BYTES", "CHAT_HISTORY", "CHAT_KEEP", "SYNC",
            "MAX_CONNECTIONS", "MAX_IDLE_CONNECTIONS", "MAX_IDLE_PER_ADDRESS",
            "MAX_CLIENT_QUEUE_BYTES", "RATE_LIMIT",
            "BACKUP_KEEP_HOURLY", "BACKUP_KEEP_DAILY",
            "MAX_BLOB_BYTES", "BLOB_GC_GRACE",
            "MAX_SESSIONS", "CREATE_SESSIONS", "SESSION_IDLE_CLOSE",
            "ALLOWED_ORIGINS", "AUTH_LOCKOUT", "TLS_CERT", "TLS_KEY")
START_TIMEOUT = 15.0    # server start and stop
# SESSIOND_WRAPPER: a command the server runs under, e.g. "valgrind
# --error-exitcode=1 --leak-check=full" (the valgrind suite). Everything is
# slower then, so every bound grows.
WRAPPER = shlex.split(os.environ.get("SESSIOND_WRAPPER", ""))
if WRAPPER:
    TIMEOUT *= 4
    START_TIMEOUT *= 4


def binary_path():
    return os.environ.get("SESSIOND") or os.path.join(REPO, "build", "sessiond")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class ServerError(AssertionError):
    pass


class Server:
    """One sessiond process. `data_dir=None` makes a fresh temporary dir
    (removed by cleanup()); pass an existing dir to restart on it."""

    def __init__(self, args=(), env=None, data_dir=None, port=None):
        self.args = list(args)
        self.env = dict(env or {})
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sessiond-it-")
        self.port = port or free_port()
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.reader = None
        self.stopping = False
        self.returncode = None
        self.preexec = None         # run in the child before exec (rlimits)
        self.ssl_context = None     # set when the server serves TLS: wss://, https://

    # -- lifecycle -----------------------------------------------------
    def start(self):
        exe = binary_path()
        if not os.path.exists(exe):
            raise ServerError(f"server binary {exe} does not exist (set SESSIOND)")
        cmd = WRAPPER + [exe, "--host", "127.0.0.1", "--port", str(self.port),
                         "--data-dir", self.data_dir, "--log-level", "debug"] + self.args
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
        env.update(self.env)
        self.lines = []
        self.stopping = False
        self.returncode = None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env,
                                     preexec_fn=self.preexec)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        ready = f"listening on 127.0.0.1:{self.port}"
        if not self.wait_for_log(ready, START_TIMEOUT, fail_on_exit=True):
            try:
                rc = self.proc.wait(1)
                why = f"server exited with status {rc} before logging {ready!r}"
            except subprocess.TimeoutExpired:
                self.kill9()
                why = f"server did not log {ready!r} within {START_TIMEOUT}s"
            self.stopping = True
            raise ServerError(f"{why}; command: {' '.join(cmd)}\n{self.log()}")
        return self

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        self.proc.stderr.close()
        with self.cond:
            self.cond.notify_all()

    def wait_for_log(self, text, timeout=TIMEOUT, fail_on_exit=False, start=0):
        """True once a log line (from index `start`) contains `text`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if any(text in l for l in self.lines[start:]):
                    return True
                if fail_on_exit and not self.reader.is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.2))

    def log(self, last=200):
        with self.cond:
            tail = self.lines[-last:]
        return "---- server log (last %d lines) ----\n%s\n----" % (
            len(tail), "\n".join(tail))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=START_TIMEOUT):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return self.returncode
        self.stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self.reader.join(5)
            raise ServerError(f"server did not exit within {timeout}s of "
                              f"SIGTERM\n{self.log()}")
        self.reader.join(5)
        return self.returncode

    def kill9(self):
        if self.proc is None:
            return
        self.stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.returncode = self.proc.wait(START_TIMEOUT)
        self.reader.join(5)

    def restart(self, args=None, env=None):
        """Start again on the same data dir (new port: the old one may be
        in TIME_WAIT)."""
        if self.alive():
            self.stop()
        if args is not None:
            self.args = list(args)
        if env is not None:
            self.env = dict(env)
        self.port = free_port()
        return self.start()

    def cleanup(self):
        try:
            if self.alive():
                self.kill9()
        finally:
            if self.own_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- addresses -----------------------------------------------------
    def uri(self, path):
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def session_dir(self, name):
        return os.path.join(self.data_dir, name)

    def http_get(self, path, timeout=TIMEOUT):
        """(status, headers dict, body bytes) of a plain HTTP GET."""
        if self.ssl_context:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


# -- fuzz corpus ----------------------------------------------------------
# SESSIOND_FUZZ_CORPUS=DIR: every client writes the frames it sent into DIR
# as one file in the fuzz target's input format (tests/fuzz/fuzz_protocol.c:
# frames separated by newlines, binary ones prefixed with byte 0x01).
CORPUS_DIR = os.environ.get("SESSIOND_FUZZ_CORPUS")
CORPUS_MAX = 16384      # bytes per corpus file


def record_sent(sent, payload):
    if CORPUS_DIR and b"\n" not in payload and sum(map(len, sent)) < CORPUS_MAX:
        sent.append(payload)


def write_corpus(sent):
    if not CORPUS_DIR or not sent:
        return
    import hashlib
    data = b"\n".join(sent)[:CORPUS_MAX]
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(CORPUS_DIR, name), "wb") as f:
        f.write(data)
    sent.clear()


# ----------------------------------------------------------------------
class Closed(Exception):
    """The connection closed while a frame was expected."""

    def __init__(self, code, reason=""):
        super().__init__(f"connection closed: code={code} reason={reason!r}")
        self.code = code
        self.reason = reason


class Client:
    """A JSON-over-WebSocket client. Frames that are not the awaited reply
    go to `pending`, in arrival order."""

    def __init__(self, ws, session):
        self.ws = ws
        self.session = session
        self.ids = itertools.count(1)
        self.pending = []
        self.sync_frame_bytes = []   # byte sizes of the sync frames of hello()
        self.sent = []               # frames sent, for SESSIOND_FUZZ_CORPUS

    @classmethod
    async def connect(cls, server, session="test", **kw):
        opts = dict(max_size=None, ping_interval=None, compression=None,
                    close_timeout=2, open_timeout=TIMEOUT)
        if server.ssl_context:
            opts["ssl"] = server.ssl_context
        opts.update(kw)
        ws = await asyncio.wait_for(
            websockets.connect(server.uri(f"/s/{session}"), **opts), TIMEOUT)
        return cls(ws, session)

    # -- raw frames ----------------------------------------------------
    async def send(self, obj):
        await self.send_text(json.dumps(obj))

    async def send_text(self, text):
        record_sent(self.sent, text.encode("utf-8", "surrogatepass"))
        await self.ws.send(text)

    async def send_binary(self, data):
        record_sent(self.sent, b"\x01" + bytes(data))
        await self.ws.send(bytes(data))

    async def recv_text(self, timeout=TIMEOUT):
        try:
            msg = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no frame within {timeout}s; "
                                 f"buffered: {self.pending[-5:]}") from None
        except websockets.exceptions.ConnectionClosed as e:
            rcvd = e.rcvd
            raise Closed(rcvd.code if rcvd else None,
                         rcvd.reason if rcvd else "") from None
        if isinstance(msg, bytes):
            raise AssertionError(f"server sent a binary frame: {msg[:100]!r}")
        return msg

    async def recv(self, timeout=TIMEOUT):
        text = await self.recv_text(timeout)
        try:
            obj = json.loads(text)
        except ValueError:
            raise AssertionError(f"server sent invalid JSON: {text[:200]!r}")
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise AssertionError(f"server frame without string type: {text[:200]!r}")
        return obj

    # -- requests ------------------------------------------------------
    def next_id(self):
        return next(self.ids)

    async def request(self, type, timeout=TIMEOUT, **fields):
        """Send {"type": type, "id": N, **fields}; return the reply with
        re == N (ok / error / welcome / pong), buffering anything else."""
        rid = fields.pop("id", None)
        if rid is None:
            rid = self.next_id()
        await self.send(dict(type=type, id=rid, **fields))
        return await self.reply(rid, timeout)

    async def reply(self, rid, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no reply with re={rid!r} within {timeout}s")
            msg = await self.recv(left)
            if "re" in msg and msg["re"] == rid and msg["type"] in (
                    "ok", "error", "welcome", "pong"):
                return msg
            self.pending.append(msg)

    async def ok(self, type, **fields):
        """request() that must succeed."""
        r = await self.request(type, **fields)
        if r.get("type") not in ("ok", "pong", "welcome"):
            raise AssertionError(f"{type} {fields} failed: {r}")
        return r

    async def hello(self, user, **kw):
        """Send hello; return (welcome, [sync frames], synced). Raises if
        the reply is not a welcome."""
        rid = self.next_id()
        await self.send(dict(type="hello", id=rid, user=user, **kw))
        welcome = await self.recv()
        if welcome.get("type") != "welcome" or welcome.get("re") != rid:
            raise AssertionError(f"hello as {user!r}: expected welcome re={rid}, got {welcome}")
        syncs = []
        self.sync_frame_bytes = []
        while True:
            text = await self.recv_text()
            msg = json.loads(text)
            if msg.get("type") == "sync":
                syncs.append(msg)
                self.sync_frame_bytes.append(len(text.encode("utf-8")))
            elif msg.get("type") == "synced":
                return welcome, syncs, msg
            else:
                raise AssertionError(f"between welcome and synced: unexpected {msg}")

    async def next_event(self, type=None, timeout=TIMEOUT, pred=None):
        """The first buffered or incoming frame of `type` (any if None)
        for which pred(frame) holds; others stay buffered."""
        def match(m):
            return (type is None or m.get("type") == type) and (pred is None or pred(m))
        for i, m in enumerate(self.pending):
            if match(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {type or 'frame'} event within {timeout}s; "
                                     f"buffered: {self.pending[-5:]}")
            m = await self.recv(left)
            if match(m):
                return m
            self.pending.append(m)

    async def quiet(self):
        """Round-trip a ping and return every frame that arrived before the
        pong (plus what was already buffered), emptying the buffer."""
        rid = f"quiet-{self.next_id()}"
        await self.send({"type": "ping", "id": rid})
        got = list(self.pending)
        self.pending = []
        while True:
            m = await self.recv()
            if m.get("type") == "pong" and m.get("re") == rid:
                return got
            got.append(m)

    async def closed(self, timeout=TIMEOUT):
        """Read until the connection closes; return the close code received
        (None if the TCP connection ended without a close frame). Frames
        read meanwhile go to `pending`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection still open after {timeout}s; "
                                     f"buffered: {self.pending[-5:]}")
            try:
                self.pending.append(await self.recv(left))
            except Closed as c:
                return c.code

    async def close(self):
        write_corpus(self.sent)
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass

    @property
    def close_code(self):
        return self.ws.close_code


# ----------------------------------------------------------------------
class RawWS:
    """Minimal RFC 6455 client: masked frames written by hand."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.ids = itertools.count(1)
        self.sent = []

    @classmethod
    async def connect(cls, server, path="/s/test"):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", server.port), TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                     .encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            writer.close()
            raise AssertionError(f"upgrade of {path} refused: {head[:200]!r}")
        return cls(reader, writer)

    def send_frame(self, opcode, payload, fin=True, rsv=0):
        self.writer.write(self.encode_frame(opcode, payload, fin, rsv))

    async def send_json_many(self, objs):
        """Every object as a text frame, all in one TCP write (a pipelining
        client): the server reads them in one pass of its loop."""
        data = []
        for o in objs:
            payload = json.dumps(o).encode()
            record_sent(self.sent, payload)
            data.append(self.encode_frame(0x1, payload))
        self.writer.write(b"".join(data))
        await self.writer.drain()

    @staticmethod
    def encode_frame(opcode, payload, fin=True, rsv=0):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + masked

    async def send_text_bytes(self, payload):
        record_sent(self.sent, payload)
        self.send_frame(0x1, payload)
        await self.writer.drain()

    async def send_json(self, obj):
        await self.send_text_bytes(json.dumps(obj).encode())

    async def recv_frame(self, timeout=TIMEOUT):
        """(opcode, payload); raises EOFError when the TCP stream ends."""
        async def read():
            try:
                b0, b1 = await self.reader.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n, = struct.unpack("!H", await self.reader.readexactly(2))
                elif n == 127:
                    n, = struct.unpack("!Q", await self.reader.readexactly(8))
                mask = await self.reader.readexactly(4) if b1 & 0x80 else None
                data = await self.reader.readexactly(n)
            except (asyncio.IncompleteReadError, ConnectionError):
                raise EOFError from None
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            return b0 & 0x0F, data
        return await asyncio.wait_for(read(), timeout)

    async def recv_json(self, timeout=TIMEOUT):
        """The next text message as JSON, answering pings on the way."""
        while True:
            op, data = await self.recv_frame(timeout)
            if op == 0x9:
                self.send_frame(0xA, data)
                continue
            if op == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                raise Closed(code, data[2:].decode("utf-8", "replace"))
            if op == 0x1:
                return json.loads(data)
            if op == 0xA:
                continue
            raise AssertionError(f"unexpected opcode {op}")

    async def hello(self, user):
        rid = next(self.ids)
        await self.send_json({"type": "hello", "id": rid, "user": user})
        while True:
            m = await self.recv_json()
            if m.get("type") == "synced":
                return m

    async def wait_close(self, timeout=TIMEOUT):
        """Close code from the server's close frame (None on bare EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("raw connection still open")
            try:
                await self.recv_json(left)
            except Closed as c:
                return c.code
            except EOFError:
                return None

    def close(self):
        write_corpus(self.sent)
        try:
            self.writer.close()
        except Exception:
            pass


# ----------------------------------------------------------------------
class ServerTestCase(unittest.IsolatedAsyncioTestCase):
    """Start servers with self.server(...), clients with self.client(...);
    both are cleaned up. A server that exits on its own fails the test."""

    server_args = ()

    def setUp(self):
        self._servers = []
        self._clients = []

    def server(self, args=None, env=None, data_dir=None):
        srv = Server(self.server_args if args is None else args, env, data_dir)
        self._servers.append(srv)
        srv.start()
        return srv

    async def client(self, srv, session="test", **kw):
        c = await Client.connect(srv, session, **kw)
        self._clients.append(c)
        return c

    async def joined(self, srv, user, session="test", **kw):
        """Connected client after a successful hello: (client, welcome, syncs, synced)."""
        c = await self.client(srv, session)
        w, s, d = await c.hello(user, **kw)
        return c, w, s, d

    async def raw(self, srv, path="/s/test"):
        r = await RawWS.connect(srv, path)
        self._clients.append(r)
        return r

    async def asyncTearDown(self):
        for c in self._clients:
            if isinstance(c, RawWS):
                c.close()
            else:
                await c.close()

    def tearDown(self):
        """Stop every server with SIGTERM. A server that had already exited
        on its own, or that does not exit 0 on SIGTERM (PROTOCOL.md 10;
        under ASan also a leak or memory error at exit), fails the test."""
        problems = []
        for srv in self._servers:
            try:
                if srv.proc is not None and not srv.stopping and srv.proc.poll() is not None:
                    problems.append(f"server exited on its own with status "
                                    f"{srv.proc.returncode}\n{srv.log()}")
                elif srv.alive():
                    rc = srv.stop()
                    if rc != 0:
                        problems.append(f"server exited with status {rc} on SIGTERM "
                                        f"(expected 0)\n{srv.log()}")
                if os.environ.get("SESSIOND_SHOW_LOG"):
                    print(srv.log(1000))
            except ServerError as e:
                problems.append(str(e))
            finally:
                srv.cleanup()
        if problems:
            raise ServerError("\n".join(problems))

    # -- assertions ----------------------------------------------------
    def assertError(self, msg, code, field=None, re="absent"):
        """msg is an error with `code`; its message is a non-empty string
        mentioning `field`; re equals `re` (or is absent if "absent";
        not checked if None)."""
        self.assertEqual(msg.get("type"), "error", msg)
        self.assertEqual(msg.get("code"), code, msg)
        self.assertIsInstance(msg.get("message"), str, msg)
        self.assertTrue(msg["message"], msg)
        if field is not None:
            self.assertIn(field, msg["message"], msg)
        if re == "absent":
            self.assertNotIn("re", msg, msg)
        elif re is not None:
            self.assertEqual(msg.get("re"), re, msg)

    def assertOk(self, msg, re=None):
        self.assertEqual(msg.get("type"), "ok", msg)
        if re is not None:
            self.assertEqual(msg.get("re"), re, msg)


async def pipeline(c, frames, timeout=TIMEOUT * 3):
    """Send every frame (each with an id) while reading; return the replies
    in arrival order (anything else goes to c.pending)."""
    ids = {f["id"] for f in frames}
    replies = []

    async def send():
        for f in frames:
            await c.send(f)

    async def read():
        while len(replies) < len(frames):
            m = await c.recv(timeout)
            if "re" in m and m["re"] in ids and m["type"] in ("ok", "error", "pong"):
                replies.append(m)
            else:
                c.pending.append(m)

    await asyncio.gather(send(), read())
    return replies
