"""Helpers for the sessionctl and operations tests (test_sessionctl.py,
test_ops.py) on top of harness.py and support.py: running sessionctl and
tools/cron-backup, reading a database read-only, the admin HTTP API, and a
test case with a scratch directory.
"""

import http.client as httpclient
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                                         # noqa: E402
from harness import ServerTestCase, TIMEOUT, pipeline  # noqa: E402
from support import must                               # noqa: E402

ADMIN = "r00t"


def ctl_path():
    return os.environ.get("SESSIONCTL") or os.path.join(harness.REPO, "build", "sessionctl")


def ctl(*args, fsize=None, env=None, timeout=60):
    """Run sessionctl; (returncode, stdout, stderr)."""
    pre = None
    if fsize is not None:
        def pre():
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    e = {k: v for k, v in os.environ.items() if k != "DATA_DIR"}
    e.update(env or {})
    p = subprocess.run([ctl_path(), *args], capture_output=True, text=True, timeout=timeout,
                       preexec_fn=pre, env=e)
    return p.returncode, p.stdout, p.stderr


def ctl_json(*args):
    rc, out, err = ctl(*args, "--json")
    if rc != 0:
        raise AssertionError(f"sessionctl {' '.join(args)} --json: exit {rc}: {err}")
    return json.loads(out)


def one_error_line(test, err, *words):
    """stderr is exactly one line starting with 'sessionctl:' naming words."""
    lines = err.strip().splitlines()
    test.assertEqual(len(lines), 1, err)
    test.assertTrue(lines[0].startswith("sessionctl: "), err)
    for w in words:
        test.assertIn(w, lines[0])


def no_temp_files(test, d):
    left = [f for f in os.listdir(d) if ".tmp" in f or f.startswith(".import-")]
    test.assertEqual(left, [], f"temporary files left in {d}")


def rows(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class CtlCase(ServerTestCase):
    server_args = ["--admin-password", ADMIN, "--save-interval", "0"]

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="sessionctl-it-")

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def populate(self, srv, session="test", user="alice", n=5):
        """n nodes (o0..), one task, one chat message; returns the client."""
        c, w, _, _ = await self.joined(srv, user, session, admin_password=ADMIN)
        frames = [dict(type="node.create", id=100 + i, uuid=f"o{i}", kind="Object",
                       data={"name": f"o{i}", "x": i}, deps=[f"o{i - 1}"] if i else [])
                  for i in range(n)]
        frames.append(dict(type="task.create", id=90, title="model the chair"))
        frames.append(dict(type="chat.send", id=91, text="hello"))
        for r in await pipeline(c, frames):
            self.assertEqual(r["type"], "ok", r)
        return c

    async def save(self, c):
        return (await must(c, "admin.save"))["backup"]

    def path(self, *p):
        return os.path.join(self.tmp, *p)


def cron_backup(*args):
    cmd = [os.path.join(harness.REPO, "tools", "cron-backup"), *args]
    env = dict(os.environ, SESSIONCTL=ctl_path())
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def http(srv, method, path, body=None, token=ADMIN, timeout=TIMEOUT * 3):
    """(status, parsed JSON body) of an admin API request."""
    conn = httpclient.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None
    finally:
        conn.close()
