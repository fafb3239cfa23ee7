"""The Python API for pipeline scripts (and the tests): connect() returns a
Session once the session is synced into bpy.data. The UI uses the same
Session, pumped by one bpy.app.timers callback; scripts pump it themselves.
"""

import time

from . import bridge as sbridge
from . import client as sclient
from . import collab as scollab
from . import undo as sundo

Error = sclient.Error
PRESENCE_INTERVAL = 0.1

_active = None


def active():
    """The Session the UI shows (the last one connected), or None."""
    return _active


class Session:
    def __init__(self, client):
        self.client = client
        self.bridge = sbridge.Bridge(client)
        self.collab = scollab.Collab(self)
        self._last_presence = 0.0
        self._presence_sent = None
        self.mode = None
        # The UI's Connect sets this: once synced, the join waits (nothing
        # local changes) until the artist answers collab.join_question().
        self.asking = False

    # -- the loop ----------------------------------------------------------
    def pump(self, timeout=0.0):
        """Read the network, apply what arrived to bpy.data, send local
        changes. Waits at most `timeout` seconds for the network."""
        c = self.client
        c.pump(timeout)
        self.bridge.handle_events(self._events())
        self.bridge.sync_selection()
        self.bridge.scan()
        self.collab.step()
        self._presence()
        c.pump(0.0)
        self.bridge.handle_events(self._events())

    def _events(self):
        ev = self.client.take_events()
        self._seen_events = ev
        self.collab.say_errors(ev)
        for e in ev:
            if e[0] in ("chat", "task", "user", "presence", "synced", "status"):
                for cb in list(_listeners):
                    cb(self, e)
        return ev

    def _presence(self):
        now = time.monotonic()
        if now - self._last_presence < PRESENCE_INTERVAL or not self.client.synced:
            return
        self._last_presence = now
        data = self.collab.presence(self.bridge.presence())
        if data != self._presence_sent:
            self._presence_sent = data
            self.client.request("presence", data=data)

    def wait_until(self, pred, timeout=10.0):
        """Pump until pred() is true; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            if pred():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met within %.1f s (%s)"
                                   % (timeout, self.client.status_text()))
            self.pump(min(left, 0.02))
            c = self.client
            if c.status == "error" and c.error is not None:
                raise c.error

    def flush(self, timeout=30.0):
        """Send local changes now (selection locks included) and wait until
        the server acknowledged them (or the connection is down)."""
        self.bridge.sync_selection()
        c = self.client
        b = self.bridge
        deadline = time.monotonic() + timeout
        while True:
            # A change refused with `conflict` is merged and sent again:
            # scan until a scan has nothing left to send.
            b.scan(force=True)
            c.pump(0.0)
            # A datablock the scan could not send yet (a server change to
            # apply first, its previous update in flight) is sent by a later
            # scan: wait for it too. One that waits for bytes stays local
            # until they come, whatever the wait.
            held = b.dirty or (b.recheck - b.loading)
            if not c.connected or time.monotonic() > deadline or not (
                    c.outbox or c.pending or b.updating or b.creating or held):
                return
            self.wait_until(lambda: not c.connected or (
                not c.outbox and not c.pending and not c._upload and not c._uploads
                and not b.dirty), max(0.0, deadline - time.monotonic()))

    # -- chat, tasks, users ------------------------------------------------
    @property
    def chat(self):
        return list(self.client.chat)

    def send_chat(self, text):
        return self.client.call("chat.send", text=text)["message"]

    def older_chat(self, limit=100):
        """Fetch up to `limit` messages before the oldest one in `chat`
        (chat.history) and put them in front; returns the Request."""
        c = self.client
        fields = {"limit": limit}
        if c.chat:
            fields["before"] = c.chat[0]["id"]

        def got(r):
            if r.ok:
                have = {m["id"] for m in c.chat}
                c.chat[:0] = [m for m in r.reply.get("messages", []) if m["id"] not in have]
        return c.request("chat.history", callback=got, **fields)

    @property
    def tasks(self):
        return [self.client.tasks[k] for k in sorted(self.client.tasks)]

    def create_task(self, title, **fields):
        return self.client.call("task.create", title=title, **fields)["task"]

    def update_task(self, task_id, **fields):
        return self.client.call("task.update", task=task_id, **fields)["task"]

    @property
    def users(self):
        return [self.client.users[k] for k in sorted(self.client.users)]

    @property
    def messages(self):
        """Reverts and errors, in words, oldest first: [(time, text)]."""
        return list(self.bridge.messages)

    def uuid_of(self, idblock):
        return sbridge.uuid_of(idblock)

    def node(self, idblock_or_uuid):
        u = idblock_or_uuid if isinstance(idblock_or_uuid, str) else sbridge.uuid_of(idblock_or_uuid)
        return self.client.nodes.get(u)

    def owner(self, idblock):
        n = self.node(idblock)
        return n.get("owner") if n else None

    def not_shared(self):
        """What of the local file is not shared, and why: [(collection,
        name, reason)] (the panel shows the same)."""
        return not_shared()

    def digest(self):
        """(hex, summary, items) of the replicated scene in bpy.data, each
        datablock as this Blender sends it (with what it keeps of the node
        data that it cannot hold)."""
        return sbridge.scene_digest(self.client.nodes)

    # -- working with the others ------------------------------------------------
    def user_view(self, user):
        """{view_matrix, lens, perspective, view_distance, frame} from a
        colleague's presence, or None."""
        return self.collab.user_view(user)

    @property
    def view(self):
        """This Blender's view: the first 3D viewport's, or (no viewport)
        the stored one that set_view and snap_view set and presence sends."""
        return self.collab.local()

    def set_view(self, view_matrix, lens=50.0, perspective="PERSP", view_distance=10.0):
        self.collab.set_view(view_matrix, lens, perspective, view_distance)

    def snap_view(self, user):
        """The viewport (or the stored view) takes the user's view matrix,
        lens and perspective; returns what was applied or None."""
        return self.collab.snap_view(user)

    def snap_time(self, user):
        """The current frame takes the user's; returns it or None."""
        return self.collab.snap_time(user)

    def follow(self, user):
        """Snap view and time to user at every pump until the view is moved
        here (or follow(None))."""
        self.collab.follow(user)

    @property
    def following(self):
        return self.collab.following

    def locks(self, show="all"):
        """[(uuid, name, kind, owner)] of the shared objects; show: "all",
        "mine", "others" or "free"."""
        return self.collab.locks(show)

    def request_lock(self, idblock_or_uuid):
        """Ask the holder for it (presence lock_requests); once given, it is
        selected here and locked. False when nobody else holds it."""
        return self.collab.request_lock(self._uuid(idblock_or_uuid))

    @property
    def lock_requests(self):
        """[(user, uuid)]: colleagues asking for locks I hold."""
        return self.collab.incoming()

    def give_lock(self, idblock_or_uuid, user):
        self.collab.give(self._uuid(idblock_or_uuid), user)

    def refuse_lock(self, idblock_or_uuid, user):
        self.collab.refuse(self._uuid(idblock_or_uuid), user)

    def release_lock(self, idblock_or_uuid):
        """Admin: take the lock away from its holder; returns the Request."""
        return self.collab.release(self._uuid(idblock_or_uuid))

    def _uuid(self, x):
        return x if isinstance(x, str) else sbridge.uuid_of(x)

    def progress(self):
        """The join's progress: {phase ("connecting", "receiving",
        "applying", "done"), nodes, total (None while receiving),
        blob_bytes, blobs_left}."""
        return self.collab.progress()

    def join_question(self):
        """What joining will do, once synced (None before)."""
        return self.collab.join_question()

    def after_undo(self):
        """After Blender's undo or redo (the UI calls it from undo_post and
        redo_post): others' changes are applied again from the session, this
        artist's reverted ones are sent (see undo.py)."""
        sundo.after_undo(self)

    # -- admin ---------------------------------------------------------------
    def kick(self, user):
        return self.client.call("admin.kick", user=user)

    def save(self):
        return self.client.call("admin.save")

    def backups(self):
        return self.client.call("admin.backups")["backups"]

    def disconnect(self):
        global _active
        if self.client.connected:
            for u in list(self.bridge.locked):
                self.client.request("node.unlock", uuid=u)
            self.bridge.locked.clear()
        self.client.disconnect()
        self.bridge.active = False
        if _active is self:
            _active = None
            for cb in list(_listeners):
                cb(self, ("status", "closed"))

    @property
    def status(self):
        """The status line: connecting, the join's progress (objects and
        data received, of the total once known, and MB of files), connected,
        reconnecting in N s, or the server's error as a sentence."""
        c = self.client
        if c.status == "error" and c.error is not None:
            return scollab.sentence(c.error.code, c.error.message)
        return self.collab.progress_text() or c.status_text()

    # -- joining ---------------------------------------------------------------
    def start(self, timeout=60.0):
        """Connect, sync, then upload (uninitialised session) or replace
        the local data (initialised one). Blocks; the UI uses begin()."""
        self.begin()
        deadline = time.monotonic() + timeout
        while not self.step():
            if time.monotonic() > deadline:
                raise TimeoutError("not synced within %.0f s (%s)"
                                   % (timeout, self.client.status_text()))
            c = self.client
            if c.status == "error" and c.error is not None:
                raise c.error
            self.client.pump(0.02)
        return self

    def begin(self):
        """Start connecting without blocking; step() advances the join."""
        self.client.connect()
        self._starter = self._start_steps()
        self.joined = False

    def step(self):
        """Advance the join by what has arrived; True once it is done."""
        if self.joined:
            return True
        try:
            next(self._starter)
        except StopIteration:
            self.joined = True
            self.joined_seq = self.client.seq
        return self.joined

    def _start_steps(self):
        c = self.client
        while not c.synced:
            yield
        if c.blobs_supported is None:
            r = c.request("blob.has", hashes=["0" * 64])
            while not r.done:
                yield
            c.take_events()     # the probe's error on a 1.0 server is expected
        while self.asking:
            self._events()      # listeners told; the nodes are applied as a whole below
            yield
        # What the sync brought is applied by bridge.start() as a whole.
        self._events()
        how = self.bridge.start()
        if how == "upload":
            self.bridge.scan(force=True)
            while c.outbox or c.pending or c._upload or c._uploads:
                yield
            if not c.initialized:
                r = c.request("session.init")
                while not r.done:
                    yield
                if not r.ok and r.reply.get("code") != "conflict":
                    raise Error(r.reply.get("code"), r.reply.get("message", ""))
                c.initialized = True
        else:
            while self.bridge.waiting or c.blobs_busy or self.bridge.dirty:
                self.bridge.handle_events(self._events())
                yield


