#!/usr/bin/python3
"""Black-box tests of the network rules (PROTOCOL.md 1, version 1.1) and of
the network defects of a security review: browsers and Origin, the 64 KiB
limit before hello, slow uploads, password guessing, TLS, long admin
passwords, the hello's client in the log, HOST and PORT at start, and the
descriptor limit.

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_net.py -v
Every test starts its own server on a free port with a fresh data dir.
TLS tests make a throw-away self-signed certificate with openssl.
"""

import asyncio
import base64
import http.client
import json
import os
import re
import resource
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets                                                      # noqa: E402
import websockets.exceptions                                           # noqa: E402

import harness                                                         # noqa: E402
from harness import (Client, Closed, RawWS, Server, ServerTestCase,     # noqa: E402
                     TIMEOUT, binary_path, free_port)
from support import await_log, log_lines, log_mark, must, wait_until  # noqa: E402

ADMIN = "adm1n"


async def upgrade_status(srv, path="/s/test", headers=()):
    """Status of a WebSocket upgrade sent with extra headers; the socket
    is closed afterwards."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", srv.port), TIMEOUT)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"{extra}\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        return int(head.split(b" ", 2)[1])
    finally:
        writer.close()


def http_status(srv, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def start_fails(args, env=None, timeout=TIMEOUT):
    """Runs the server expecting it to refuse to start: (returncode, stderr lines)."""
    d = tempfile.mkdtemp(prefix="sessiond-it-")
    try:
        e = {k: v for k, v in os.environ.items() if k not in harness.SETTINGS}
        e.update(env or {})
        p = subprocess.run(harness.WRAPPER + [binary_path(), "--data-dir", d] + list(args),
                           capture_output=True, text=True, timeout=timeout, env=e)
        return p.returncode, p.stderr.splitlines()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sanitized():
    """True when the server binary is built with AddressSanitizer."""
    with open(binary_path(), "rb") as f:
        return b"__asan_init" in f.read()


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR) ")


class OriginTest(ServerTestCase):
    """PROTOCOL.md 1 (1.1) Browsers; review defect 3."""

    async def test_foreign_origin_refused_own_and_none_served(self):
        srv = self.server()
        own = f"http://127.0.0.1:{srv.port}"
        # a page from elsewhere: neither the upgrade nor plain HTTP
        self.assertEqual(await upgrade_status(srv, headers=[("Origin", "http://evil.example")]),
                         403)
        self.assertEqual(await upgrade_status(
            srv, headers=[("Origin", f"http://127.0.0.1:{srv.port + 1}")]), 403)
        self.assertEqual(await upgrade_status(srv, headers=[("Origin", "null")]), 403)
        self.assertEqual(http_status(srv, "/healthz", {"Origin": "http://evil.example"})[0], 403)
        self.assertEqual(http_status(srv, "/metrics", {"Origin": "https://evil.example"})[0], 403)
        # the server's own origin, and no Origin at all, are served
        self.assertEqual(await upgrade_status(srv, headers=[("Origin", own)]), 101)
        self.assertEqual(http_status(srv, "/healthz", {"Origin": own})[0], 200)
        self.assertEqual(http_status(srv, "/healthz")[0], 200)
        page = await self.client(srv, origin=own)
        await page.hello("page")
        plain = await self.client(srv)
        await plain.hello("script")
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
            await Client.connect(srv, origin="http://evil.example")
        self.assertEqual(cm.exception.status_code, 403)
        self.assertTrue(srv.wait_for_log("origin http://evil.example"), srv.log())
        status, _, body = srv.http_get("/metrics")
        self.assertRegex(body.decode(), r"(?m)^sessiond_origin_refused_total [1-9]")

    async def test_allowed_origins(self):
        srv = self.server(env={"ALLOWED_ORIGINS": "https://tools.example, http://[::1]:9000"})
        self.assertEqual(await upgrade_status(srv, headers=[("Origin", "https://tools.example")]),
                         101)
        self.assertEqual(await upgrade_status(srv, headers=[("Origin", "http://[::1]:9000")]),
                         101)
        self.assertEqual(await upgrade_status(srv, headers=[("Origin", "http://tools.example")]),
                         403)
        rc, err = start_fails(["--port", str(free_port())],
                              {"ALLOWED_ORIGINS": "https://a.example, studio.example"})
        self.assertEqual(rc, 2)
        self.assertEqual(err[-1], 'sessiond: ALLOWED_ORIGINS: "studio.example" is not an '
                                  'origin (scheme://host[:port], or *)')
        srv2 = self.server(env={"ALLOWED_ORIGINS": "*"})
        self.assertEqual(await upgrade_status(srv2, headers=[("Origin", "http://evil.example")]),
                         101)


class PreHelloTest(ServerTestCase):
    """PROTOCOL.md 1 (1.1) Before hello; review defects 5 and 6."""

    @staticmethod
    async def send_partial(r, total, sent):
        """Starts a text frame of `total` bytes and sends `sent` of them."""
        mask = b"\0\0\0\0"
        r.writer.write(struct.pack("!BBQ", 0x81, 0x80 | 127, total) + mask)
        r.writer.write(b"x" * sent)
        await r.writer.drain()

    async def test_65k_before_hello_closes_1009(self):
        srv = self.server()
        r = await self.raw(srv)
        await self.send_partial(r, 70 * 1024, 65 * 1024)
        self.assertEqual(await r.wait_close(), 1009)
        self.assertTrue(srv.wait_for_log("before hello; closing it (1009)"), srv.log())
        # 64 KiB exactly is allowed: a padded hello joins
        c = await self.client(srv)
        hello = {"type": "hello", "id": 1, "user": "big", "pad": ""}
        hello["pad"] = "p" * (64 * 1024 - len(json.dumps(hello)))
        self.assertEqual(len(json.dumps(hello)), 64 * 1024)
        await c.send(hello)
        self.assertEqual((await c.recv())["type"], "welcome")
        # after hello, MAX_MESSAGE_BYTES is the limit again
        await c.next_event("synced")
        big = {"type": "ping", "id": "big", "pad": "q" * (200 * 1024)}
        await c.send(big)
        self.assertEqual((await c.reply("big"))["type"], "pong")

    @unittest.skipIf(harness.WRAPPER, "the RSS would be the wrapper's")
    async def test_rss_does_not_grow_by_500_pre_hello_buffers(self):
        if sanitized():
            self.skipTest("AddressSanitizer keeps freed memory in quarantine")
        srv = self.server()
        # warm up the allocator and lws' pools with a few rounds first
        async def one():
            r = await RawWS.connect(srv)
            try:
                await self.send_partial(r, 70 * 1024, 65 * 1024)
                return await r.wait_close()
            finally:
                r.close()
        for _ in range(3):
            self.assertEqual(set(await asyncio.gather(*[one() for _ in range(20)])), {1009})
        before = rss_kib(srv.proc.pid)
        codes = []
        for _ in range(25):
            codes += await asyncio.gather(*[one() for _ in range(20)])
        self.assertEqual(len(codes), 500)
        self.assertEqual(set(codes), {1009})
        await wait_until(lambda: json.loads(srv.http_get("/healthz")[2])["connections"] == 0,
                         TIMEOUT, "every connection gone")
        grown = rss_kib(srv.proc.pid) - before
        # 500 buffers of 64 KiB would be 32000 KiB
        self.assertLess(grown, 8000, f"RSS grew by {grown} KiB")

    async def test_slow_upload_is_not_silence(self):
        srv = self.server(env={"TIMEOUT": "3"})
        r = await self.raw(srv)
        await r.hello("slow")
        # one message in 16 fragments over 8 s (> 2 x TIMEOUT); pings from
        # the server are not answered meanwhile (nothing is read)
        text = json.dumps({"type": "ping", "id": "slow", "pad": "z" * 4000}).encode()
        parts = [text[i * 256:(i + 1) * 256] for i in range((len(text) + 255) // 256)]
        step = 8.0 / len(parts)
        for i, part in enumerate(parts):
            opcode = 0x1 if i == 0 else 0x0
            r.send_frame(opcode, part, fin=(i == len(parts) - 1))
            await r.writer.drain()
            await asyncio.sleep(step)      # the slowness under test, not a wait
        while True:
            m = await r.recv_json()
            if m.get("re") == "slow":
                break
        self.assertEqual(m["type"], "pong")
        self.assertEqual(log_lines(srv, "silent for"), [])


class LockoutTest(ServerTestCase):
    """PROTOCOL.md 1 (1.1) Password guessing."""

    async def hello_code(self, srv, password):
        c = await self.client(srv)
        await c.send({"type": "hello", "id": 1, "user": "g", "password": password})
        m = await c.recv()
        await c.close()
        return m.get("code") if m["type"] == "error" else m["type"]

    async def test_eleven_wrong_passwords_lock_the_address_out(self):
        lock = 3
        srv = self.server(env={"SERVER_PASSWORD": "right", "AUTH_LOCKOUT": str(lock),
                               "ADMIN_PASSWORD": ADMIN})
        # the right one works before
        self.assertEqual(await self.hello_code(srv, "right"), "welcome")
        for i in range(11):
            self.assertEqual(await self.hello_code(srv, f"wrong{i}"), "auth_failed")
        locked_at = time.monotonic()
        # now the right password is refused, and so is the admin token
        self.assertEqual(await self.hello_code(srv, "right"), "auth_failed")
        st, _, body = srv.http_get_auth("/api/sessions", ADMIN)
        self.assertEqual(st, 403, body)
        self.assertEqual(len(log_lines(srv, "Address 127.0.0.1 locked out")), 1, srv.log())
        _, _, metrics = srv.http_get("/metrics")
        m = re.search(r"(?m)^sessiond_auth_failures_total (\d+)", metrics.decode())
        self.assertGreaterEqual(int(m.group(1)), 13)
        # until the lock-out ends: then the right password works again
        while await self.hello_code(srv, "right") != "welcome":
            self.assertLess(time.monotonic() - locked_at, lock + TIMEOUT, "still locked out")
            await asyncio.sleep(0.2)
        self.assertGreaterEqual(time.monotonic() - locked_at, lock - 0.5)
        st, _, _ = srv.http_get_auth("/api/sessions", ADMIN)
        self.assertEqual(st, 200)

    async def test_admin_tokens_count_too(self):
        srv = self.server(env={"ADMIN_PASSWORD": ADMIN, "AUTH_LOCKOUT": "60"})
        for i in range(10):
            self.assertEqual(srv.http_get_auth("/api/sessions", f"x{i}")[0], 403)
        self.assertEqual(srv.http_get_auth("/api/sessions", ADMIN)[0], 403)
        c = await self.client(srv)
        await c.send({"type": "hello", "id": 1, "user": "a", "admin_password": ADMIN})
        self.assertEqual((await c.recv()).get("code"), "auth_failed")


def http_get_auth(self, path, token, timeout=TIMEOUT):
    if self.ssl_context:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ssl_context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


Server.http_get_auth = http_get_auth


class AdminPasswordTest(ServerTestCase):
    """Review defect 9: a long ADMIN_PASSWORD matches on the HTTP API."""

    async def test_long_admin_password(self):
        for n in (600, 3000):
            pw = ("k" * n)
            srv = self.server(env={"ADMIN_PASSWORD": pw})
            st, _, body = srv.http_get_auth("/api/sessions", pw)
            self.assertEqual(st, 200, body)
            self.assertEqual(srv.http_get_auth("/api/sessions", pw[:-1] + "x")[0], 403)


class ClientLoggedTest(ServerTestCase):
    """Review defect 11: the hello's client is logged at join."""

    async def test_client_in_join_log(self):
        srv = self.server()
        c = await self.client(srv)
        await c.hello("alice", client="my-addon/0.3\nINFO fake")
        await await_log(srv, "User joined (session=test user=alice")
        line = log_lines(srv, "User joined (session=test user=alice")[0]
        self.assertIn('client="my-addon/0.3?INFO fake"', line)
        self.assertIn("addr=127.0.0.1", line)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@unittest.skipUnless(shutil.which("openssl"), "openssl is not installed")
