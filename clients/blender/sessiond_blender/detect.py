"""Finding local changes and sending them (the scan): the part of the
bridge (bridge.py, class Bridge) that goes from bpy.data to the session.

What changed comes from Blender's depsgraph: a depsgraph_update_post
handler notes the datablocks each evaluation reports (a transform, a
geometry, a material setting, a collection's members, a rename), and a
scan dumps only those, so a scan with nothing reported touches nothing.
What the depsgraph does not see has a cheap fallback:
- a datablock added or removed changes the count of its kind (compared
  at each scan): then every datablock is looked at once (a full scan,
  which also finds deletions and gives new datablocks their uuids);
- kinds it never reports (BLIND: texts, images' pixels, sounds, fonts,
  actions, textures) are dumped a few times a second (IDLE_SCAN_INTERVAL);
- one it reports but the bridge does not know (new, or a copy holding
  another's uuid) asks for a full scan, as do a reconnect, an undo and
  flush() (scan(force=True)).
Not seen until the next full scan: a custom property set from Python
(`ob["x"] = 1`; the same edit in the UI is reported) and a datablock no
scene uses edited from Python.

A datablock reported is dumped (a translator's fingerprint skips the
dump when it did not change) and compared with the agreed state (the
shadow); what differs is sent. One that cannot be sent yet (an update in
flight, a server change to apply first, the rate limit) is looked at
again at the next scan. Reported datablocks are dumped within a budget
per scan (SCAN_BUDGET): after thousands of objects arrived the depsgraph
reports them all, and the next scans go on with the rest.
"""

import time
import weakref

import bpy

from .context import new_uuid, uuid_of
from .merge import keep_members, same_data
from .translators import MODULES, UUID_PROP, module_of, why_not_shared

MAX_DEPS = 1024             # the server's limit per node
RATE = 30.0                 # node.update per second per node, at most
SCAN_INTERVAL = 1.0 / 60.0  # between scans when pumped continuously
IDLE_SCAN_INTERVAL = 0.25   # with a depsgraph watch and nothing reported
RETRY_INTERVAL = 0.5        # between tries of a load that was put off
SCAN_BUDGET = 0.008         # s of dumping what the depsgraph reported, per scan
# Kinds whose changes Blender's depsgraph does not report (a text's
# lines, an image's pixels, an action not in use, a sound, a font): looked
# at IDLE_SCAN_INTERVAL apart. Everything else is dumped when reported.
BLIND = [m for m in MODULES if m.KIND in ("Text", "Image", "Sound", "Font", "Action",
                                          "Texture")]
_WATCHING = weakref.WeakSet()   # the bridges depsgraph updates are reported to


@bpy.app.handlers.persistent
def _on_depsgraph_update(scene, depsgraph=None):
    for b in list(_WATCHING):
        b.note_updates(depsgraph)


def _unwatch():
    """Our handler out of Blender's list before Blender (as a Python module)
    shuts down at exit: left in, the process never ends."""
    try:
        handlers = bpy.app.handlers.depsgraph_update_post
        if _on_depsgraph_update in handlers:
            handlers.remove(_on_depsgraph_update)
    except (AttributeError, ReferenceError, RuntimeError):
        pass


_exit_hook = []


def _watch(bridge):
    _WATCHING.add(bridge)
    if not _exit_hook:
        import atexit
        atexit.register(_unwatch)
        _exit_hook.append(True)
    handlers = bpy.app.handlers.depsgraph_update_post
    for h in list(handlers):     # this module loaded again (an add-on reload)
        if getattr(h, "__qualname__", None) == _on_depsgraph_update.__qualname__ and \
                getattr(h, "__module__", None) == __name__ and h is not _on_depsgraph_update:
            handlers.remove(h)
    if _on_depsgraph_update not in handlers:
        handlers.append(_on_depsgraph_update)


def local_ids():
    """(uuid or None, module, id) of every replicated local datablock."""
    for m in MODULES:
        for idb in getattr(bpy.data, m.COLLECTION):
            if why_not_shared(idb, m) is None:
                yield uuid_of(idb), m, idb


