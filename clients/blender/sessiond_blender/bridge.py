"""The bridge between bpy.data and the session model of client.py.

Design:
- Identity: every replicated datablock carries its node uuid in the ID
  custom property `sessiond_uuid` (names may change; renames replicate). A
  datablock copied with its custom properties (Shift+D) is noticed as a
  second holder of a uuid and gets a fresh one.
- Local -> server (scan, detect.py): dump what Blender's depsgraph reported
  changed (a translator's cheap `fingerprint` skips the dump when nothing
  changed), compare with the shadow (the last dump known to be in sync) and
  send a node.create, or a node.update carrying the merge patch of what
  changed, at most RATE times per second per node. A full scan (every
  datablock) when a count changed: deletions are found by comparing the
  uuid sets, as the depsgraph does not report deleted IDs.
- Server -> local (apply): node events mark uuids; they are applied in deps
  order (a node's deps first), constructing what is missing, APPLY_BUDGET
  seconds per pump (thousands arriving take several pumps, never a stall). A datablock
  holding local changes not sent yet (it differs from the shadow) gets the
  three-way merge of shadow, local and server state (merge.py) instead of
  the server's state, and the scan sends the local changes afterwards.
- Updates carry the version of the shadow; a `conflict` reply puts the
  shadow back, merges and sends again at once (in the reply's handler). One update per node is in flight;
  changes of others arriving meanwhile are applied after its reply. A reference to
  a node that is not there yet, or a blob still downloading, parks the node
  until it arrives. After applying, the shadow is a fresh dump, so the next
  scan sees no difference: changes from the server are never echoed back.
- Refused edits (forbidden, not_found) are reverted: the server's
  state from the model is applied again and a message is kept for the UI.
- After a reconnect the shadows of nodes the resync did not touch become
  the server's data, so edits made while offline (and requests lost in
  flight) are sent as a patch against what the server really has; nodes it
  touched keep the shadow agreed before the drop and are merged.
- Locks follow the selection: a selected object and its deps are locked,
  deselected ones unlocked; objects locked by someone else are deselected.
"""

import base64
import hashlib
import json
import time

import bpy

from . import client as sclient
from .collab import sentence
from .context import Context, new_uuid, ref_hash, uuid_of  # noqa: F401 (used by others)
from .merge import canon, keep_members, merge3, same_data
from .translators import KINDS, UUID_PROP, module_of

from .detect import (  # noqa: F401 (names used by others)
    IDLE_SCAN_INTERVAL, MAX_DEPS, RATE, RETRY_INTERVAL, SCAN_INTERVAL, Scanner, _kind_rank,
    _module, _watch, local_ids)

APPLY_BUDGET = 0.010        # s of applying per pump; the rest at the next ones
BUDGET_WINDOW = 1.0 / 60.0  # what a pump is: the UI timer's interval


def round_floats(v, places=4):
    if isinstance(v, float):
        r = round(v, places)
        return 0.0 if r == 0 else r
    if isinstance(v, list):
        return [round_floats(x, places) for x in v]
    if isinstance(v, dict):
        if "b64" in v and "hash" in v:
            return v["hash"]
        return {k: round_floats(x, places) for k, x in v.items()}
    return v


def scene_digest(nodes=None):
    """A digest of the replicated scene as Blender holds it: every
    replicated datablock dumped, floats rounded, bytes by hash. Returns
    (hex digest, summary dict). With `nodes` (uuid -> node), each datablock
    is dumped as it would be sent, with what this Blender keeps of its node
    (another version's settings, nodes of a type it cannot make)."""
    ids = {}
    for u, m, idb in local_ids():
        if u:
            ids[u] = idb
    ctx = Context(ids=ids, hash_only=True)

    def _prev(u):
        return ((nodes or {}).get(u) or {}).get("data") or {}
    dumps = []
    for u, m, idb in local_ids():
        if not u:
            continue
        ctx.reset()
        ctx.prev = _prev(u)
        try:
            dumps.append((u, m, m.dump(idb, ctx)))
        except Exception:
            ctx.failed.add(u)   # not readable, so not shared (the scan says why)
    items = []
    summary = {}
    for u, m, data in dumps:
        if ctx.failed:          # dumped again without references to those
            ctx.reset()
            ctx.prev = _prev(u)
            data = m.dump(ids[u], ctx)
        data = canon(round_floats(data))
        items.append([m.KIND, u, data])
        summary[m.KIND] = summary.get(m.KIND, 0) + 1
    items.sort(key=lambda x: (x[0], x[1]))
    text = json.dumps(items, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), summary, items