class TlsTest(ServerTestCase):
    """PROTOCOL.md 1 (1.1) TLS."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="sessiond-tls-")
        self.cert, self.key = make_cert(self.tmp)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def tls_server(self, env=None):
        e = {"TLS_CERT": self.cert, "TLS_KEY": self.key, "ADMIN_PASSWORD": ADMIN}
        e.update(env or {})
        srv = Server(self.server_args, e)
        srv.ssl_context = ssl.create_default_context(cafile=self.cert)
        self._servers.append(srv)
        srv.start()
        return srv

    async def test_session_over_wss_and_api_over_https(self):
        srv = self.tls_server()
        a = await self.client(srv)
        await a.hello("alice")
        b = await self.client(srv)
        await b.hello("bob")
        await must(a, "node.create", uuid="n1", kind="Object", data={"name": "cube"})
        ev = await b.next_event("node")
        self.assertEqual(ev["node"]["uuid"], "n1")
        st, _, body = srv.http_get_auth("/api/sessions/test", ADMIN)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["nodes"], 1)
        st, _, body = srv.http_get("/healthz")
        self.assertEqual(st, 200)
        # the server's own origin is https:// now
        own = f"https://127.0.0.1:{srv.port}"
        page = await self.client(srv, origin=own)
        await page.hello("page")

    async def test_plain_ws_and_http_refused(self):
        srv = self.tls_server()
        with self.assertRaises(Exception):
            await asyncio.wait_for(websockets.connect(
                f"ws://127.0.0.1:{srv.port}/s/test", open_timeout=5), TIMEOUT)
        with self.assertRaises(Exception):
            http_status(srv, "/healthz")
        # the TLS side still works afterwards
        self.assertEqual(srv.http_get("/healthz")[0], 200)

    async def test_missing_or_unreadable_files_stop_the_start(self):
        missing = os.path.join(self.tmp, "nope.pem")
        rc, err = start_fails(["--port", str(free_port())],
                              {"TLS_CERT": missing, "TLS_KEY": self.key})
        self.assertEqual(rc, 2)
        self.assertIn(f"sessiond: TLS_CERT: cannot read {missing}", err[-1])
        rc, err = start_fails(["--port", str(free_port())],
                              {"TLS_CERT": self.cert, "TLS_KEY": missing})
        self.assertEqual(rc, 2)
        self.assertIn(f"sessiond: TLS_KEY: cannot read {missing}", err[-1])
        rc, err = start_fails(["--port", str(free_port())], {"TLS_CERT": self.cert})
        self.assertEqual(rc, 2)
        self.assertIn("TLS_CERT: must be set together with TLS_KEY", err[-1])
        # a file that is not a certificate
        bogus = os.path.join(self.tmp, "bogus.pem")
        with open(bogus, "w") as f:
            f.write("not a certificate\n")
        rc, err = start_fails(["--port", str(free_port())],
                              {"TLS_CERT": bogus, "TLS_KEY": self.key})
        self.assertEqual(rc, 2, err)
        self.assertEqual(err[-1], f"sessiond: TLS_CERT: {bogus} holds no PEM certificate")
        # the two swapped
        rc, err = start_fails(["--port", str(free_port())],
                              {"TLS_CERT": self.key, "TLS_KEY": self.cert})
        self.assertEqual(rc, 2, err)
        self.assertEqual(err[-1], f"sessiond: TLS_CERT: {self.key} holds no PEM certificate")
        # an unreadable file (mode 000; root reads everything, so only as non-root)
        if os.geteuid() != 0:
            os.chmod(bogus, 0)
            rc, err = start_fails(["--port", str(free_port())],
                                  {"TLS_CERT": bogus, "TLS_KEY": self.key})
            self.assertEqual(rc, 2, err)
            self.assertIn(f"sessiond: TLS_CERT: cannot read {bogus}", err[-1])


def can_connect(family, addr, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class HostTest(unittest.TestCase):
    """Review defect 12: HOST resolved and bound exactly; failures are one
    line and exit 2."""

    def run_server(self, host, port):
        d = tempfile.mkdtemp(prefix="sessiond-it-")
        self.addCleanup(shutil.rmtree, d, True)
        e = {k: v for k, v in os.environ.items() if k not in harness.SETTINGS}
        p = subprocess.Popen(harness.WRAPPER + [binary_path(), "--data-dir", d, "--host", host,
                                                "--port", str(port)],
                             stderr=subprocess.PIPE, text=True, env=e)
        self.addCleanup(p.stderr.close)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        lines = []
        while True:
            line = p.stderr.readline()
            if not line:
                self.fail(f"server exited: {lines}")
            lines.append(line)
            if "ready: listening on" in line:
                return p, line

    def stop(self, p):
        p.terminate()
        self.assertEqual(p.wait(harness.START_TIMEOUT), 0)

    @unittest.skipUnless(socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"),
                         "no IPv6")
    def test_ipv6_loopback_only(self):
        port = free_port()
        p, line = self.run_server("::1", port)
        self.assertIn(f"listening on [::1]:{port}", line)
        self.assertTrue(can_connect(socket.AF_INET6, "::1", port))
        self.assertFalse(can_connect(socket.AF_INET, "127.0.0.1", port))
        for ifaddr in non_loopback_ipv4():
            self.assertFalse(can_connect(socket.AF_INET, ifaddr, port), ifaddr)
        self.stop(p)

    def test_localhost(self):
        port = free_port()
        p, line = self.run_server("localhost", port)
        conn = http.client.HTTPConnection("localhost", port, timeout=TIMEOUT)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.stop(p)

    def test_address_not_on_this_machine(self):
        rc, err = start_fails(["--host", "192.0.2.77", "--port", str(free_port())])
        self.assertEqual(rc, 2)
        self.assertEqual(err[-1], "sessiond: HOST: 192.0.2.77 is not an address of this machine")
        rc, err = start_fails(["--host", "no-such-host.invalid", "--port", str(free_port())])
        self.assertEqual(rc, 2)
        self.assertTrue(err[-1].startswith('sessiond: HOST: cannot resolve "no-such-host.invalid"'),
                        err)

    def test_port_in_use(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        try:
            rc, err = start_fails(["--host", "127.0.0.1", "--port", str(port)])
        finally:
            s.close()
        self.assertEqual(rc, 2)
        self.assertEqual(err[-1], f"sessiond: PORT: port {port} on 127.0.0.1 is already in use")
        # every other line is in the server's own log format
        for l in err[:-1]:
            self.assertRegex(l, LOG_LINE)


def non_loopback_ipv4():
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                             timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out if "." in a and not a.startswith("127.")]


class FdLimitTest(ServerTestCase):
    """Review defect 4 (network part): the soft descriptor limit is raised
    to the hard limit at start, and logged."""

    @unittest.skipIf(harness.WRAPPER, "the wrapper keeps descriptors of its own")
    async def test_soft_limit_raised(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard <= 256:
            self.skipTest("no finite hard limit above 256")
        srv = Server(self.server_args)
        srv.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        self._servers.append(srv)
        srv.start()
        self.assertTrue(srv.wait_for_log(f"Open file limit: {hard} (raised from 256)"),
                        srv.log())
        with open(f"/proc/{srv.proc.pid}/limits") as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        self.assertEqual(int(line.split()[3]), hard)


if __name__ == "__main__":
    unittest.main()
