"""A small RFC 6455 WebSocket client on a plain non-blocking socket.

Blender ships no WebSocket library and nobody should have to install wheels
into it, so this is the standard library only: `socket`, `ssl`, `select`.
Nothing here blocks for longer than the timeout given to pump(): the TCP
connect, the TLS handshake and the HTTP upgrade are a small state machine
advanced by pump(), exactly like the frames after it.

Design:
- The caller owns the loop. pump(timeout) waits (select) at most `timeout`
  seconds for the socket, writes what is queued, reads what arrived and
  returns the complete messages as events: ("text", str), ("binary", bytes),
  ("open", None), ("close", (code, reason)).
- Writes never block: send_text/send_binary append a masked frame to an
  output buffer that pump() drains as the socket accepts it. `pending_output`
  tells how much is still queued (uploads use it to pace themselves);
  `bytes_sent` how many bytes went to the socket in all.
- Masking XORs the payload as one big integer instead of byte by byte, which
  keeps a 10 MB blob at tens of milliseconds in pure Python.
- Pings are answered with pongs at once; a close frame is answered and ends
  the connection; fragmented messages are reassembled.
"""

import base64
import errno
import hashlib
import os
import select
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

CONNECTING, OPEN, CLOSING, CLOSED = "connecting", "open", "closing", "closed"


class WebSocketError(Exception):
    pass