def not_shared():
    """[(collection, name, reason)] of the local datablocks that are not
    shared: kinds the add-on does not share (yet), objects whose data is
    such a kind, library data. They stay local and are never changed."""
    from . import translators
    return translators.not_shared()


_listeners = []


def add_listener(cb):
    """cb(session, event) for chat, task, user, presence, status events (UI
    redraws)."""
    _listeners.append(cb)


def remove_listener(cb):
    if cb in _listeners:
        _listeners.remove(cb)


def make_session(host, port, session, user, password="", admin_password="", tls=False,
                 color=None, cache_dir=None, verify_tls=True):
    if cache_dir is None:
        from . import paths
        cache_dir = paths.cache_dir()
    ctx = sclient.default_ssl_context(verify_tls) if tls else None
    c = sclient.Client(host, port, session, user, password=password,
                       admin_password=admin_password, tls=tls, color=color,
                       cache_dir=cache_dir, ssl_context=ctx)
    return Session(c)


def connect(host, port, session, user, password="", admin_password="", tls=False, color=None,
            timeout=60.0, cache_dir=None, verify_tls=True):
    """Connect and return a Session once the session is synced into bpy.data
    (uploading the local scene and calling session.init first if the session
    is not initialised). Raises Error with the server's words."""
    global _active
    s = make_session(host, port, session, user, password, admin_password, tls, color,
                     cache_dir, verify_tls)
    try:
        s.start(timeout)
    except Error:
        s.client.disconnect()
        raise
    except TimeoutError as e:
        s.client.disconnect()
        raise Error("timeout", str(e))
    _active = s
    return s
