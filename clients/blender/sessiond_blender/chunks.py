"""The chunks of blobs (protocol 1.2, section 11) that this Blender has sent
or received, and how a blob is cut into them. Without bpy.

- A blob is cut into pieces of at most PIECE bytes (256 KiB) from its
  start, or, given the sizes of its parts (the arrays of a mesh's
  geometry), each part from its own start: a change in one part leaves
  the pieces of the others, and the pieces before the change, the same.
  Each piece is a chunk named by the SHA-256 of its bytes.
- ChunkStore keeps chunks in memory (least recently used first out past
  `memory` bytes) and in a directory on disk (the same past `disk` bytes),
  and for each blob it holds, its list of chunks (a small "manifest"
  file). A blob is readable while its manifest and all its chunks are
  there; an evicted one is fetched again, chunk by chunk, only what is
  missing. A chunk read from disk is checked against its name. Errors of
  the disk (full, read-only) leave the store working from memory.
- Layout: DIR/chunks/ab/<hash> (the bytes), DIR/blobs/ab/<hash> (lines
  "<chunk hash> <size>"). Files of the 1.1 layout (DIR/ab/<hash>, whole
  blobs) are removed when the store opens the directory.
"""

import collections
import hashlib
import os
import re

PIECE = 256 * 1024              # the cut's piece size
MAX_CHUNK = 1 << 20             # the protocol's largest chunk
MAX_ENTRIES = 4096              # the protocol's longest `chunks` list
MEMORY = 64 * 1024 * 1024       # default bound of the chunks kept in memory
DISK = 1024 * 1024 * 1024       # default bound of the chunks and manifests on disk

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX2 = re.compile(r"^[0-9a-f]{2}$")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def cut_sizes(total, parts=None, piece=PIECE):
    """The sizes of the pieces of a blob of `total` bytes: each part (a
    list of byte counts adding up to total; default: one part) cut from its
    start into pieces of at most `piece` bytes. More than MAX_ENTRIES pieces
    doubles the piece size (up to MAX_CHUNK), then ignores the parts."""
    if not parts or sum(parts) != total:
        parts = [total]
    parts = [p for p in parts if p > 0]
    while True:
        sizes = []
        for p in parts:
            full, rest = divmod(p, piece)
            sizes += [piece] * full
            if rest:
                sizes.append(rest)
        if len(sizes) <= MAX_ENTRIES:
            return sizes
        if piece < MAX_CHUNK:
            piece *= 2
        elif len(parts) > 1:
            parts = [total]
        else:
            return sizes        # too large for a listed cut: sent without one


def speaks_chunks(protocol):
    """A server whose welcome says this `protocol` (None: 1.0) takes chunks."""
    try:
        return tuple(int(x) for x in str(protocol or "1.0").split(".")) >= (1, 2)
    except ValueError:
        return False


def offsets(chunks):
    """Where each of `chunks` ([(hash, size)]) starts in its blob."""
    out, pos = [], 0
    for _, n in chunks:
        out.append(pos)
        pos += n
    return out


def cut(data, sizes):
    """[(chunk hash, size)] of `data` cut into `sizes`."""
    view = memoryview(data)
    out, pos = [], 0
    for n in sizes:
        out.append((sha256(view[pos:pos + n]), n))
        pos += n
    return out


class Upload:
    """A blob.put in flight (client.py)."""
    __slots__ = ("hash", "data", "chunks")

    def __init__(self, h, data, chunks):
        self.hash, self.data, self.chunks = h, data, chunks   # chunks: None = not listed


class Download:
    """A download in flight (client.py): blob.get, or blob.chunks and chunk.get."""
    __slots__ = ("hash", "size", "buf", "chunks", "lacking", "expect", "got")

    def __init__(self, h, size):
        self.hash, self.size = h, size
        self.buf = bytearray()      # blob.get: the bytes so far
        self.chunks = None          # blob.chunks: [(hash, size)]
        self.lacking = []           # chunks still to ask for
        self.expect = []            # asked in the current chunk.get, not arrived yet
        self.got = {}               # hash -> bytes arrived

    def assemble(self, store):
        """The blob's bytes; None when a chunk is neither here nor in `store`
        (damaged on disk, evicted meanwhile): those are `lacking` again."""
        if self.chunks is None:
            return bytes(self.buf)
        parts = [self.got.get(h) or store.get(h) for h, _ in self.chunks]
        self.lacking = list(dict.fromkeys(h for (h, _), p in zip(self.chunks, parts)
                                          if p is None))
        return None if self.lacking else b"".join(parts)

    def next_batch(self):
        """The next chunks to ask for in one chunk.get: at most 1024, and
        about 64 MiB."""
        sizes = dict(self.chunks)
        ask, total = [], 0
        while self.lacking and len(ask) < 1024 and (not ask or total < 64 << 20):
            ask.append(self.lacking.pop(0))
            total += sizes[ask[-1]]
        return ask