def mask_payload(mask, data):
    """XOR `data` with the 4-byte `mask` repeated (RFC 6455 5.3)."""
    n = len(data)
    if n == 0:
        return b""
    reps = mask * ((n + 3) // 4)
    x = int.from_bytes(data, "little") ^ int.from_bytes(reps[:n], "little")
    return x.to_bytes(n, "little")


def encode_frame(opcode, payload, fin=True):
    """One masked client frame."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + mask_payload(mask, payload)


class WebSocket:
    """One client connection. Construct, then call pump() until it returns
    an ("open", None) event (or a ("close", ...) one)."""

    def __init__(self, host, port, path, tls=False, connect_timeout=10.0,
                 ssl_context=None, max_message_bytes=1 << 30):
        self.host = host
        self.port = port
        self.path = path
        self.tls = tls
        self.state = CONNECTING
        self.close_code = None
        self.close_reason = ""
        self.max_message_bytes = max_message_bytes
        self._deadline = time.monotonic() + connect_timeout
        self._out = bytearray()
        self.bytes_sent = 0
        self._in = bytearray()
        self._frag_op = None
        self._frag = bytearray()
        self._events = []
        self._phase = "tcp"
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._ctx = ssl_context
        self.sock = None
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            family, stype, proto, _, addr = infos[0]
            self.sock = socket.socket(family, stype, proto)
            self.sock.setblocking(False)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = self.sock.connect_ex(addr)
            if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
                raise OSError(rc, os.strerror(rc))
        except OSError as e:
            self._fail(1006, "cannot connect to %s:%s: %s" % (host, port, e.strerror or e))

    # -- public -----------------------------------------------------------
    @property
    def pending_output(self):
        return len(self._out)

    def fileno(self):
        return self.sock.fileno() if self.sock else -1

    def send_text(self, text):
        self._send(OP_TEXT, text.encode("utf-8"))

    def send_binary(self, data):
        self._send(OP_BINARY, bytes(data))

    def ping(self, payload=b""):
        self._send(OP_PING, payload)

    def close(self, code=1000, reason=""):
        """Start the closing handshake; pump() reports ("close", ...) when
        the server answers (or the socket ends)."""
        if self.state == OPEN:
            self._out += encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])
            self.state = CLOSING
            self._deadline = time.monotonic() + 2.0
        elif self.state == CONNECTING:
            self._fail(code, reason)

    def abort(self):
        """Drop the connection without a closing handshake."""
        if self.state != CLOSED:
            self._fail(1006, "aborted")
        self._events = []

    def pump(self, timeout=0.0):
        """Advance the connection; wait at most `timeout` seconds for the
        socket. Returns the list of events since the last call."""
        if self.state != CLOSED:
            try:
                self._step(timeout)
            except (OSError, ssl.SSLError) as e:
                self._fail(1006, str(e))
            except WebSocketError as e:
                self._fail(1002, str(e))
        ev, self._events = self._events, []
        return ev

    # -- internals ----------------------------------------------------------
    def _send(self, opcode, payload):
        if self.state != OPEN:
            raise WebSocketError("connection is not open")
        self._out += encode_frame(opcode, payload)

    def _fail(self, code, reason):
        if self.state == CLOSED:
            return
        self.state = CLOSED
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self._events.append(("close", (self.close_code, self.close_reason)))

    def _wait(self, timeout, want_write):
        r, w, _ = select.select([self.sock], [self.sock] if want_write else [], [],
                                max(0.0, timeout))
        return bool(r), bool(w)

    def _step(self, timeout):
        if self.state == CONNECTING:
            self._step_connecting(timeout)
            return
        if self.state == CLOSING and time.monotonic() > self._deadline:
            self._fail(self.close_code or 1006, self.close_reason or "close timed out")
            return
        # Data may already sit in the TLS layer's buffer, where select
        # cannot see it.
        buffered = self.tls and isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
        r, w = self._wait(0.0 if buffered else timeout, bool(self._out))
        if self._out and (w or not r):
            self._flush()
        if r or buffered:
            self._read()
            self._parse()
        if self._out and self.state in (OPEN, CLOSING):
            self._flush()

    def _flush(self):
        while self._out:
            try:
                n = self.sock.send(self._out[:1 << 20])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            if n <= 0:
                return
            self.bytes_sent += n
            del self._out[:n]

    def _read(self):
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            if not chunk:
                self._parse()
                self._fail(self.close_code or 1006, self.close_reason or "connection lost")
                return
            self._in += chunk
            if len(chunk) < (1 << 20) and not (self.tls and self.sock.pending()):
                return

    def _step_connecting(self, timeout):
        end = time.monotonic() + timeout
        while self.state == CONNECTING:
            if time.monotonic() > self._deadline:
                self._fail(1006, "timed out connecting to %s:%s" % (self.host, self.port))
                return
            left = max(0.0, min(end, self._deadline) - time.monotonic())
            if self._phase == "tcp":
                _, w = self._wait(left, True)
                if not w:
                    return
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._fail(1006, "cannot connect to %s:%s: %s" % (self.host, self.port, os.strerror(err)))
                    return
                if self.tls:
                    ctx = self._ctx or ssl.create_default_context()
                    self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host,
                                                do_handshake_on_connect=False)
                    self._phase = "tls"
                else:
                    self._start_upgrade()
            elif self._phase == "tls":
                try:
                    self.sock.do_handshake()
                    self._start_upgrade()
                except ssl.SSLWantReadError:
                    if not self._wait(left, False)[0]:
                        return
                except ssl.SSLWantWriteError:
                    if not self._wait(left, True)[1]:
                        return
            elif self._phase == "upgrade":
                r, _ = self._wait(left, bool(self._out))
                self._flush()
                if not r:
                    if left <= 0:
                        return
                    continue
                self._read()
                if self.state == CLOSED:
                    return
                end_of_head = self._in.find(b"\r\n\r\n")
                if end_of_head < 0:
                    if len(self._in) > 65536:
                        raise WebSocketError("HTTP response head too large")
                    continue
                head = bytes(self._in[:end_of_head]).decode("latin-1")
                del self._in[:end_of_head + 4]
                self._check_upgrade(head)

    def _start_upgrade(self):
        hostport = self.host if self.port in (80, 443) else "%s:%s" % (self.host, self.port)
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (self.path, hostport, self._key))
        self._out += req.encode("latin-1")
        self._phase = "upgrade"
        self._flush()

    def _check_upgrade(self, head):
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101:
            self._fail(1006, "the server refused the upgrade: HTTP %s" % (lines[0][9:] or status))
            return
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1(self._key.encode() + GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            raise WebSocketError("bad Sec-WebSocket-Accept from the server")
        self.state = OPEN
        self._events.append(("open", None))
        self._parse()

    def _parse(self):
        buf = self._in
        pos = 0
        while self.state in (OPEN, CLOSING):
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            hl = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                hl = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                hl = 10
            masked = b1 & 0x80
            if masked:
                hl += 4
            if len(buf) - pos < hl + n:
                break
            payload = bytes(buf[pos + hl:pos + hl + n])
            if masked:
                payload = mask_payload(bytes(buf[pos + hl - 4:pos + hl]), payload)
            pos += hl + n
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
        if pos:
            del buf[:pos]

    def _frame(self, fin, op, payload):
        if op == OP_PING:
            if self.state == OPEN:
                self._out += encode_frame(OP_PONG, payload)
            return
        if op == OP_PONG:
            return
        if op == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            reason = payload[2:].decode("utf-8", "replace")
            if self.state == OPEN:
                self._out += encode_frame(OP_CLOSE, payload[:2])
                self._flush()
            self.close_code, self.close_reason = code, reason
            self._fail(code, reason)
            return
        if op in (OP_TEXT, OP_BINARY):
            if self._frag_op is not None:
                raise WebSocketError("new message inside a fragmented one")
            if fin:
                self._deliver(op, payload)
                return
            self._frag_op = op
            self._frag = bytearray(payload)
            return
        if op == OP_CONT:
            if self._frag_op is None:
                raise WebSocketError("continuation without a message")
            self._frag += payload
            if len(self._frag) > self.max_message_bytes:
                raise WebSocketError("message too large")
            if fin:
                op, data = self._frag_op, bytes(self._frag)
                self._frag_op, self._frag = None, bytearray()
                self._deliver(op, data)
            return
        raise WebSocketError("unknown opcode %d" % op)

    def _deliver(self, op, payload):
        if op == OP_TEXT:
            self._events.append(("text", payload.decode("utf-8")))
        else:
            self._events.append(("binary", payload))