class Bridge(Scanner):
    def __init__(self, client):
        self.client = client
        self.ids = {}               # uuid -> ID, rebuilt at each scan
        self.shadow = {}            # uuid -> (data, deps, blobs) in sync
        self.fp = {}                # uuid -> (fingerprint, data, deps, blobs)
        self.last_sent = {}         # uuid -> monotonic time of the last update
        self.creating = set()       # uuids whose node.create is in flight
        self.deleting = set()
        self.refused = {}           # uuid -> data of a refused node.create
        self.dirty = set()          # uuids to apply from the model
        self.parked_dep = {}        # missing uuid -> set of uuids waiting for it
        self.parked_blob = {}       # hash -> set of uuids waiting for it
        self.messages = []          # for the UI: reverts and errors, in words
        self.active = False         # tracking local datablocks
        self.locked = set()         # uuids we asked to lock
        self.last_scan = 0.0
        self.last_editmode = 0.0
        self.watch_depsgraph = False  # the UI sets local_dirty from a handler
        self.local_dirty = True
        self.rate_due = float("inf")
        self.applying = False
        self.touched_in_sync = set()
        self.resyncing = False
        self.constructed = []
        self.bulk = False
        self.applied = {}           # uuid -> how many changes of others arrived
        self.updating = {}          # uuid -> (shadow, version) before the update in flight
        self.versions = {}          # uuid -> the server's version the shadow is
        self.unlinked = {}          # uuid -> members its last load could not link yet
        self.loading = set()        # uuids whose last load waits for bytes
        self.undeleting = set()     # uuids whose refused delete is being undone
        self.deferred = set()       # changes that arrived during an update in flight
        self.retry = set()          # uuids a load put off (an armature in edit mode)
        self.failed = set()         # uuids of local datablocks that cannot be read
        self.said = {}              # uuid -> the last error said about it
        self.last_retry = 0.0
        self.changed = set()        # uuids the depsgraph reported changed
        self.recheck = set()        # uuids a scan could not send yet
        self.full_scan = True       # something the depsgraph cannot tell
        self.last_counts = None     # datablocks per kind at the last full scan
        self.last_blind = 0.0       # when the BLIND kinds were last looked at
        self.full_scans = 0         # how many scans dumped every datablock
        self.evaluate_s = 0.0       # time spent in Blender's depsgraph evaluation
        self.budget_start = 0.0     # applying: when this pump's budget began
        self.budget_left = 0.0

    def tracking(self, idblock):
        return self.active

    def message(self, text):
        self.messages.append((time.time(), text))
        del self.messages[:-50]
        print("sessiond:", text)

    # -- bytes -------------------------------------------------------------
    def put_bytes(self, data, h, ctx):
        c = self.client
        if c.blobs_supported is False:
            return {"hash": h, "b64": base64.b64encode(data).decode()}
        if h not in ctx.blobs:
            ctx.blobs.append(h)
        if h not in c.uploaded:
            if c.has_blob(h) and h in c.downloaded:
                c.uploaded.add(h)
            else:
                c.put_blob(data)
        return h

    # -- ids -----------------------------------------------------------------
    def rebuild_ids(self):
        ids = {}
        for u, m, idb in local_ids():
            if u is None:
                continue
            if u in ids and ids[u] is not idb:
                # A copy that kept the custom property: the copy (the one
                # whose name differs from the shadow's) gets a new uuid.
                known = self.shadow.get(u, ({},))[0].get("name")
                if idb.name == known:
                    ids[u], idb = idb, ids[u]
                if self.active:
                    idb[UUID_PROP] = new_uuid()
                    ids[idb[UUID_PROP]] = idb
                continue
            ids[u] = idb
        self.ids = ids
        return ids

    def dump(self, u, m, idb, prev=None):
        """(data, deps, blobs) of a local datablock, reusing the last dump
        when the translator's fingerprint says nothing changed. What this
        Blender has no setting for is kept from `prev` (default: the
        session's node data); a dump with another `prev` is never cached."""
        fpf = getattr(m, "fingerprint", None)
        fp = None
        if fpf is not None and prev is None:
            fp = fpf(idb)
            old = self.fp.get(u)
            if old is not None and old[0] == fp:
                return old[1], old[2], old[3]
        ctx = Context(self, self.ids)
        ctx.prev = prev if prev is not None else \
            self.client.nodes.get(u, {}).get("data") or {}
        data = m.dump(idb, ctx)
        # Deps only order the apply (a reference not there yet waits for
        # it anyway): a collection of thousands of objects names the
        # first MAX_DEPS, what the server accepts.
        deps = sorted(set(d for d in ctx.deps if d != u))[:MAX_DEPS]
        out = (data, deps, list(ctx.blobs))
        if fp is not None:
            self.fp[u] = (fp,) + out
        return out

    def _create(self, u, m, data, deps, blobs):
        self.creating.add(u)
        fields = {"uuid": u, "kind": m.KIND, "deps": deps, "data": data}
        if blobs:
            fields["blobs"] = blobs
        self.shadow[u] = (data, deps, blobs)
        self.client.request("node.create", needs=blobs,
                            callback=lambda r, u=u: self._done(r, u, self.creating), **fields)

    def _update(self, u, node, sh, data, deps, blobs):
        fields = {"uuid": u}
        version = self.versions.get(u)
        if version is not None:
            # Not over a change we have not merged: the server answers
            # `conflict` and the change is merged and sent again.
            fields["version"] = version
        patch = sclient.make_patch(sh[0], data)
        if patch is not None:
            fields["patch"] = patch
        if deps != sh[1]:
            fields["deps"] = deps
        if blobs != sh[2] and (blobs or sh[2]):
            fields["blobs"] = blobs
        self.updating[u] = (sh, version)
        self.shadow[u] = (data, deps, blobs)
        self.last_sent[u] = time.monotonic()
        k = self.applied.get(u, 0)
        self.client.request("node.update", needs=blobs,
                            callback=lambda r, u=u, k=k: self._done(r, u, None, k), **fields)

    def _done(self, r, u, inflight, applied=None):
        if inflight is not None:
            inflight.discard(u)
        before = self.updating.pop(u, None) if r.type == "node.update" else None
        if u in self.deferred:
            self.deferred.discard(u)
            self.dirty.add(u)
        self.local_dirty = True
        self.recheck.add(u)
        code = None if r.ok else r.reply.get("code")
        if r.ok and r.type in ("node.update", "node.create"):
            self.versions[u] = r.reply.get("version")
        if before is not None and code in ("conflict", "unavailable"):
            # Not applied (someone changed the node first) or unknown (the
            # connection dropped): the agreed state is the one before it,
            # and what was sent is still a local change. Merged with what
            # the server has (apply) and sent again (scan).
            self.shadow[u], self.versions[u] = before
            if code == "conflict":
                self.dirty.add(u)
                self.apply()
                # Sent again at once, merged: never a moment when the
                # change is neither in flight nor known to be owed (a
                # flush() waiting for replies returned in that moment).
                self._resend(u)
            return
        if self.dirty and self.active and r.ok:
            self.apply()
        if r.ok:
            if applied is not None and self.applied.get(u, 0) != applied:
                # Someone else's change to this node was applied here while
                # ours was in flight: the server merged both, so take its
                # state (ours included) instead of keeping only theirs.
                self.dirty.add(u)
                self.apply()
            return
        code = r.reply.get("code")
        if code == "unavailable" and "connection was lost" in r.reply.get("message", ""):
            return              # the resync decides
        if code == "exists" and r.type == "node.create":
            self.dirty.add(u)   # someone made it first: take theirs
            return
        if r.type == "node.create":
            self.refused[u] = r.fields.get("data")
        owner = r.reply.get("owner")
        if code == "forbidden" and owner:
            what = {"node.delete": "your deletion was undone"}.get(r.type,
                                                                   "your change was undone")
            self.message("%s is being edited by %s; %s" % (self._name(u), owner, what))
        elif r.type == "node.create":
            self.message("%s could not be shared: %s; it stays local"
                         % (self._name(u), sentence(code, r.reply.get("message", ""))))
        else:
            self.message("%s: %s Your change was undone."
                         % (self._name(u), sentence(code, r.reply.get("message", ""))))
        self.revert(u)

    def _resend(self, u):
        idb = self.ids.get(u)
        try:
            if idb is None or uuid_of(idb) != u:
                return
            m = module_of(idb)
        except ReferenceError:
            return
        self._scan_one(u, m, idb, time.monotonic(), True)

    def _name(self, u):
        n = self.client.nodes.get(u)
        if n is not None and (n.get("data") or {}).get("name"):
            return n["data"]["name"]
        idb = self.ids.get(u)
        try:
            return idb.name if idb is not None else "a new datablock"
        except ReferenceError:
            return "a deleted datablock"

    def _say(self, u, text):
        """Say once per datablock what went wrong (a scan runs many times a
        second); the rest of the scene goes on."""
        if self.said.get(u) != text:
            self.said[u] = text
            self.message(text)

    def _label(self, u):
        n = self.client.nodes.get(u)
        if n is not None:
            return "%s %r" % (n.get("kind"), n.get("data", {}).get("name", u))
        return u

    def revert(self, u):
        self.fp.pop(u, None)
        if u in self.client.nodes:
            self.dirty.add(u)
        else:
            # Our create was refused: the datablock is not the session's.
            self.shadow.pop(u, None)
        self.undeleting.add(u)
        try:
            self.apply()
        finally:
            self.undeleting.discard(u)

    # -- server -> local ------------------------------------------------------
    def handle_events(self, events):
        for ev in events:
            kind = ev[0]
            if kind == "node":
                op, u = ev[1], ev[2]
                if self.resyncing:
                    self.touched_in_sync.add(u)
                if op in ("create", "update"):
                    self.dirty.add(u)
                    self.applied[u] = self.applied.get(u, 0) + 1
                elif op == "delete":
                    self.dirty.add(u)
                elif op == "owner":
                    self._owner_changed(u)
            elif kind == "blob":
                for u in self.parked_blob.pop(ev[1], ()):
                    self.dirty.add(u)
            elif kind == "status" and ev[1] == "syncing":
                self.resyncing = True
                self.touched_in_sync = set()
            elif kind == "synced":
                if self.resyncing and self.active:
                    self._after_resync()
                self.resyncing = False
            elif kind == "error" and ev[3] is None:
                self.message(sentence(ev[1], ev[2]))
        if self.dirty and self.active:
            self.apply()

    def _after_resync(self):
        c = self.client
        self.full_scan = True       # edits made offline: every datablock
        self.creating.clear()
        self.deleting.clear()
        self.locked = {u for u in self.locked if c.nodes.get(u, {}).get("owner") == c.user}
        for u in list(self.shadow):
            if u in self.touched_in_sync:
                continue
            n = c.nodes.get(u)
            if n is None:
                self.shadow.pop(u)      # our create was lost: the scan sends it again
                self.fp.pop(u, None)
            else:
                self.shadow[u] = (n.get("data", {}), n.get("deps", []), n.get("blobs", []))
                self.versions[u] = n.get("version")

    def apply(self):
        """Apply the dirty uuids from the model to bpy.data, deps first.
        Applying may make more nodes dirty (a node that waited for one just
        constructed): a few passes settle that."""
        if not self.dirty:
            return
        # Datablocks made or removed here are no local addition or removal:
        # the counts a scan compares follow, unless something local
        # changed them before.
        counted = self._counts() == self.last_counts
        # Many nodes arriving at once are applied over several pumps, a
        # budget at a time (deps first), so Blender never stalls; a join
        # applies everything at once.
        deadline = None
        if not self.bulk:
            now = time.monotonic()
            if now - self.budget_start > BUDGET_WINDOW:
                self.budget_start, self.budget_left = now, APPLY_BUDGET
            if self.budget_left <= 0:
                return              # this pump's budget is spent
            deadline = now + self.budget_left
        for _ in range(4):
            if not self.dirty:
                break
            self._apply_pass(deadline)
            if deadline is not None and time.monotonic() > deadline:
                break
        if counted:
            self.last_counts = self._counts()
        if deadline is not None:
            self.budget_left = deadline - time.monotonic()

    def _apply_pass(self, deadline=None):
        c = self.client
        self.applying = True
        try:
            if self.full_scan or self._counts() != self.last_counts:
                self.rebuild_ids()  # else self.ids is up to date
            todo, self.dirty = self.dirty, set()
            # A node with our update in flight waits for its reply: merged
            # then against the state the server accepted or refused.
            held = {u for u in todo if u in self.updating and u in c.nodes}
            self.deferred |= held
            todo -= held
            order, seen = [], set()

            def visit(u, depth=0):
                if u in seen or depth > 64:
                    return
                seen.add(u)
                n = c.nodes.get(u)
                if n is not None:
                    for d in n.get("deps", ()):
                        if d in todo:
                            visit(d, depth + 1)
                order.append(u)
            deleted = [u for u in todo if u not in c.nodes]
            for u in sorted(todo - set(deleted), key=lambda x: _kind_rank(c.nodes[x].get("kind"))):
                visit(u)
            self.constructed = []
            for i, u in enumerate(order):
                if deadline is not None and i and time.monotonic() > deadline:
                    self.dirty.update(order[i:])    # the next pumps go on
                    break
                self._apply_one(u)
            # Settings that need the datablock linked into the scene (an
            # object's view layer visibility) are loaded again once the
            # collections of this pass linked it.
            for u in self.constructed:
                m = KINDS.get(c.nodes.get(u, {}).get("kind"))
                idb = self.ids.get(u)
                if getattr(m, "LOAD_AFTER_LINK", False) and idb is not None:
                    m.load(idb, c.nodes[u].get("data", {}), Context(self, self.ids))
            self._delete_local(deleted)
        finally:
            self.applying = False

    def _delete_local(self, uuids):
        gone = []
        for u in uuids:
            idb = self.ids.pop(u, None)
            self.shadow.pop(u, None)
            self.fp.pop(u, None)
            if idb is not None:
                gone.append(idb)
        objs = [i for i in gone if isinstance(i, bpy.types.Object)]
        rest = [i for i in gone if not isinstance(i, bpy.types.Object)]
        for group in (objs, rest):
            for idb in group:
                try:
                    if isinstance(idb, bpy.types.Scene) and len(bpy.data.scenes) <= 1:
                        continue
                    getattr(bpy.data, _module(idb).COLLECTION).remove(idb)
                except (ReferenceError, RuntimeError):
                    pass

    def _apply_one(self, u):
        c = self.client
        n = c.nodes.get(u)
        if n is None:
            return
        m = KINDS.get(n.get("kind"))
        if m is None:
            return
        data = n.get("data", {})
        ctx = Context(self, self.ids)
        idb = self.ids.get(u)
        if idb is not None:
            try:
                idb.name
            except ReferenceError:
                idb = None
        remade = idb is not None or u in self.shadow or u in self.undeleting
        if idb is not None and getattr(m, "recreate", None) and m.recreate(idb, data):
            getattr(bpy.data, m.COLLECTION).remove(idb)
            idb = None
        if idb is None and remade and not self.bulk:
            # A datablock made again (recreated with another type, or put
            # back after a refused delete): what uses it (collections,
            # children) must link the new one.
            for w, wn in c.nodes.items():
                if u in wn.get("deps", ()) and w != u:
                    self.dirty.add(w)
        if idb is None:
            idb = m.construct(data, ctx)
            if idb is None:
                # Not buildable yet (an object whose data has not arrived):
                # never built as something else; it waits for what it needs.
                for d in ctx.missing:
                    self.parked_dep.setdefault(d, set()).add(u)
                for h in ctx.waiting_blob:     # a font or sound still downloading
                    self.parked_blob.setdefault(h, set()).add(u)
                return
            idb[UUID_PROP] = u
            self.ids[u] = idb
            self.constructed.append(u)
            for w in self.parked_dep.pop(u, ()):
                self.dirty.add(w)
        elif u in self.shadow and self._merge_local(u, m, idb, n, data, ctx):
            return
        try:
            m.load(idb, data, ctx)
        except Exception as e:      # one odd node must not stop the others
            self._say(u, "cannot apply %s %r: %s" % (m.KIND, data.get("name", u), e))
        self._note_unlinked(u, ctx)
        for d in ctx.missing:
            self.parked_dep.setdefault(d, set()).add(u)
        for h in ctx.waiting_blob:
            self.parked_blob.setdefault(h, set()).add(u)
        if ctx._pending and not ctx.waiting_blob and not ctx.missing:
            self.retry.add(u)       # put off by the translator: tried again later
        self.fp.pop(u, None)
        complete = not (ctx.missing or ctx.waiting_blob or ctx._pending)
        fpf = getattr(m, "fingerprint", None)
        if complete and fpf is not None:
            # Large kinds: what we just applied is the server's data, and the
            # fingerprint tells when the datablock changes from it, without
            # dumping it again (a 200,000-vertex mesh or a 4096^2 image).
            out = (data, list(n.get("deps", [])), list(n.get("blobs", [])))
            self.fp[u] = (fpf(idb),) + out
            self.shadow[u] = out
            self.versions[u] = n.get("version")
            return
        try:
            dumped = self.dump(u, m, idb)
        except ReferenceError:
            return
        self.versions[u] = n.get("version")
        if not complete:
            # Not complete yet: keep the server's data as the baseline so
            # nothing half-applied is sent back.
            self.shadow[u] = (data, n.get("deps", []), n.get("blobs", []))
            self.fp.pop(u, None)
        else:
            self.shadow[u] = dumped

    def _merge_local(self, u, m, idb, n, data, ctx):
        """When the datablock holds changes not sent yet (it differs from
        the agreed state, the shadow), load the three-way merge of the
        shadow, the local state and the server's instead of the server's:
        the local changes stay, rebased on the incoming ones, and the scan
        sends them (the shadow becomes the server's state). False when
        there is nothing local to keep."""
        if u in self.loading:
            return False
        base = self.shadow[u]
        try:
            local = self.dump(u, m, idb)
            if local[1] == base[1] and not same_data(local[0], base[0]):
                # Settings of another Blender version come from the agreed
                # state, not from the incoming data: a change another
                # version made there is not a local edit of this one.
                local = self.dump(u, m, idb, prev=base[0])
        except ReferenceError:
            return False
        held = self._held_members(u)
        if held:
            local = (keep_members(local[0], base[0], held),
                     sorted(set(local[1]) | (held & set(base[1])))[:MAX_DEPS]) + local[2:]
        if local[1] == base[1] and same_data(local[0], base[0]):
            return False
        merged = merge3(base[0], local[0], data)
        m.load(idb, merged, ctx)
        self._note_unlinked(u, ctx)
        for d in ctx.missing:
            self.parked_dep.setdefault(d, set()).add(u)
        for h in ctx.waiting_blob:
            self.parked_blob.setdefault(h, set()).add(u)
        if ctx._pending and not ctx.waiting_blob and not ctx.missing:
            self.retry.add(u)
        self.fp.pop(u, None)
        self.shadow[u] = (data, list(n.get("deps", [])), list(n.get("blobs", [])))
        self.versions[u] = n.get("version")
        self.local_dirty = True
        self.recheck.add(u)
        return True

    def _held_members(self, u):
        """Set members whose absence from Blender is not a removal: not
        arrived yet when last loaded, or deleted here with the delete not
        yet answered (its removal from the sets follows an accepted delete;
        a refused one puts the datablock back where it was)."""
        held = self.deleting | self.undeleting
        if u in self.unlinked:
            held = held | self.unlinked[u]
        return held

    def _note_unlinked(self, u, ctx):
        if ctx.waiting_blob or ctx._pending:
            self.loading.add(u)
        else:
            self.loading.discard(u)
        if ctx.missing:
            self.unlinked[u] = set(ctx.missing)
        else:
            self.unlinked.pop(u, None)

    @property
    def waiting(self):
        """Nodes parked on a blob download (a join is not done before)."""
        return sum(len(v) for v in self.parked_blob.values())

    # -- joining ---------------------------------------------------------------
    def start(self):
        """Begin tracking after the first sync: upload the local scene into
        an uninitialised session, or replace local data with the session's."""
        c = self.client
        self.active = True
        self.full_scan = True
        _watch(self)
        if not c.initialized and not c.nodes:
            self.scan(force=True)
            return "upload"
        self.replace_local()
        # Every datablock looked at once now, as part of the join: the
        # scans after it only look at what the depsgraph reports.
        self.scan(force=True)
        return "download"

    def replace_local(self):
        c = self.client
        remote_scenes = [u for u, n in c.nodes.items() if n.get("kind") == "Scene"]
        keep_scene = None
        scenes = list(bpy.data.scenes)
        if remote_scenes and scenes:
            # Blender needs one scene at all times: adopt the current one.
            win = bpy.context.window
            keep_scene = win.scene if win is not None else scenes[0]
            keep_scene[UUID_PROP] = remote_scenes[0]
        doomed = []
        for u, m, idb in local_ids():
            if idb is keep_scene:
                continue
            if u is not None and u in c.nodes and c.nodes[u].get("kind") == m.KIND:
                continue
            doomed.append(idb)
        objs = [i for i in doomed if isinstance(i, bpy.types.Object)]
        rest = [i for i in doomed if not isinstance(i, bpy.types.Object)]
        if objs:
            bpy.data.batch_remove(objs)
        for idb in rest:
            try:
                if isinstance(idb, bpy.types.Scene):
                    if len(bpy.data.scenes) > 1:
                        bpy.data.scenes.remove(idb)
                else:
                    bpy.data.batch_remove([idb])
            except (ReferenceError, RuntimeError):
                pass
        self.shadow.clear()
        self.fp.clear()
        self.dirty = set(c.nodes)
        self.bulk = True            # everything is applied: no need to find users
        try:
            self.apply()
        finally:
            self.bulk = False

    # -- locks follow the selection -------------------------------------------
    def _owner_changed(self, u):
        c = self.client
        n = c.nodes.get(u)
        idb = self.ids.get(u)
        if n is None or idb is None:
            return
        owner = n.get("owner")
        if owner and owner != c.user and isinstance(idb, bpy.types.Object):
            try:
                if idb.select_get():
                    idb.select_set(False)
            except (RuntimeError, ReferenceError):
                pass
        if owner != c.user and u in self.locked:
            # Taken away (an admin's release) or given: stop holding it, or
            # the selection would lock it again at once.
            self.locked.discard(u)
            if isinstance(idb, bpy.types.Object):
                try:
                    idb.select_set(False)
                except (RuntimeError, ReferenceError):
                    pass

    def sync_selection(self):
        c = self.client
        if not self.active or not c.synced:
            return
        want = set()
        try:
            selected = list(bpy.context.view_layer.objects.selected)
        except (AttributeError, RuntimeError):
            return
        for o in selected:
            u = uuid_of(o)
            if u is None or u not in c.nodes:
                continue
            owner = c.nodes[u].get("owner")
            if owner and owner != c.user:
                o.select_set(False)
                self.message("%s is locked by %s" % (o.name, owner))
                continue
            want.add(u)
            for d in c.nodes[u].get("deps", ()):
                if d in c.nodes and c.nodes[d].get("kind") != "Object":
                    want.add(d)
        for u in want - self.locked:
            if c.nodes.get(u, {}).get("owner") in (None, c.user):
                c.request("node.lock", uuid=u, callback=lambda r, u=u: self._lock_done(r, u))
        for u in self.locked - want:
            if u in c.nodes:
                c.request("node.unlock", uuid=u)
        self.locked = want

    def _lock_done(self, r, u):
        if r.ok or r.reply.get("code") == "unavailable":
            return
        self.locked.discard(u)
        self.message("cannot lock %s: %s" % (self._label(u), r.reply.get("message", "")))
        idb = self.ids.get(u)
        if isinstance(idb, bpy.types.Object):
            try:
                idb.select_set(False)
            except (RuntimeError, ReferenceError):
                pass

    def presence(self):
        """What the others see of us: frame, mode, selection, and the view
        of the first 3D viewport (when there is a screen)."""
        data = {}
        try:
            scene = bpy.context.scene
            data["frame"] = scene.frame_current
            data["mode"] = bpy.context.mode
            data["selection"] = [uuid_of(o) for o in bpy.context.view_layer.objects.selected
                                 if uuid_of(o)]
        except (AttributeError, RuntimeError):
            pass
        from . import presence as pres
        view = pres.local_view()
        if view is not None:
            data.update(view)
        return data
