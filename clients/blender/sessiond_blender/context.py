"""What translators see of the bridge (the Context of a dump or a load:
references between datablocks as uuids, bytes as blob references), and
the uuid helpers. Used by bridge.py; no import of it."""

import base64
import hashlib
import uuid as uuidlib

from .translators import UUID_PROP, why_not_shared


def uuid_of(idblock):
    try:
        v = idblock.get(UUID_PROP)
    except (TypeError, ReferenceError):
        return None
    return v if isinstance(v, str) and v else None


def new_uuid():
    return str(uuidlib.uuid4())


def ref_hash(ref):
    if isinstance(ref, str):
        return ref
    if isinstance(ref, dict):
        return ref.get("hash")
    return None


class Context:
    """What translators see. `bridge` may be None (tests of one kind):
    then refs resolve through `ids` and bytes stay in `store` (hash ->
    bytes)."""

    def __init__(self, bridge=None, ids=None, store=None, cache_dir=None, hash_only=False):
        self.bridge = bridge
        self.ids = ids if ids is not None else {}
        self.store = store if store is not None else {}
        self.cache_dir = cache_dir
        self.hash_only = hash_only
        self.failed = set()         # uuids that cannot be read (without a bridge)
        self.deps = []
        self._deps = set()          # the same, to look up
        self.blobs = []
        self.missing = []           # uuids a load wanted but could not find
        self.waiting_blob = []      # hashes a load is waiting for
        self._pending = False
        # The node's data when dumping a datablock that is already a node:
        # what another Blender version wrote that this one has no setting
        # for is kept from it (translators.common.keep_foreign).
        self.prev = {}

    def reset(self):
        self.deps, self.blobs, self.missing, self.waiting_blob = [], [], [], []
        self._deps = set()
        self._pending = False

    # -- references -------------------------------------------------------
    def ref(self, idblock):
        if idblock is None:
            return ""
        u = uuid_of(idblock)
        if u is not None and self.bridge is not None and u not in self.bridge.failed \
                and self.ids.get(u) == idblock:
            # Known to the bridge (so shared): the common case, and a
            # collection of thousands of members asks it for each.
            if u not in self._deps:
                self._deps.add(u)
                self.deps.append(u)
            return u
        if why_not_shared(idblock) is not None:
            return ""           # not shared: no uuid, no dep
        if u is not None and (u in self.failed or
                              (self.bridge is not None and u in self.bridge.failed)):
            return ""           # unreadable here: not shared (the scan said why)
        if u is None:
            if self.bridge is not None and not self.bridge.tracking(idblock):
                return ""
            u = new_uuid()
            idblock[UUID_PROP] = u
            self.ids[u] = idblock
        if u not in self._deps:
            self._deps.add(u)
            self.deps.append(u)
        return u

    def known(self, idblock):
        """The session knows this datablock: received data that leaves it
        out means it was taken out. One the session never had (not shared,
        unreadable, or not sent yet) stays."""
        if self.bridge is None:
            from .translators import shared
            return shared(idblock)
        u = uuid_of(idblock)
        return u is not None and u in self.bridge.client.nodes and u not in self.bridge.failed

    def resolve(self, u):
        if not u:
            return None
        idb = self.ids.get(u)
        if idb is not None:
            try:
                idb.name
                return idb
            except ReferenceError:
                self.ids.pop(u, None)
        self.missing.append(u)
        return None

    # -- bytes ------------------------------------------------------------
    def bytes_hash(self, data):
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def put_bytes(self, data, parts=None):
        """The reference to `data` (uploaded as a blob). `parts`: the byte
        sizes of its parts (a mesh's arrays), each cut into chunks from its
        own start, so a change in one leaves the others' chunks as they were."""
        h = hashlib.sha256(data).hexdigest()
        if self.hash_only:
            return h
        if self.bridge is not None:
            self.bridge.client.note_bytes(data, h, parts)
            return self.bridge.put_bytes(data, h, self)
        self.store[h] = data
        if h not in self.blobs:
            self.blobs.append(h)
        return h

    def ref_hash(self, ref):
        return ref_hash(ref)

    def get_bytes(self, ref):
        h = ref_hash(ref)
        if isinstance(ref, dict) and "b64" in ref:
            return base64.b64decode(ref["b64"])
        if self.bridge is not None:
            data = self.bridge.client.read_blob(h)
            if data is None:
                self.bridge.client.fetch_blob(h)
                self.waiting_blob.append(h)
            return data
        return self.store.get(h)

    def get_path(self, ref, ext):
        """A local file holding the bytes (named with `ext` so Blender knows
        the format), or None while they download."""
        import os
        data = None
        h = ref_hash(ref)
        if self.bridge is not None:
            cache = self.bridge.client.cache_dir
        else:
            cache = self.cache_dir
        path = os.path.join(cache, "files", h + ext)
        if os.path.exists(path):
            return path
        data = self.get_bytes(ref)
        if data is None:
            return None
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        return path

    def pending(self):
        self._pending = True

    def node_data(self, u):
        """The session's data of node `u` ({} outside the bridge)."""
        if self.bridge is None or not u:
            return {}
        return self.bridge.client.nodes.get(u, {}).get("data") or {}
