"""The session protocol client (protocol 1.2), without bpy.

Design:
- One Client owns one WebSocket (ws.py) and a model of the session as the
  server has confirmed it: `nodes` (uuid -> node dict), `users` (name ->
  user), `tasks` (id -> task), `chat` (oldest first), `epoch` and `seq`.
  The model only changes on what the server says: a sync frame, an event,
  or the `ok` of our own request. Nothing is applied optimistically, so after
  a dropped connection and a delta resume the model is exactly the server's
  state and a consumer can diff its own state against it.
- Everything is driven by pump(timeout): read, handle, write. Callers that
  care about changes drain `take_events()`: ("node", op, uuid) with op
  create/update/delete/owner, ("synced", resume), ("task", op, task),
  ("chat", message), ("user", op, user), ("presence", name, data),
  ("session", frame), ("error", code, message, request), ("blob", hash),
  ("status", status).
- Requests carry integer ids; `pending` maps id -> Request until its reply.
  Node requests that name blobs wait in `outbox` (first in, first out) until
  those blobs are uploaded, and everything queued behind them waits too, so
  the server sees our changes in the order we made them.
- Blobs: uploads one at a time (blob.put, binary frames, blob.end), downloads
  one at a time. With a server of protocol 1.2 (welcome's server.protocol)
  a blob goes as chunks (chunks.py: cut into 256 KiB pieces, a mesh's along
  its arrays): blob.put lists them and only the `missing` ones are sent; a
  download asks blob.chunks, then chunk.get of only the chunks the cache
  lacks. With 1.1, blob.put sends every byte and blob.get fetches them. The
  chunk cache (chunks.ChunkStore, bounded in memory and on disk under
  `cache_dir`) keeps what we sent or received; hashes are checked on arrival.
- A connection lost without our asking is retried with back-off (0.25 s
  doubling to 5 s) and resumed with `epoch`/`since`; errors that a retry
  cannot fix (wrong password, kicked, bad hello) stop it with `error` set.
"""

import collections
import hashlib
import json
import os
import random
import ssl
import tempfile
import time

from . import chunks as chunkslib
from . import ws as wslib

VERSION = "0.1"
UPLOAD_FRAME = 1 << 20
FATAL_CLOSE = {4400: "the server refused the hello", 4401: "authentication failed",
               4403: "kicked by an admin", 4409: "that user name is already online"}


