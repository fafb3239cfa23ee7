#!/usr/bin/python3
"""kill -9 while the server commits: four clients on three sessions
pipeline node.create and node.update (data replaced, or merge patches) as
fast as the server answers. Once the stream is under way, one client stops
sending and waits for the answer to each of its requests; at its last ok
the server gets SIGKILL, while the other clients' batches are being applied
and committed, and it starts again on the same data directory. Every `ok` a
client received must be in the database: the node exists, its version is at
least the one the ok named, and its data is exactly what the requests up to
the stored version made of it (a stored version beyond the last ok is
allowed: its commit reached the disk, its ok did not reach the client). The
last ok of the client that stopped belongs to its session's newest batch,
so an ok sent before its commit is lost by the kill and fails the test. At
the end every database passes quick_check. Three rounds, a few seconds.

SESSIOND_CRASH_SEED=N replays one run's choices (the seed is in every message).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_crash.py -v
"""

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Closed, ServerTestCase, TIMEOUT  # noqa: E402

SESSION = "crash"
CLIENTS = 4
SESSIONS = 3        # clients 0 and 3 share a session, 1 and 2 have one each
WINDOW = 16         # requests a client keeps in flight
ROUNDS = 3


def merge(target, patch):
    """RFC 7386 merge patch, as the server applies node.update's patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


class Stream:
    """One pipelining client and the model of what it sent: per node, the
    data of every version its requests make (index 0 is version 1, the
    create), and the highest version an ok acknowledged."""

    def __init__(self, n, raw, rnd, round_no, progress):
        self.n = n
        self.progress = progress    # [oks left before the kill, the kill (None once done)]
        self.raw = raw
        self.rnd = rnd
        self.prefix = f"r{round_no}c{n}"
        self.states = {}        # uuid -> [data of version 1, 2, ...]
        self.acked = {}         # uuid -> highest version an ok named
        self.inflight = {}      # id -> (uuid, version it makes)
        self.oks = 0
        self.serial = 0
        self.rid = 0
        self.room = asyncio.Semaphore(WINDOW)
        self.dead = False
        self.draining = False

    def frame(self):
        """The next request: a create now and then, else an update of one
        of this client's nodes."""
        self.rid += 1
        if not self.states or self.rnd.random() < 0.05:
            self.serial += 1
            uuid = f"{self.prefix}n{self.serial}"
            data = {"c": self.n, "s": self.serial, "pad": "x" * self.rnd.randint(50, 400)}
            self.states[uuid] = [data]
            self.inflight[self.rid] = (uuid, 1)
            return {"type": "node.create", "id": self.rid, "uuid": uuid,
                    "kind": "Object", "data": data}
        uuid = self.rnd.choice(sorted(self.states))
        hist = self.states[uuid]
        f = {"type": "node.update", "id": self.rid, "uuid": uuid}
        if self.rnd.random() < 0.3:
            data = {"c": self.n, "k": self.rid, "pad": "y" * self.rnd.randint(50, 400)}
            f["data"] = data
        else:
            patch = {"k": self.rid, "m": [self.rid, self.rnd.random()]}
            if self.rnd.random() < 0.2:
                patch["pad"] = None
            f["patch"] = patch
            data = merge(hist[-1], patch)
        hist.append(data)
        self.inflight[self.rid] = (uuid, len(hist))
        return f

    async def send(self):
        try:
            while not self.dead:
                await self.room.acquire()
                if self.dead or self.draining:
                    break
                frames = [self.frame()]
                while len(frames) < 16 and not self.room.locked():
                    await self.room.acquire()
                    frames.append(self.frame())
                await self.raw.send_json_many(frames)
        except (ConnectionError, OSError):
            self.dead = True

    async def read(self):
        try:
            while True:
                m = await self.raw.recv_json(TIMEOUT)
                if m.get("type") not in ("ok", "error") or m.get("re") not in self.inflight:
                    continue        # events of the other clients
                uuid, version = self.inflight.pop(m["re"])
                if m["type"] != "ok":
                    raise AssertionError(f"client {self.n}: {uuid} refused: {m}")
                if m.get("version", 1) != version:
                    raise AssertionError(f"client {self.n}: ok {m} for {uuid}, "
                                         f"expected version {version}")
                self.acked[uuid] = max(self.acked.get(uuid, 0), version)
                self.oks += 1
                self.progress[0] -= 1
                if self.progress[0] == 0:
                    # this client stops sending; once its every request is
                    # answered, the last ok is of its session's newest batch,
                    # whose commit must be on disk, and the kill lands at
                    # once, with the other clients' batches in the middle
                    self.draining = True
                if self.draining and not self.inflight and self.progress[1]:
                    kill, self.progress[1] = self.progress[1], None
                    kill()
                self.room.release()
        except (Closed, EOFError, ConnectionError):
            self.dead = True
            self.room.release()     # wake a sender waiting for room