class Scanner:
    """Bridge's scan (a base class of Bridge: the state is Bridge's)."""

    def note_updates(self, depsgraph):
        """What Blender's depsgraph reports changed (depsgraph_update_post):
        those datablocks are what the next scan dumps. One it does not know
        (new, a copy holding another's uuid) asks for a full scan."""
        if self.applying or not self.active:
            return
        try:
            updates = list(depsgraph.updates)
        except (AttributeError, ReferenceError, RuntimeError):
            self.full_scan = True
            return
        for upd in updates:
            try:
                idb = upd.id.original
                if getattr(idb, "is_embedded_data", False):
                    continue        # a material's node tree: its owner is reported too
                u = uuid_of(idb)
                if u is None or self.ids.get(u) != idb:
                    if why_not_shared(idb) is None:
                        self.full_scan = True
                    continue
            except (ReferenceError, RuntimeError):
                self.full_scan = True
                continue
            self.changed.add(u)
        self.local_dirty = True

    def _evaluate(self):
        """Let Blender evaluate the depsgraph now, so its update handlers
        (note_updates) report what changed since the last evaluation: in a
        Blender without a window (a script changing bpy.data) nothing else
        does; with one, Blender does it after each change."""
        if not bpy.app.background:
            return
        t0 = time.monotonic()
        try:
            bpy.context.evaluated_depsgraph_get()
        except (AttributeError, RuntimeError, ReferenceError):
            self.full_scan = True
        self.evaluate_s += time.monotonic() - t0

    def _counts(self):
        return tuple(len(getattr(bpy.data, m.COLLECTION)) for m in MODULES)

    def scan(self, force=False):
        now = time.monotonic()
        if not force:
            if now - self.last_scan < SCAN_INTERVAL:
                return
            # With the UI's depsgraph watch, a scan is due when Blender
            # reported a change, or a rate-limited update waits, and anyway
            # a few times a second (not every change reaches the depsgraph).
            if (self.watch_depsgraph and not self.local_dirty and now < self.rate_due
                    and now - self.last_scan < IDLE_SCAN_INTERVAL):
                return
        self.local_dirty = False
        self.rate_due = float("inf")
        self.last_scan = now
        if self.retry and now - self.last_retry > RETRY_INTERVAL and self.active:
            self.last_retry = now
            self.dirty |= self.retry
            self.retry = set()
            self.apply()
        c = self.client
        if not self.active or not c.synced:
            return
        # A mesh in edit mode keeps its edits in its BMesh until it is
        # written back: write it back so the dump sees them.
        # (At most 4 times a second: it copies the whole mesh.)
        editing = []
        if force or now - self.last_editmode > 0.25:
            self.last_editmode = now
            try:
                for o in bpy.context.objects_in_mode or ():
                    if o.type == "MESH":
                        o.update_from_editmode()
                        editing.append(o)
            except (AttributeError, RuntimeError):
                pass
        # What changed: the depsgraph's reports, and what it cannot see
        # (datablocks added or removed change a count; kinds it never
        # reports are looked at a few times a second). While many nodes
        # arrive (applied a budget per pump), the depsgraph is evaluated
        # once they are all in: each evaluation after datablocks were
        # added rebuilds its relations, which takes as long as the scene
        # is large.
        if not self.dirty:
            self._evaluate()
        counts = self._counts()
        if force or counts != self.last_counts:
            self.full_scan = True
        if self.full_scan:
            self.full_scan = False
            self.changed = set()
            self.recheck = set()
            self.last_counts = counts
            self.last_blind = now
            self._scan_all(now, force)
            return
        todo = self.changed | self.recheck
        self.changed, self.recheck = set(), set()
        for o in editing:
            todo.update(x for x in (uuid_of(o), uuid_of(o.data)) if x)
        if now - self.last_blind >= IDLE_SCAN_INTERVAL:
            self.last_blind = now
            for m in BLIND:
                for idb in getattr(bpy.data, m.COLLECTION):
                    u = uuid_of(idb)
                    if u is not None:
                        todo.add(u)
        if not todo:
            return
        items = []
        for u in todo:
            idb = self.ids.get(u)
            if idb is None:
                continue
            try:
                m = _module(idb)
            except ReferenceError:
                self.full_scan = True       # removed: the next scan sends the delete
                continue
            items.append((_kind_rank(m.KIND if m else None), u, m, idb))
        items.sort(key=lambda x: (x[0], x[1]))
        # A budget per scan: the depsgraph reports every object after its
        # relations were rebuilt (thousands of objects arrived); what is
        # left is looked at by the next scans.
        deadline = time.monotonic() + SCAN_BUDGET
        for i, (_, u, m, idb) in enumerate(items):
            if i and time.monotonic() > deadline:
                self.recheck.update(x[1] for x in items[i:])
                self.local_dirty = True
                break
            try:
                if m is None or uuid_of(idb) != u or why_not_shared(idb, m) is not None:
                    self.full_scan = True   # renamed away, copied, no longer shared
                    continue
            except ReferenceError:
                self.full_scan = True
                continue
            self._scan_one(u, m, idb, now, force)

    def _scan_all(self, now, force):
        c = self.client
        self.full_scans += 1
        # Assign uuids to new local datablocks first, so refs resolve.
        for u, m, idb in local_ids():
            if u is None:
                idb[UUID_PROP] = new_uuid()
        ids = self.rebuild_ids()
        # Deletions: a node we had in sync whose datablock is gone.
        for u in list(self.shadow):
            if u not in ids and u not in self.deleting:
                node = c.nodes.get(u)
                self.shadow.pop(u, None)
                self.fp.pop(u, None)
                if node is None:
                    continue
                self.deleting.add(u)
                c.request("node.delete", uuid=u,
                          callback=lambda r, u=u: self._done(r, u, self.deleting))
        # Creates and updates, in kind order (what is used first).
        for m in MODULES:
            for idb in getattr(bpy.data, m.COLLECTION):
                u = uuid_of(idb)
                if u is None or ids.get(u) is not idb:
                    continue
                self._scan_one(u, m, idb, now, force)

    def _scan_one(self, u, m, idb, now, force):
        """Send what changed in one datablock: a create, or an update
        against the agreed state. One that cannot be sent now (an update
        in flight, a server change to apply first, the rate limit) is
        looked at again at the next scan."""
        c = self.client
        if u in self.creating or u in self.updating or u in self.loading or u in self.dirty:
            # One update in flight per node (its reply first); half loaded
            # (what Blender holds is not an edit); a server change waits.
            self.recheck.add(u)
            return
        try:
            data, deps, blobs = self.dump(u, m, idb)
        except Exception as e:  # one odd datablock must not stop the others
            self.failed.add(u)  # and is not shared while so (Context.ref)
            self._say(u, "cannot read %s %r: %s" % (m.KIND, idb.name, e))
            return
        self.failed.discard(u)
        held = self._held_members(u)
        if held and u in self.shadow:
            data = keep_members(data, self.shadow[u][0], held)
            kept = held & set(self.shadow[u][1])
            if kept:
                deps = sorted(set(deps) | kept)[:MAX_DEPS]
        node = c.nodes.get(u)
        if node is None:
            if u in self.shadow:
                return      # deleted on the server; apply() removes it
            if self.refused.get(u) == data:
                return      # refused as it is: not again until it changes
            self._create(u, m, data, deps, blobs)
            return
        sh = self.shadow.get(u)
        if sh is None:
            sh = (node.get("data", {}), node.get("deps", []), node.get("blobs", []))
            self.shadow[u] = sh
            self.versions[u] = node.get("version")
        if sh[1] == deps and same_data(sh[0], data):
            return
        due = self.last_sent.get(u, 0.0) + 1.0 / RATE
        if not force and now < due:
            self.rate_due = min(self.rate_due, due)
            self.recheck.add(u)
            return
        self._update(u, node, sh, data, deps, blobs)


_BY_TYPE = {}


def _module(idb):
    t = type(idb)
    m = _BY_TYPE.get(t)
    if m is None:
        m = _BY_TYPE[t] = module_of(idb)
    return m


_RANK = {m.KIND: i for i, m in enumerate(MODULES)}


def _kind_rank(kind):
    return _RANK.get(kind, len(_RANK))