class ChunkStore:
    def __init__(self, root, memory=MEMORY, disk=DISK):
        self.root = root
        self.memory_limit = memory
        self.disk_limit = disk
        self._mem = collections.OrderedDict()       # chunk hash -> bytes, oldest first
        self.memory_bytes = 0
        self._disk = collections.OrderedDict()      # ("c"|"b", hash) -> size, oldest first
        self.disk_bytes = 0
        self._manifests = collections.OrderedDict()  # blob hash -> [(hash, size)]
        self.disk_ok = True
        self._open()

    # -- disk -------------------------------------------------------------
    def _path(self, kind, h):
        return os.path.join(self.root, "chunks" if kind == "c" else "blobs", h[:2], h)

    def _open(self):
        try:
            os.makedirs(self.root, exist_ok=True)
            names = os.listdir(self.root)
        except OSError:
            self.disk_ok = False
            return
        for name in names:
            # Whole blobs of the 1.1 layout: their chunks are what is kept now.
            d = os.path.join(self.root, name)
            if _HEX2.match(name) and os.path.isdir(d):
                for f in os.listdir(d):
                    if _HEX64.match(f) or f.endswith(".tmp"):
                        try:
                            os.unlink(os.path.join(d, f))
                        except OSError:
                            pass
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        found = []
        for kind, sub in (("c", "chunks"), ("b", "blobs")):
            base = os.path.join(self.root, sub)
            try:
                dirs = os.listdir(base)
            except OSError:
                continue
            for d in dirs:
                try:
                    entries = list(os.scandir(os.path.join(base, d)))
                except OSError:
                    continue
                for e in entries:
                    if not _HEX64.match(e.name):
                        continue
                    try:
                        st = e.stat()
                    except OSError:
                        continue
                    found.append((st.st_mtime_ns, kind, e.name, st.st_size))
        for _, kind, h, size in sorted(found):
            self._disk[(kind, h)] = size
            self.disk_bytes += size
        self._trim_disk()

    def _write(self, kind, h, data):
        if not self.disk_ok or (kind, h) in self._disk:
            return
        path = self._path(kind, h)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = "%s.%d.tmp" % (path, os.getpid())
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            return
        self._disk[(kind, h)] = len(data)
        self.disk_bytes += len(data)
        self._trim_disk()

    def _read(self, kind, h):
        if (kind, h) not in self._disk:
            return None
        path = self._path(kind, h)
        try:
            with open(path, "rb") as f:
                data = f.read()
            os.utime(path)
        except OSError:
            self._forget(kind, h)
            return None
        self._disk.move_to_end((kind, h))
        return data

    def _forget(self, kind, h, unlink=False):
        size = self._disk.pop((kind, h), None)
        if size is not None:
            self.disk_bytes -= size
        if unlink:
            try:
                os.unlink(self._path(kind, h))
            except OSError:
                pass

    def _trim_disk(self):
        while self.disk_bytes > self.disk_limit and self._disk:
            kind, h = next(iter(self._disk))
            self._forget(kind, h, unlink=True)
            if kind == "b":
                self._manifests.pop(h, None)

    # -- chunks -------------------------------------------------------------
    def has(self, h):
        return h in self._mem or ("c", h) in self._disk

    def get(self, h):
        """The chunk's bytes, or None when it is not kept."""
        data = self._mem.get(h)
        if data is not None:
            self._mem.move_to_end(h)
            if ("c", h) in self._disk:
                self._disk.move_to_end(("c", h))
            return data
        data = self._read("c", h)
        if data is None:
            return None
        if sha256(data) != h:           # damaged on disk
            self._forget("c", h, unlink=True)
            return None
        self._remember(h, data)
        return data

    def put(self, h, data):
        """Keep a chunk (its hash already checked)."""
        if h in self._mem:
            self._mem.move_to_end(h)
        else:
            self._remember(h, bytes(data))
        self._write("c", h, data)

    def _remember(self, h, data):
        self._mem[h] = data
        self.memory_bytes += len(data)
        while self.memory_bytes > self.memory_limit and len(self._mem) > 1:
            _, old = self._mem.popitem(last=False)
            self.memory_bytes -= len(old)

    def lacking(self, chunks):
        """The distinct hashes of `chunks` ([(hash, size)]) not kept, in order."""
        out, seen = [], set()
        for h, _ in chunks:
            if h not in seen and not self.has(h):
                seen.add(h)
                out.append(h)
        return out

    # -- blobs ----------------------------------------------------------------
    def manifest(self, h):
        """[(chunk hash, size)] of a blob, or None when it is not kept."""
        m = self._manifests.get(h)
        if m is not None:
            self._manifests.move_to_end(h)
            return m
        raw = self._read("b", h)
        if raw is None:
            return None
        try:
            m = [(ch, int(n)) for ch, n in (line.split() for line in raw.decode().splitlines())]
        except ValueError:
            self._forget("b", h, unlink=True)
            return None
        self._keep_manifest(h, m)
        return m

    def _keep_manifest(self, h, chunks):
        self._manifests[h] = chunks
        while len(self._manifests) > 1024:
            self._manifests.popitem(last=False)

    def put_manifest(self, h, chunks):
        chunks = [(ch, int(n)) for ch, n in chunks]
        self._keep_manifest(h, chunks)
        self._write("b", h, "".join("%s %d\n" % c for c in chunks).encode())

    def put_blob(self, h, data, sizes):
        """Keep a blob cut into `sizes`; returns its chunks [(hash, size)]."""
        chunks = cut(data, sizes)
        view = memoryview(data)
        pos = 0
        for ch, n in chunks:
            if not self.has(ch) or ("c", ch) not in self._disk:
                self.put(ch, view[pos:pos + n])
            else:
                self.get(ch)            # most recently used
            pos += n
        self.put_manifest(h, chunks)
        return chunks

    def has_blob(self, h):
        m = self.manifest(h)
        return m is not None and all(self.has(ch) for ch, _ in m)

    def read_blob(self, h, extra=None):
        """The blob's bytes, or None when a chunk is not kept. `extra`: more
        chunks (hash -> bytes) to read from first."""
        m = self.manifest(h)
        if m is None:
            return None
        parts = []
        for ch, n in m:
            data = extra.get(ch) if extra else None
            if data is None:
                data = self.get(ch)
            if data is None or len(data) != n:
                return None
            parts.append(data)
        return b"".join(parts)