class Error(Exception):
    """A failure with the server's words: `code` is the protocol's error code
    (or a close code as text) and str(e) its message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch; returns the patched value (target is not
    modified)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def make_patch(old, new):
    """The merge patch that turns `old` into `new` (both dicts without null
    values), or None when they are equal."""
    patch = {}
    for k in old:
        if k not in new:
            patch[k] = None
    for k, v in new.items():
        o = old.get(k, None)
        if k in old and o == v:
            continue
        if isinstance(v, dict) and isinstance(o, dict):
            sub = make_patch(o, v)
            if sub is not None:
                patch[k] = sub
        else:
            patch[k] = v
    return patch or None


def blob_hash(data):
    return hashlib.sha256(data).hexdigest()


class Request:
    __slots__ = ("id", "type", "fields", "needs", "reply", "callback", "sent_at")

    def __init__(self, type, fields, needs=(), callback=None):
        self.id = None
        self.type = type
        self.fields = fields
        self.needs = tuple(needs)
        self.reply = None
        self.callback = callback
        self.sent_at = None

    @property
    def done(self):
        return self.reply is not None

    @property
    def ok(self):
        return self.reply is not None and self.reply.get("type") != "error"


class Client:
    def __init__(self, host, port, session, user, password="", admin_password="",
                 tls=False, color=None, cache_dir=None, ssl_context=None,
                 client_name="sessiond-blender/" + VERSION, reconnect=True,
                 cache_memory=chunkslib.MEMORY, cache_disk=chunkslib.DISK):
        self.host, self.port, self.session, self.user = host, int(port), session, user
        self.password, self.admin_password = password or "", admin_password or ""
        self.tls, self.color, self.ssl_context = tls, color, ssl_context
        self.client_name = client_name
        self.auto_reconnect = reconnect
        self.cache_memory, self.cache_disk = cache_memory, cache_disk
        self.cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "sessiond-blob-cache")

        self.nodes = {}
        self.users = {}
        self.tasks = {}
        self.chat = []
        self.epoch = None
        self.seq = 0
        self.initialized = False
        self.role = None
        self.server = {}
        self.resume = None
        self.blobs_supported = None       # unknown until the first blob request
        self.blob_bytes_received = 0      # blob bytes downloaded (join progress)
        self.blob_bytes_sent = 0          # blob bytes uploaded

        self.status = "idle"
        self.error = None                 # Error that stopped the client
        self.synced = False
        self.sync_progress = (0, 0)
        self.reconnect_at = None
        self.connected_once = False

        self.ws = None
        self._ids = 0
        self.pending = {}
        self.outbox = collections.deque()
        self._events = []
        self._backoff = 0.25
        self._sync_seen = None
        self._closing = False
        self._hello_fatal = False
        # blobs
        self.uploaded = set()             # hashes the server confirmed
        self.downloaded = set()           # hashes fetched from the server
        self._uploads = collections.deque()
        self._upload = None               # Upload in progress
        self._outgoing = {}               # hash -> (bytes, chunks) until the server holds it
        self._note = None                 # note_bytes()
        self._downloads = collections.deque()
        self._download = None             # Download in progress
        self._download_wanted = set()
        self._download_req = None

    # -- connection -----------------------------------------------------
    def connect(self):
        """Open the connection (non-blocking); pump() completes it."""
        self._closing = False
        self._hello_fatal = False
        self.error = None
        self._open()

    def _open(self):
        self._set_status("connecting")
        self.synced = False
        self.reconnect_at = None
        self.ws = wslib.WebSocket(self.host, self.port, "/s/" + self.session, tls=self.tls,
                                  ssl_context=self.ssl_context)

    def disconnect(self):
        self._closing = True
        self.reconnect_at = None
        if self.ws is not None and self.ws.state == wslib.OPEN:
            self.ws.close(1000, "bye")
            deadline = time.monotonic() + 2.0
            while self.ws.state != wslib.CLOSED and time.monotonic() < deadline:
                for ev in self.ws.pump(0.05):
                    if ev[0] != "close":
                        continue
        elif self.ws is not None:
            self.ws.abort()
        self._set_status("closed")

    @property
    def connected(self):
        return self.ws is not None and self.ws.state == wslib.OPEN and self.synced

    def _set_status(self, status):
        if status != self.status:
            self.status = status
            self._events.append(("status", status))

    def status_text(self):
        if self.status == "syncing":
            return "syncing: %d nodes received" % self.sync_progress[0]
        if self.status == "reconnecting" and self.reconnect_at is not None:
            return "reconnecting in %d s" % max(0, round(self.reconnect_at - time.monotonic()))
        if self.status == "error" and self.error is not None:
            return "error: %s" % self.error.message
        return self.status

    def take_events(self):
        ev, self._events = self._events, []
        return ev

    # -- the loop ---------------------------------------------------------
    def pump(self, timeout=0.0):
        """Read and handle what arrived (waiting at most `timeout` s), send
        what is queued. Returns True while the client is alive."""
        if self.ws is None:
            return False
        if self.ws.state == wslib.CLOSED:
            if self.reconnect_at is not None and time.monotonic() >= self.reconnect_at:
                self._open()
            elif timeout > 0:
                left = timeout if self.reconnect_at is None else min(
                    timeout, max(0.0, self.reconnect_at - time.monotonic()))
                time.sleep(left)
                return self.pump(0.0)
            else:
                return self.status != "error"
        for kind, payload in self.ws.pump(timeout):
            if kind == "open":
                self._on_open()
            elif kind == "text":
                try:
                    msg = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(msg, dict):
                    self._on_message(msg)
            elif kind == "binary":
                self._on_binary(payload)
            elif kind == "close":
                self._on_close(*payload)
        if self.ws.state == wslib.OPEN:
            self._drive()
            # What _drive queued goes out now, not at the next pump.
            for kind, payload in self.ws.pump(0.0):
                if kind == "text":
                    try:
                        self._on_message(json.loads(payload))
                    except ValueError:
                        pass
                elif kind == "binary":
                    self._on_binary(payload)
                elif kind == "close":
                    self._on_close(*payload)
        return self.status != "error"

    def _next_id(self):
        self._ids += 1
        return self._ids

    def _send(self, obj):
        self.ws.send_text(json.dumps(obj, separators=(",", ":")))

    def _on_open(self):
        hello = {"type": "hello", "id": self._next_id(), "user": self.user,
                 "client": self.client_name}
        if self.password:
            hello["password"] = self.password
        if self.admin_password:
            hello["admin_password"] = self.admin_password
        if self.color:
            hello["color"] = self.color
        if self.epoch is not None:
            hello["epoch"] = self.epoch
            hello["since"] = self.seq
        self._hello_id = hello["id"]
        self._send(hello)
        self._set_status("syncing")

    def _on_close(self, code, reason):
        self.synced = False
        self._sync_seen = None
        lost = [r for r in self.pending.values()]
        self.pending = {}
        # Requests that were in flight: their fate is unknown; the resync
        # tells. Blob transfers start again (a chunked upload sends only the
        # chunks the server did not get).
        for r in lost:
            if r.type in ("blob.put", "blob.end", "blob.get", "blob.chunks", "chunk.get"):
                continue
            r.reply = {"type": "error", "code": "unavailable",
                       "message": "the connection was lost (%s)" % code}
            if r.callback is not None:
                r.callback(r)
        if self._upload is not None:
            self._uploads.appendleft(self._upload.hash)
            self._upload = None
        if self._download is not None or self._download_req is not None:
            self._download = None
            self._download_req = None
        self._downloads = collections.deque(h for h in self._download_wanted)
        if self._closing:
            self._set_status("closed")
            return
        fatal = FATAL_CLOSE.get(code)
        if code == 4409 and self.connected_once:
            fatal = None        # our old connection may still be known to the server
        if self._hello_fatal:
            fatal = fatal or "refused"
        self._hello_fatal = False
        if fatal is not None or not self.auto_reconnect:
            if self.error is None:
                self.error = Error(str(code), reason or fatal or "connection closed")
            self._set_status("error")
            self.reconnect_at = None
            return
        delay = self._backoff * (0.8 + 0.4 * random.random())
        self._backoff = min(self._backoff * 2, 5.0)
        self.reconnect_at = time.monotonic() + delay
        self._set_status("reconnecting")

    # -- requests ---------------------------------------------------------
    def request(self, type, callback=None, needs=(), **fields):
        """Queue a request; returns its Request (reply set when answered).
        `needs`: blob hashes that must be uploaded before it is sent."""
        r = Request(type, fields, needs, callback)
        self.outbox.append(r)
        if self.ws is not None and self.ws.state == wslib.OPEN and self.synced:
            self._drive()
        return r

    def _send_request(self, r):
        r.id = self._next_id()
        r.sent_at = time.monotonic()
        self.pending[r.id] = r
        msg = {"type": r.type, "id": r.id}
        msg.update(r.fields)
        self._send(msg)

    def _drive(self):
        if not self.synced:
            return
        while self.outbox:
            r = self.outbox[0]
            if r.needs and self.blobs_supported is False:
                self.outbox.popleft()
                r.reply = {"type": "error", "code": "unsupported",
                           "message": "%s: the server does not support blobs" % r.type}
                if r.callback is not None:
                    r.callback(r)
                continue
            if any(h not in self.uploaded for h in r.needs):
                for h in r.needs:
                    if h not in self.uploaded and h not in self._uploads and (
                            self._upload is None or self._upload.hash != h):
                        self._uploads.append(h)
                break
            self.outbox.popleft()
            self._send_request(r)
        self._drive_upload()
        self._drive_download()

    # -- incoming ---------------------------------------------------------
    def _on_message(self, m):
        t = m.get("type")
        if "re" in m and t in ("ok", "error", "welcome", "pong"):
            if t == "welcome" or (t == "error" and not self.synced and
                                  m.get("re") == getattr(self, "_hello_id", None)):
                self._on_welcome(m)
                return
            r = self.pending.pop(m["re"], None)
            if r is None:
                return
            r.reply = m
            self._on_reply(r, m)
            if r.callback is not None:
                r.callback(r)
            return
        if t == "error":
            # An error without re: a request without id, or the hello.
            if not self.synced:
                self._on_welcome(m)
            else:
                self._events.append(("error", m.get("code"), m.get("message", ""), None))
            return
        if t == "sync":
            self._on_sync(m)
        elif t == "synced":
            self._on_synced(m)
        elif t == "node":
            self._on_node_event(m)
        elif t == "task":
            self._on_task_event(m)
        elif t == "chat":
            self._add_chat(m.get("message"))
            self.seq = max(self.seq, m.get("seq", 0))
        elif t == "user":
            self._on_user_event(m)
        elif t == "presence":
            u = self.users.get(m.get("user"))
            if u is not None:
                u["metadata"] = m.get("data")
            self._events.append(("presence", m.get("user"), m.get("data")))
        elif t == "session":
            if m.get("initialized"):
                self.initialized = True
            if "seq" in m:
                self.seq = max(self.seq, m["seq"])
            if m.get("reset"):
                self.epoch = None
            self._events.append(("session", m))

    def _on_welcome(self, m):
        if m.get("type") == "error":
            self.error = Error(m.get("code", "error"), m.get("message", "hello refused"))
            # The close frame follows; only a name still held by our own
            # dropped connection is worth retrying.
            self._hello_fatal = not (m.get("code") == "name_taken" and self.connected_once)
            return
        self.role = m.get("role")
        self.server = m.get("server") or {}
        self.initialized = bool(m.get("initialized"))
        self.resume = m.get("resume")
        if self.resume != "delta" or m.get("epoch") != self.epoch:
            self.resume = "full"
        if m.get("epoch") != self.epoch:
            # Another history (reset, restore): what it holds is not known.
            self.uploaded.clear()
            self.downloaded.clear()
        self.epoch = m.get("epoch")
        self._target_seq = m.get("seq", 0)
        self._sync_seen = set() if self.resume == "full" else None
        self._users_fresh = True
        self._task_seen = set() if self.resume == "full" else None
        if self.resume == "full":
            self.chat = []
        self.sync_progress = (0, 0)

    def _on_sync(self, m):
        for n in m.get("nodes", ()):
            if n.get("deleted"):
                self._delete_node(n["uuid"])
            else:
                self._put_node(n)
                if self._sync_seen is not None:
                    self._sync_seen.add(n["uuid"])
        for t in m.get("tasks", ()):
            if t.get("deleted"):
                if self.tasks.pop(t["id"], None) is not None:
                    self._events.append(("task", "delete", t))
            else:
                op = "update" if t["id"] in self.tasks else "create"
                self.tasks[t["id"]] = t
                if self._task_seen is not None:
                    self._task_seen.add(t["id"])
                self._events.append(("task", op, t))
        if m.get("users"):
            # Every sync frame may carry the list (later ones may carry an
            # empty one): the first non-empty list replaces ours.
            if self._users_fresh:
                self.users = {}
                self._users_fresh = False
            self.users.update({u["name"]: u for u in m["users"]})
            self._events.append(("user", "list", None))
        for c in m.get("chat", ()):
            self._add_chat(c)
        done, _ = self.sync_progress
        self.sync_progress = (done + len(m.get("nodes", ())), self._target_seq)

    def _on_synced(self, m):
        if self._sync_seen is not None:
            for uuid in [u for u in self.nodes if u not in self._sync_seen]:
                self._delete_node(uuid)
            for tid in [t for t in self.tasks if t not in self._task_seen]:
                self._events.append(("task", "delete", self.tasks.pop(tid)))
        self._sync_seen = None
        self.seq = m.get("seq", self.seq)
        self.synced = True
        self.connected_once = True
        self._backoff = 0.25
        self._set_status("connected")
        self._events.append(("synced", self.resume))
        self._drive()

    def _put_node(self, n):
        op = "update" if n["uuid"] in self.nodes else "create"
        n.setdefault("deps", [])
        n.setdefault("data", {})
        self.nodes[n["uuid"]] = n
        self.seq = max(self.seq, n.get("seq", 0))
        self._events.append(("node", op, n["uuid"]))

    def _delete_node(self, uuid):
        if self.nodes.pop(uuid, None) is not None:
            self._events.append(("node", "delete", uuid))

    def _on_node_event(self, m):
        op = m.get("op")
        self.seq = max(self.seq, m.get("seq", 0))
        if op == "create":
            self._put_node(m["node"])
        elif op == "update":
            n = self.nodes.get(m.get("uuid"))
            if n is None:
                return
            self._apply_update(n, m)
            self._events.append(("node", "update", n["uuid"]))
        elif op == "delete":
            self._delete_node(m.get("uuid"))
        elif op == "owner":
            n = self.nodes.get(m.get("uuid"))
            if n is not None:
                n["owner"] = m.get("owner")
                n["seq"] = m.get("seq", n.get("seq"))
                self._events.append(("node", "owner", n["uuid"]))

    @staticmethod
    def _apply_update(n, m):
        if "data" in m:
            n["data"] = m["data"]
        if "patch" in m:
            n["data"] = merge_patch(n.get("data", {}), m["patch"])
        for k in ("deps", "kind", "blobs", "version", "seq", "updated_by"):
            if k in m:
                n[k] = m[k]

    def _on_task_event(self, m):
        self.seq = max(self.seq, m.get("seq", 0))
        op = m.get("op")
        if op == "delete":
            t = self.tasks.pop(m.get("id"), None)
            if t is not None:
                self._events.append(("task", "delete", t))
        else:
            t = m.get("task")
            self.tasks[t["id"]] = t
            self._events.append(("task", op, t))

    def _add_chat(self, c):
        if not c or any(x.get("id") == c.get("id") for x in self.chat[-50:]):
            return
        self.chat.append(c)
        self.seq = max(self.seq, c.get("seq", 0))
        self._events.append(("chat", c))

    def _on_user_event(self, m):
        op = m.get("op")
        if op == "join":
            u = m.get("user") or {}
            self.users[u.get("name")] = u
            self._events.append(("user", "join", u))
        elif op == "leave":
            u = self.users.get(m.get("user"))
            if u is not None:
                u["online"] = False
            self._events.append(("user", "leave", m.get("user")))

    def _on_reply(self, r, m):
        ok = m.get("type") != "error"
        t = r.type
        if ok and t == "node.create":
            f = r.fields
            n = {"uuid": m["uuid"], "kind": f["kind"], "deps": f.get("deps", []),
                 "data": f.get("data", {}), "owner": self.user if f.get("lock") else None,
                 "version": m.get("version", 1), "seq": m.get("seq", 0),
                 "updated_by": self.user}
            if "blobs" in f:
                n["blobs"] = f["blobs"]
            self.nodes[n["uuid"]] = n
            self.seq = max(self.seq, m.get("seq", 0))
        elif ok and t == "node.update":
            n = self.nodes.get(r.fields["uuid"])
            if n is not None:
                self._apply_update(n, dict(r.fields, version=m.get("version"), seq=m.get("seq")))
            self.seq = max(self.seq, m.get("seq", 0))
        elif ok and t == "node.delete":
            self.nodes.pop(r.fields["uuid"], None)
            self.seq = max(self.seq, m.get("seq", 0))
        elif ok and t in ("node.lock", "node.unlock"):
            n = self.nodes.get(r.fields["uuid"])
            if n is not None:
                n["owner"] = m.get("owner")
            self.seq = max(self.seq, m.get("seq", 0))
            self._events.append(("node", "owner", r.fields["uuid"]))
        elif ok and t in ("task.create", "task.update"):
            task = m.get("task")
            op = "update" if task["id"] in self.tasks else "create"
            self.tasks[task["id"]] = task
            self.seq = max(self.seq, m.get("seq", 0))
            self._events.append(("task", op, task))
        elif ok and t == "task.delete":
            task = self.tasks.pop(r.fields["task"], None)
            if task is not None:
                self._events.append(("task", "delete", task))
        elif ok and t == "chat.send":
            self._add_chat(m.get("message"))
        elif ok and t == "session.init":
            self.initialized = True
        elif t in ("blob.put", "blob.end", "blob.get", "blob.has", "blob.chunks", "chunk.get",
                   "chunk.has"):
            self._on_blob_reply(r, m)
            return
        if not ok:
            self._events.append(("error", m.get("code"), m.get("message", ""), r))

    # -- blobs --------------------------------------------------------------
    @property
    def cache_dir(self):
        return self._cache_dir

    @cache_dir.setter
    def cache_dir(self, path):
        self._cache_dir = path
        self.chunks = chunkslib.ChunkStore(path, self.cache_memory, self.cache_disk)

    @property
    def chunked(self):
        """The server speaks protocol 1.2 or later: blobs go as chunks."""
        return chunkslib.speaks_chunks(self.server.get("protocol"))

    def has_blob(self, h):
        return h in self._outgoing or self.chunks.has_blob(h)

    def read_blob(self, h):
        out = self._outgoing.get(h)
        if out is not None:
            return out[0]
        return self.chunks.read_blob(h)

    def note_bytes(self, data, h, parts=None):
        """What a translator knows of bytes it is about to hand over: their
        hash (not computed again) and the byte sizes of their parts (the
        arrays of a mesh), each cut from its own start."""
        self._note = (data, h, parts)

    def store_blob(self, data, h=None, parts=None):
        """Put bytes into the chunk cache; returns (hash, [(chunk, size)])."""
        note = self._note
        if note is not None and note[0] is data:
            h, parts = h or note[1], parts or note[2]
            self._note = None
        h = h or blob_hash(data)
        sizes = chunkslib.cut_sizes(len(data), parts)
        return h, self.chunks.put_blob(h, data, sizes)

    def put_blob(self, data, parts=None):
        """Cache `data` and queue its upload; returns the hash. Requests
        queued with needs=[hash] go out once the server holds it."""
        h, chunks = self.store_blob(data, parts=parts)
        if h not in self.uploaded:
            # Kept until the server holds it, whatever the cache evicts.
            self._outgoing[h] = (data, chunks)
            if h not in self._uploads and (self._upload is None or self._upload.hash != h):
                self._uploads.append(h)
        if self.ws is not None and self.ws.state == wslib.OPEN and self.synced:
            self._drive()
        return h

    def fetch_blob(self, h):
        """True when the blob is in the local cache; else queue its download
        and report ("blob", hash) when it has arrived."""
        if self.has_blob(h):
            return True
        if h not in self._download_wanted:
            self._download_wanted.add(h)
            self._downloads.append(h)
            if self.ws is not None and self.ws.state == wslib.OPEN and self.synced:
                self._drive_download()
        return False

    @property
    def blobs_busy(self):
        return bool(self._uploads or self._upload or self._downloads or self._download
                    or self._download_req)

    def _drive_upload(self):
        if self._upload is not None or not self._uploads or self.blobs_supported is False:
            return
        h = self._uploads.popleft()
        out = self._outgoing.get(h)
        if out is None:
            data = self.chunks.read_blob(h)
            if data is None:
                return
            out = (data, self.chunks.manifest(h))
        fields = {"hash": h, "size": len(out[0])}
        if self.chunked and 0 < len(out[1]) <= chunkslib.MAX_ENTRIES:
            fields["chunks"] = [list(c) for c in out[1]]
        self._upload = chunkslib.Upload(h, out[0], out[1] if "chunks" in fields else None)
        self._send_request(Request("blob.put", fields))

    def _send_bytes(self, view):
        limit = min(UPLOAD_FRAME, int(self.server.get("max_message_bytes") or UPLOAD_FRAME))
        for off in range(0, len(view), limit):
            self.ws.send_binary(view[off:off + limit])
        self.blob_bytes_sent += len(view)

    def _on_blob_reply(self, r, m):
        ok = m.get("type") != "error"
        if not ok and m.get("code") == "bad_request" and "type" in m.get("message", "") \
                and self.blobs_supported is None:
            # A 1.0 server: it does not know blob requests at all.
            self.blobs_supported = False
            self._events.append(("error", "unsupported",
                                 "the server does not support blobs (protocol 1.0)", r))
            self._upload = None
            return
        if ok:
            self.blobs_supported = True
        if r.type == "blob.put":
            up = self._upload
            if up is None or up.hash != r.fields["hash"]:
                return
            if not ok:
                self._upload = None
                self._outgoing.pop(up.hash, None)
                self._events.append(("error", m.get("code"), m.get("message", ""), r))
            elif m.get("have"):
                self._upload = None
                self._uploaded(up.hash)
            else:
                view = memoryview(up.data)
                if up.chunks is None or "missing" not in m:
                    self._send_bytes(view)
                else:
                    starts = chunkslib.offsets(up.chunks)
                    for i in m["missing"]:
                        self._send_bytes(view[starts[i]:starts[i] + up.chunks[i][1]])
                self._send_request(Request("blob.end", {"hash": up.hash}))
                return
        elif r.type == "blob.end":
            up = self._upload
            self._upload = None
            if up is not None:
                self._outgoing.pop(up.hash, None)
            if ok and up is not None:
                self._uploaded(up.hash)
            elif not ok:
                self._events.append(("error", m.get("code"), m.get("message", ""), r))
        elif r.type in ("blob.get", "blob.chunks", "chunk.get"):
            self._download_req = None
            d = self._download
            if not ok:
                self._download = None
                self._download_wanted.discard(r.fields.get("hash"))
                if d is not None:
                    self._download_wanted.discard(d.hash)
                self._events.append(("error", m.get("code"), m.get("message", ""), r))
            elif r.type == "blob.get":
                self._download = chunkslib.Download(r.fields["hash"], int(m.get("size", 0)))
                if self._download.size == 0:
                    self._finish_download()
            elif r.type == "blob.chunks":
                d = chunkslib.Download(r.fields["hash"], int(m.get("size", 0)))
                d.chunks = [(c[0], int(c[1])) for c in m.get("chunks", ())]
                d.lacking = self.chunks.lacking(d.chunks)
                self._download = d
                self._next_chunks()
            elif d is not None:
                d.expect = list(m.get("hashes", ()))
                if not d.expect:
                    self._next_chunks()
        self._drive()

    def _uploaded(self, h):
        self.uploaded.add(h)
        self._outgoing.pop(h, None)

    def _drive_download(self):
        if self._download is not None or self._download_req is not None:
            return
        while self._downloads:
            h = self._downloads.popleft()
            if self.has_blob(h):
                self._download_wanted.discard(h)
                self._events.append(("blob", h))
                continue
            t = "blob.chunks" if self.chunked else "blob.get"
            self._download_req = Request(t, {"hash": h})
            self._send_request(self._download_req)
            return

    def _next_chunks(self):
        """chunk.get of the next lacking chunks (at most 1024 and about
        64 MiB per request), or the end of the download."""
        ask = self._download.next_batch()
        if not ask:
            self._finish_download()
            return
        self._download_req = Request("chunk.get", {"hashes": ask})
        self._send_request(self._download_req)

    def _on_binary(self, data):
        d = self._download
        if d is None:
            return
        self.blob_bytes_received += len(data)
        if d.chunks is None:                # blob.get: the bytes in order
            d.buf += data
            if len(d.buf) >= d.size:
                self._finish_download()
            return
        if not d.expect:
            return
        h = d.expect.pop(0)
        if blob_hash(data) != h:
            self._download = None
            self._download_wanted.discard(d.hash)
            self._events.append(("error", "bad_blob", "chunk %s arrived with another hash" % h,
                                 None))
            self._drive_download()
            return
        d.got[h] = data
        self.chunks.put(h, data)
        if not d.expect and self._download_req is None:
            self._next_chunks()

    def _finish_download(self):
        d = self._download
        chunks = d.chunks
        data = d.assemble(self.chunks)
        if data is None:            # a chunk the cache could not give back after all
            self._next_chunks()
            return
        self._download = None
        self._download_wanted.discard(d.hash)
        if blob_hash(data) != d.hash or len(data) != d.size:
            self._events.append(("error", "bad_blob", "blob %s arrived with another hash"
                                 % d.hash, None))
        else:
            if chunks is None:
                self.store_blob(data, d.hash)
            else:
                self.chunks.put_manifest(d.hash, chunks)
            self.downloaded.add(d.hash)
            self._events.append(("blob", d.hash))
        self._drive_download()

    # -- convenience --------------------------------------------------------
    def wait(self, pred, timeout=10.0):
        """Pump until pred() is true; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met within %.1f s (status: %s)"
                                   % (timeout, self.status_text()))
            self.pump(min(left, 0.05))
            if self.status == "error" and self.error is not None:
                raise self.error

    def call(self, type, timeout=10.0, needs=(), **fields):
        """A request that must succeed: returns the ok, raises Error."""
        r = self.request(type, needs=needs, **fields)
        self.wait(lambda: r.done, timeout)
        if not r.ok:
            raise Error(r.reply.get("code"), r.reply.get("message", ""))
        return r.reply

    def open_and_sync(self, timeout=30.0):
        self.connect()
        self.wait(lambda: self.synced, timeout)


def default_ssl_context(verify=True):
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