class CrashTest(ServerTestCase):

    async def join(self, srv, user, session):
        """A raw pipelining client after hello; returns (client, nodes by uuid)."""
        r = await self.raw(srv, f"/s/{session}")
        await r.send_json({"type": "hello", "id": "h", "user": user})
        nodes = {}
        while True:
            m = await r.recv_json()
            if m.get("type") == "error":
                raise AssertionError(f"hello refused: {m}")
            if m.get("type") == "sync":
                nodes.update({n["uuid"]: n for n in m.get("nodes", [])})
            if m.get("type") == "synced":
                return r, nodes

    def check(self, streams, nodes, where):
        acked = 0
        for s in streams:
            for uuid, hist in s.states.items():
                got = nodes.get(uuid)
                want = s.acked.get(uuid, 0)
                acked += want > 0
                if got is None:
                    self.assertEqual(want, 0, f"{where}: acknowledged node {uuid} "
                                     f"(version {want}) lost")
                    continue
                v = got["version"]
                self.assertGreaterEqual(v, want, f"{where}: {uuid} is at version {v}, "
                                        f"an ok said {want}")
                self.assertLessEqual(v, len(hist), f"{where}: {uuid} at version {v}, "
                                     f"only {len(hist)} were sent")
                self.assertEqual(got["data"], hist[v - 1],
                                 f"{where}: {uuid} at version {v} holds other data")
        return acked

    async def test_kill9_mid_stream(self):
        seed = int(os.environ.get("SESSIOND_CRASH_SEED", time.time_ns() % 1000000))
        rnd = random.Random(seed)
        srv = self.server()
        history = []        # every stream of every round: all checked after each restart
        for round_no in range(ROUNDS):
            where = f"seed {seed}, round {round_no}"
            streams = []
            # kill once the stream is well under way: the server is then
            # always in the middle of a batch or its commit
            killed = asyncio.Event()

            def kill():
                os.kill(srv.proc.pid, signal.SIGKILL)
                killed.set()
            progress = [rnd.randint(600, 1500), kill]
            for n in range(CLIENTS):
                r, _ = await self.join(srv, f"u{n}", f"{SESSION}{n % SESSIONS}")
                streams.append(Stream(n, r, random.Random(rnd.random()), round_no, progress))
            tasks = [asyncio.ensure_future(t) for s in streams for t in (s.send(), s.read())]
            reached = asyncio.ensure_future(killed.wait())
            waiting = set(tasks) | {reached}
            deadline = time.monotonic() + TIMEOUT * 3
            while reached in waiting:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, f"{where}: only {sum(s.oks for s in streams)} oks")
                done, waiting = await asyncio.wait(waiting, timeout=left,
                                                   return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    t.result()      # a refused request: fails here
            srv.kill9()
            for t in tasks:
                try:
                    await asyncio.wait_for(t, TIMEOUT)
                except (Closed, EOFError, ConnectionError):
                    pass
            for s in streams:
                s.raw.close()
            history += streams
            srv.restart()
            nodes = {}
            for n in range(SESSIONS):
                _, got = await self.join(srv, "checker", f"{SESSION}{n}")
                nodes.update(got)
            acked = self.check(history, nodes, where)
            self.assertGreater(acked, 0, where)
        srv.stop()
        for n in range(SESSIONS):
            db = sqlite3.connect(os.path.join(srv.session_dir(f"{SESSION}{n}"), "session.db"))
            try:
                self.assertEqual(db.execute("PRAGMA quick_check").fetchone()[0], "ok")
            finally:
                db.close()


if __name__ == "__main__":
    unittest.main()
