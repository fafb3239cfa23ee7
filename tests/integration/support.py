"""Helpers shared by test_collab.py and test_saves.py on top of harness.py.

Nothing here changes how the server is driven; it adds request helpers,
bounded polling, the sqlite3 CLI, and a Server that starts under a small
RLIMIT_FSIZE (to simulate a full disk).
"""

import asyncio
import glob
import json
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                                    # noqa: E402
from harness import Server, TIMEOUT, pipeline      # noqa: E402

BACKUP_RE = re.compile(r"^snapshot_\d{8}_\d{6}(_\d+)?\.db$")


# -- requests ------------------------------------------------------------
async def create_node(c, uuid, kind="Object", data=None, **kw):
    r = await c.request("node.create", uuid=uuid, kind=kind,
                        data={} if data is None else data, **kw)
    if r["type"] != "ok":
        raise AssertionError(f"node.create {uuid}: {r}")
    return r


async def must(c, type, **fields):
    """A request that must get an ok."""
    r = await c.request(type, **fields)
    if r["type"] != "ok":
        raise AssertionError(f"{type} {fields}: expected ok, got {r}")
    return r


def sync_part(syncs, key):
    return [x for s in syncs for x in s.get(key, [])]


def users_by_name(syncs):
    """The `users` list of the sync frames (every frame may carry it; the
    first one that does is used) as a dict by name."""
    for s in syncs:
        if "users" in s:
            return {u["name"]: u for u in s["users"]}
    return {}


# -- waiting -------------------------------------------------------------
async def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until true; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def await_log(srv, text, timeout=TIMEOUT, start=0):
    """Wait (without blocking the event loop) for a log line from index
    `start` that contains text; return the first such line."""
    ok = await asyncio.to_thread(srv.wait_for_log, text, timeout, False, start)
    if not ok:
        raise AssertionError(f"no log line containing {text!r} within {timeout}s\n{srv.log(60)}")
    return log_lines(srv, text, start)[0]


def log_lines(srv, text, start=0):
    with srv.cond:
        return [l for l in srv.lines[start:] if text in l]


def log_mark(srv):
    with srv.cond:
        return len(srv.lines)


# -- files ---------------------------------------------------------------
def backups_dir(srv, session):
    return os.path.join(srv.session_dir(session), "backups")


def backup_files(srv, session):
    d = backups_dir(srv, session)
    try:
        return sorted(f for f in os.listdir(d) if BACKUP_RE.match(f))
    except FileNotFoundError:
        return []


def backup_sort_key(name):
    m = re.match(r"^snapshot_(\d{8}_\d{6})(?:_(\d+))?\.db$", name)
    return (m.group(1), int(m.group(2) or 0))


def read_metadata(srv, session):
    with open(os.path.join(srv.session_dir(session), "session_metadata.json")) as f:
        return json.load(f)


def sqlite3_cli(path, sql, timeout=TIMEOUT):
    """Run the sqlite3 CLI as an operator would; (returncode, stdout, stderr)."""
    p = subprocess.run(["sqlite3", path, sql], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


# -- a server with a file size limit ------------------------------------
class FsizeServer(Server):
    """Server started with RLIMIT_FSIZE = fsize bytes (None: no limit).
    The server ignores SIGXFSZ, so writes past the limit fail with EFBIG,
    as on a full disk."""

    def __init__(self, *a, fsize=None, **kw):
        super().__init__(*a, **kw)
        self.fsize = fsize

    def start(self):
        if self.fsize is None:
            return super().start()
        n = self.fsize
        real = harness.subprocess.Popen

        def popen(*a, **kw):
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
            return real(*a, **kw)

        harness.subprocess.Popen = popen
        try:
            return super().start()
        finally:
            harness.subprocess.Popen = real


# -- corrupting a database copy -----------------------------------------
def corrupt_header(path):
    """Overwrite the first 100 bytes (the SQLite header) with garbage."""
    with open(path, "r+b") as f:
        f.write(b"this is not an SQLite database header! " * 3)


def corrupt_truncate(path):
    """Cut the file to a little over half, mid-page."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2 + 100)


def corrupt_zero_pages(path, page=4096):
    """Zero every page but the first (the header and schema stay readable,
    every table and index b-tree is gone)."""
    with open(path, "r+b") as f:
        hdr = f.read(100)
        ps = int.from_bytes(hdr[16:18], "big") or page
        if ps == 1:
            ps = 65536
        size = os.path.getsize(path)
        f.seek(ps)
        f.write(b"\0" * (size - ps))


def corrupt_files(session_dir):
    return glob.glob(os.path.join(session_dir, "session.db.corrupt-*"))
