#!/usr/bin/python3
"""A randomized fault test: writes, admin saves, resets, restores and
deletes in a random order, and kill -9 of the server now and then (some of
them with writes in flight). A model of the session follows every
acknowledged answer; after every restart the session must hold every
acknowledged change that no later reset, restore or delete removed, plus
at most the writes that were in flight; at the end every database passes
quick_check. Bounded to about 40 seconds.

SESSIOND_FAULT_SEED=N replays one run (the seed is printed on failure).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_faults.py -v
"""

import asyncio
import json
import os
import random
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Closed, RawWS, ServerTestCase, TIMEOUT  # noqa: E402
from test_admin import http_async                          # noqa: E402

ADMIN_PW = "adm1n-s3cret"
DURATION = 40.0     # seconds of random operations
SESSION = "fault"


def quick_check(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        db.close()


class FaultTest(ServerTestCase):
    server_args = ("--admin-password", ADMIN_PW, "--max-backups", "8")

    async def connect(self, srv):
        """An admin on the session; returns (client, its node uuids)."""
        r = await self.raw(srv, f"/s/{SESSION}")
        self.rids = getattr(self, "rids", 0)
        await r.send_json({"type": "hello", "id": "h", "user": "root",
                           "admin_password": ADMIN_PW})
        nodes = set()
        while True:
            m = await r.recv_json()
            if m.get("type") == "error":
                raise AssertionError(f"hello refused: {m}")
            if m.get("type") == "sync":
                nodes |= {n["uuid"] for n in m.get("nodes", [])}
            if m.get("type") == "synced":
                return r, nodes

    async def call(self, r, frames):
        """Sends frames in one write; returns their answers by id (None for
        one the connection closed before answering)."""
        ids = [f["id"] for f in frames]
        await r.send_json_many(frames)
        got = {}
        try:
            while len(got) < len(ids):
                m = await r.recv_json(TIMEOUT)
                if m.get("re") in ids and m.get("type") in ("ok", "error"):
                    got[m["re"]] = m
        except (Closed, EOFError):
            pass
        return {i: got.get(i) for i in ids}

    def next_id(self):
        self.rids += 1
        return self.rids

    async def test_random_faults(self):
        seed = int(os.environ.get("SESSIOND_FAULT_SEED", time.time_ns() % 1000000))
        rnd = random.Random(seed)
        srv = self.server()
        model = set()         # the nodes an acknowledged history leaves
        backups = {}          # backup file -> the nodes it holds
        serial = 0
        ops = {"write": 0, "delete_node": 0, "save": 0, "reset": 0, "restore": 0,
               "http_restore": 0, "delete": 0, "kill": 0, "kill_in_flight": 0, "pair": 0}
        r, seen = await self.connect(srv)
        self.assertEqual(seen, model)
        deadline = time.monotonic() + DURATION

        history = []

        def where():
            return f"seed {seed}, operations so far {ops}; last: {history[-6:]}"

        async def restarted(maybe):
            nonlocal r, model
            srv.kill9()
            srv.restart()
            r, seen = await self.connect(srv)
            lost = model - seen
            self.assertFalse(lost, f"acknowledged nodes lost after kill -9: {sorted(lost)}; "
                             f"{where()}")
            extra = seen - model - maybe
            self.assertFalse(extra, f"nodes nobody wrote: {sorted(extra)}; {where()}")
            model = seen

        while time.monotonic() < deadline:
            op = rnd.choices(list(ops), weights=[30, 8, 8, 3, 5, 3, 2, 3, 3, 6])[0]
            ops[op] += 1
            history.append((op, len(model), sorted(backups)[-3:]))
            if op == "write":
                frames = []
                for _ in range(rnd.randint(1, 20)):
                    serial += 1
                    frames.append({"type": "node.create", "id": self.next_id(),
                                   "uuid": f"n{serial}", "kind": "Object",
                                   "data": {"i": serial}})
                got = await self.call(r, frames)
                for f in frames:
                    m = got[f["id"]]
                    self.assertIsNotNone(m, f"write not answered; {where()}")
                    self.assertEqual(m["type"], "ok", f"{m}; {where()}")
                    model.add(f["uuid"])
            elif op == "delete_node" and model:
                uuid = rnd.choice(sorted(model))
                got = await self.call(r, [{"type": "node.delete", "id": self.next_id(),
                                           "uuid": uuid}])
                m = next(iter(got.values()))
                self.assertEqual(m and m["type"], "ok", f"{m}; {where()}")
                model.discard(uuid)
            elif op == "save":
                got = await self.call(r, [{"type": "admin.save", "id": self.next_id()}])
                m = next(iter(got.values()))
                self.assertEqual(m and m["type"], "ok", f"{m}; {where()}")
                backups[m["backup"]] = frozenset(model)
            elif op == "reset":
                got = await self.call(r, [{"type": "admin.reset", "id": self.next_id()}])
                m = next(iter(got.values()))
                self.assertEqual(m and m["type"], "ok", f"{m}; {where()}")
                backups[m["backup"]] = frozenset(model)
                model = set()
                r, seen = await self.connect(srv)
                self.assertEqual(seen, model, where())
            elif op in ("restore", "http_restore"):
                bdir = os.path.join(srv.session_dir(SESSION), "backups")
                there = [b for b in backups if os.path.exists(os.path.join(bdir, b))]
                if not there:
                    continue
                b = rnd.choice(sorted(there))
                if op == "restore":
                    got = await self.call(r, [{"type": "admin.restore", "id": self.next_id(),
                                               "backup": b}])
                    m = next(iter(got.values()))
                    self.assertEqual(m and m["type"], "ok", f"{m}; {where()}")
                else:
                    st, _, body = await http_async(
                        srv, "POST", f"/api/sessions/{SESSION}/restore", token=ADMIN_PW,
                        body=json.dumps({"backup": b}))
                    self.assertEqual(st, 200, f"{body}; {where()}")
                    m = json.loads(body)
                backups[m["saved"]] = frozenset(model)
                model = set(backups[b])
                r, seen = await self.connect(srv)
                self.assertEqual(seen, model, f"restored {b}; {where()}")
            elif op == "delete":
                st, _, body = await http_async(srv, "DELETE", f"/api/sessions/{SESSION}",
                                               token=ADMIN_PW)
                self.assertEqual(st, 200, f"{body}; {where()}")
                model, backups = set(), {}
                r, seen = await self.connect(srv)   # a new session of that name
                self.assertEqual(seen, model, where())
            elif op == "pair":
                # two admin operations in one write act as if one ran after
                # the other: the second sees the first (after a reset or
                # restore, a second one gets `conflict`; a save after it
                # backs up the state it left)
                bdir = os.path.join(srv.session_dir(SESSION), "backups")
                there = sorted(b for b in backups if os.path.exists(os.path.join(bdir, b)))
                frames = []
                for kind in (rnd.choice(("save", "reset", "restore")) for _ in range(2)):
                    f = {"type": f"admin.{kind}", "id": self.next_id()}
                    if kind == "restore":
                        if not there:
                            continue
                        f["backup"] = rnd.choice(there)
                    frames.append(f)
                if not frames:
                    continue
                got = await self.call(r, frames)
                history.append(("pair", [(f["type"], f.get("backup")) for f in frames],
                                [(m or {}).get("type") for m in got.values()],
                                [(m or {}).get("backup") or (m or {}).get("code")
                                 for m in got.values()]))
                busy = False
                for f in frames:
                    m = got[f["id"]]
                    self.assertIsNotNone(m, f"{f} not answered; {where()}")
                    kind = f["type"][6:]
                    if busy and kind != "save":
                        self.assertEqual((m["type"], m.get("code")), ("error", "conflict"),
                                         f"{f} after a reset or restore; {where()}")
                        continue
                    self.assertEqual(m["type"], "ok", f"{f}: {m}; {where()}")
                    backups[m["saved" if kind == "restore" else "backup"]] = frozenset(model)
                    if kind == "reset":
                        model, busy = set(), True
                    elif kind == "restore":
                        model, busy = set(backups[f["backup"]]), True
                if busy:
                    r, seen = await self.connect(srv)
                    self.assertEqual(seen, model, f"after {frames}; {where()}")
            elif op == "kill":
                await restarted(set())
            elif op == "kill_in_flight":
                frames, maybe = [], set()
                for _ in range(rnd.randint(1, 50)):
                    serial += 1
                    frames.append({"type": "node.create", "id": self.next_id(),
                                   "uuid": f"n{serial}", "kind": "Object", "data": {}})
                    maybe.add(f"n{serial}")
                await r.send_json_many(frames)
                await restarted(maybe)
        r.close()
        srv.stop()
        if os.environ.get("SESSIOND_SHOW_LOG"):
            print(where(), file=sys.stderr)
        # every database there is passes quick_check
        dbs = []
        for root, _, files in os.walk(srv.data_dir):
            dbs += [os.path.join(root, f) for f in files
                    if f == "session.db" or (f.endswith(".db") and f.startswith("snapshot_"))]
        self.assertTrue(dbs)
        for p in dbs:
            self.assertEqual(quick_check(p), "ok", f"{p}; {where()}")


if __name__ == "__main__":
    unittest.main()
