#!/usr/bin/python3
"""Black-box tests of sessiond's administration, health, metrics and admin
HTTP API (PROTOCOL.md sections 2, 8 and 9; docs/PROTOCOL.md 8 and 9).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_admin.py -v
Every test starts its own server on a free port with a fresh data dir.
"""

import asyncio
import http.client
import json
import math
import os
import re
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ServerTestCase, TIMEOUT  # noqa: E402

ADMIN_PW = "adm1n-s3cret"
ADMIN_ARGS = ("--admin-password", ADMIN_PW)
BACKUP_RE = re.compile(r"^snapshot_\d{8}_\d{6}(_\d+)?\.db$")
ADMIN_TYPES = ("admin.kick", "admin.save", "admin.backups", "admin.stats", "admin.reset")
STATS_KEYS = {"session", "users_online", "users", "nodes", "tasks", "chat", "seq", "epoch",
              "initialized", "db_bytes", "wal_bytes", "backups", "save_running",
              "last_save"}


# ----------------------------------------------------------------------
# helpers

async def must(c, type, **fields):
    r = await c.request(type, **fields)
    if r.get("type") != ("pong" if type == "ping" else "ok"):
        raise AssertionError(f"{type} {fields}: expected ok, got {r}")
    return r


def sync_part(syncs, key):
    return [x for s in syncs for x in s.get(key, [])]


def wait_log(srv, pred, what, timeout=TIMEOUT, start=0):
    """The first server log line (from index `start`) for which pred holds;
    AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    with srv.cond:
        while True:
            for line in srv.lines[start:]:
                if pred(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no log line {what} within {timeout}s\n{srv.log(40)}")
            srv.cond.wait(min(left, 0.2))


def wait_log_words(srv, *words, start=0, timeout=TIMEOUT):
    """A log line holding every word (case-insensitive)."""
    lw = [w.lower() for w in words]
    return wait_log(srv, lambda l: all(w in l.lower() for w in lw),
                    f"with all of {words}", timeout, start)


def http_request(srv, method, path, token=None, auth=None, body=None, timeout=TIMEOUT):
    """(status, headers (lower-case names), body bytes). `token` sends
    `Authorization: Bearer token`; `auth` sends that header verbatim."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if auth is not None:
        headers["Authorization"] = auth
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


async def http_async(srv, method, path, **kw):
    return await asyncio.to_thread(http_request, srv, method, path, **kw)


# ----------------------------------------------------------------------
# A strict parser of the Prometheus text exposition format 0.0.4.

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
TIMESTAMP_RE = re.compile(r"^-?\d+$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(AssertionError):
    pass


def prom_float(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not FLOAT_RE.match(s):
        raise PromError(f"{where}: {s!r} is not a number")
    return float(s)


def parse_labels(line, i, where):
    """line[i] == '{'; returns (labels dict, index after '}')."""
    assert line[i] == "{"
    i += 1
    labels = {}
    while True:
        if i >= len(line):
            raise PromError(f"{where}: unterminated label set")
        if line[i] == "}":
            return labels, i + 1
        m = LABEL_NAME_RE.match(line, i)
        if not m:
            raise PromError(f"{where}: bad label name at column {i}")
        name = m.group(0)
        if name.startswith("__"):
            raise PromError(f"{where}: reserved label name {name!r}")
        if name in labels:
            raise PromError(f"{where}: duplicate label {name!r}")
        i = m.end()
        if line[i:i + 2] != '="':
            raise PromError(f"{where}: expected =\" after label {name!r}")
        i += 2
        value = []
        while True:
            if i >= len(line):
                raise PromError(f"{where}: unterminated value of label {name!r}")
            ch = line[i]
            if ch == '"':
                i += 1
                break
            if ch == "\\":
                nxt = line[i + 1] if i + 1 < len(line) else ""
                if nxt not in ("\\", '"', "n"):
                    raise PromError(f"{where}: invalid escape \\{nxt} in label {name!r}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
                continue
            value.append(ch)
            i += 1
        labels[name] = "".join(value)
        if i < len(line) and line[i] == ",":
            i += 1
        elif i < len(line) and line[i] == "}":
            pass
        else:
            raise PromError(f"{where}: expected , or }} after label {name!r}")


def family_of(sample, families):
    """The declared family a sample name belongs to, or None."""
    if sample in families:
        t = families[sample]["type"]
        if t in ("counter", "gauge", "untyped") or (t == "summary"):
            return sample
    for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        if sample.endswith(suffix):
            base = sample[:-len(suffix)]
            if base in families and families[base]["type"] in kinds:
                return base
    return None


def parse_prometheus(text):
    """Parses a whole /metrics body. Returns {family: {"type", "help",
    "samples": [(name, labels, value)]}}; raises PromError on any deviation."""
    if not text.endswith("\n"):
        raise PromError("the body does not end with a line feed")
    families = {}
    declared = {}          # family -> {"help": bool, "type": bool}
    finished = set()       # families whose group has ended
    current = None
    series = set()
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {lineno} {line!r}"
        if line == "":
            raise PromError(f"{where}: empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                raise PromError(f"{where}: a comment that is not # HELP / # TYPE")
            kind, name = parts[1], parts[2]
            if not METRIC_NAME_RE.fullmatch(name):
                raise PromError(f"{where}: bad metric name")
            if name in finished:
                raise PromError(f"{where}: family {name} appears in two groups")
            if current is not None and current != name:
                finished.add(current)
            current = name
            d = declared.setdefault(name, {"help": False, "type": False})
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if fam["samples"]:
                raise PromError(f"{where}: {kind} after the family's samples")
            if kind == "HELP":
                if d["help"]:
                    raise PromError(f"{where}: second HELP for {name}")
                doc = parts[3] if len(parts) == 4 else ""
                for m in re.finditer(r"\\(.?)", doc):
                    if m.group(1) not in ("\\", "n"):
                        raise PromError(f"{where}: invalid escape in HELP text")
                d["help"] = True
                fam["help"] = doc
            else:
                if d["type"]:
                    raise PromError(f"{where}: second TYPE for {name}")
                if len(parts) != 4 or parts[3] not in TYPES:
                    raise PromError(f"{where}: TYPE must be one of {TYPES}")
                d["type"] = True
                fam["type"] = parts[3]
            continue
        # a sample
        m = METRIC_NAME_RE.match(line)
        if not m:
            raise PromError(f"{where}: bad metric name")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise PromError(f"{where}: no blank before the value")
        toks = rest.split()
        if len(toks) not in (1, 2) or rest != " " + " ".join(toks):
            raise PromError(f"{where}: expected `value [timestamp]` after the name")
        value = prom_float(toks[0], where)
        if len(toks) == 2 and not TIMESTAMP_RE.match(toks[1]):
            raise PromError(f"{where}: bad timestamp")
        fam_name = family_of(name, {k: v for k, v in families.items() if v["type"]})
        if fam_name is None:
            raise PromError(f"{where}: sample of a family without # TYPE")
        if not declared[fam_name]["help"]:
            raise PromError(f"{where}: sample of family {fam_name} without # HELP before it")
        if fam_name != current:
            raise PromError(f"{where}: sample of {fam_name} outside its family's group "
                            f"(current group: {current})")
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise PromError(f"{where}: duplicate series")
        series.add(key)
        fam = families[fam_name]
        t = fam["type"]
        if t == "counter" and not (value >= 0):
            raise PromError(f"{where}: counter value must be >= 0")
        if t == "histogram":
            if name.endswith("_bucket"):
                if "le" not in labels:
                    raise PromError(f"{where}: histogram bucket without le")
                prom_float(labels["le"], where)
            elif "le" in labels:
                raise PromError(f"{where}: le on a histogram _sum/_count")
        if t == "summary" and name == fam_name:
            if "quantile" not in labels:
                raise PromError(f"{where}: summary sample without quantile")
        fam["samples"].append((name, labels, value))
    for name, d in declared.items():
        if not (d["help"] and d["type"]):
            raise PromError(f"family {name}: HELP and TYPE must both be given")
    for name, fam in families.items():
        if fam["type"] == "histogram":
            check_histogram(name, fam)
    return families


def check_histogram(name, fam):
    groups = {}
    for sname, labels, value in fam["samples"]:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            g["buckets"].append((prom_float(labels["le"], name), value))
        elif sname == name + "_sum":
            g["sum"] = value
        elif sname == name + "_count":
            g["count"] = value
    for rest, g in groups.items():
        where = f"histogram {name}{dict(rest)}"
        bs = g["buckets"]
        if not bs:
            raise PromError(f"{where}: no buckets")
        les = [le for le, _ in bs]
        if les != sorted(les) or len(set(les)) != len(les):
            raise PromError(f"{where}: le bounds not strictly increasing: {les}")
        if les[-1] != math.inf:
            raise PromError(f"{where}: no le=\"+Inf\" bucket")
        counts = [c for _, c in bs]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise PromError(f"{where}: buckets not cumulative: {counts}")
        if g["count"] is None or g["sum"] is None:
            raise PromError(f"{where}: _sum and _count are required")
        if counts[-1] != g["count"]:
            raise PromError(f"{where}: +Inf bucket {counts[-1]} != _count {g['count']}")


def metric(fams, name, default=None, **labels):
    """The value of the sample `name` with exactly these labels."""
    for fam in fams.values():
        for sname, ls, v in fam["samples"]:
            if sname == name and ls == labels:
                return v
    return default


class PrometheusParserSelfTest(unittest.TestCase):
    """The parser must refuse what the format forbids (so that it passing
    on the server's output means something)."""

    GOOD = ('# HELP a_total A \\\\ doc.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 3\n'
            '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n'
            'h_sum 3.5\nh_count 2\n')

    def test_good(self):
        f = parse_prometheus(self.GOOD)
        self.assertEqual(metric(f, "a_total", x='q"\\\n'), 3)
        self.assertEqual(metric(f, "h_count"), 2)

    def test_bad(self):
        bad = [
            "a 1\n",                                             # no HELP/TYPE
            "# TYPE a gauge\na 1\n",                             # no HELP
            "# HELP a x\n# TYPE a gauge\na 1",                   # no final LF
            "# HELP a x\n# TYPE a gauge\na{x=\"\\q\"} 1\n",      # bad escape
            "# HELP a x\n# TYPE a gauge\na{x=\"v} 1\n",          # unterminated
            "# HELP a x\n# TYPE a gauge\na one\n",               # bad value
            "# HELP a x\n# TYPE a gauge\na 1\na 2\n",            # duplicate series
            "# HELP a x\n# TYPE a gauge\n\na 1\n",               # empty line
            "# HELP a x\n# TYPE a gauge\n# other\na 1\n",        # other comment
            "# HELP a x\n# TYPE a thing\na 1\n",                 # bad type
            "# HELP a x\n# TYPE a counter\na -1\n",              # negative counter
            "# HELP a x\n# TYPE a gauge\n# HELP b y\n# TYPE b gauge\nb 1\na 1\n",  # group split
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
            "h_sum 1\nh_count 1\n",                              # not cumulative
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
            "h_sum 1\nh_count 2\n",                              # +Inf != count
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  # no +Inf
        ]
        for text in bad:
            with self.subTest(text=text):
                with self.assertRaises(PromError):
                    parse_prometheus(text)


# ======================================================================
class SessionInitTest(ServerTestCase):
    server_args = ADMIN_ARGS

    async def test_init_by_user_once_event_and_restart(self):
        srv = self.server()
        alice, w, _, _ = await self.joined(srv, "alice", "s")
        self.assertIs(w["initialized"], False)
        bob, _, _, _ = await self.joined(srv, "bob", "s")
        root, _, _, _ = await self.joined(srv, "root", "s", admin_password=ADMIN_PW)
        ok = await must(alice, "session.init")
        self.assertIsInstance(ok["seq"], int)
        self.assertGreater(ok["seq"], w["seq"])
        for other in (bob, root):
            ev = await other.next_event("session")
            self.assertEqual(ev, {"type": "session", "initialized": True, "seq": ok["seq"]})
        # the sender does not get its own event
        self.assertEqual([m for m in await alice.quiet() if m["type"] == "session"], [])
        # a second call, from a user or an admin: conflict, no event, no new seq
        for c in (bob, alice, root):
            r = await c.request("session.init")
            self.assertError(r, "conflict", re=r["re"])
            self.assertTrue(r["message"].startswith("session.init"), r)
        for c in (alice, bob, root):
            self.assertEqual([m for m in await c.quiet() if m["type"] == "session"], [])
        stats = (await must(root, "admin.stats"))
        self.assertIs(stats["initialized"], True)
        self.assertEqual(stats["seq"], ok["seq"])
        wait_log_words(srv, "initialized", "alice")
        # survives a restart (graceful) and a kill -9
        for how in ("restart", "kill9"):
            for c in (alice, bob, root):
                await c.close()
            if how == "kill9":
                srv.kill9()
            srv.restart()
            alice, w2, _, _ = await self.joined(srv, "alice", "s")
            self.assertIs(w2["initialized"], True, how)
            self.assertEqual(w2["seq"], ok["seq"], "the init's seq is kept")
            r = await alice.request("session.init")
            self.assertError(r, "conflict", re=r["re"])
            bob, _, _, _ = await self.joined(srv, "bob", "s")
            root, _, _, _ = await self.joined(srv, "root", "s", admin_password=ADMIN_PW)

    async def test_init_by_admin(self):
        srv = self.server()
        root, w, _, _ = await self.joined(srv, "root", "t", admin_password=ADMIN_PW)
        self.assertEqual(w["role"], "admin")
        alice, _, _, _ = await self.joined(srv, "alice", "t")
        ok = await must(root, "session.init")
        ev = await alice.next_event("session")
        self.assertEqual(ev, {"type": "session", "initialized": True, "seq": ok["seq"]})
        r = await root.request("session.init")
        self.assertError(r, "conflict", re=r["re"])
        # another session is not initialized by it
        carol, w3, _, _ = await self.joined(srv, "carol", "other")
        self.assertIs(w3["initialized"], False)
        await must(carol, "session.init")


# ======================================================================
class ForbiddenTest(ServerTestCase):
    server_args = ADMIN_ARGS

    async def check_all_forbidden(self, srv, user_client, victim):
        fields = {"admin.kick": {"user": victim}}
        for t in ADMIN_TYPES:
            r = await user_client.request(t, **fields.get(t, {}))
            self.assertError(r, "forbidden", re=r["re"])
            self.assertIn(t, r["message"])
            # without an id: the error still comes, without re
            await user_client.send(dict(type=t, **fields.get(t, {})))
            e = await user_client.next_event("error")
            self.assertError(e, "forbidden")

    async def test_non_admin_gets_forbidden_and_nothing_happens(self):
        srv = self.server()
        alice, w, _, _ = await self.joined(srv, "alice", "f")
        self.assertEqual(w["role"], "user")
        bob, _, _, _ = await self.joined(srv, "bob", "f")
        await must(alice, "node.create", uuid="keep", kind="Object", data={"v": 1})
        await self.check_all_forbidden(srv, alice, "bob")
        # bob was not kicked, nothing was reset, no backup was written
        self.assertEqual(bob.close_code, None)
        await must(bob, "ping")
        self.assertNotIn("leave", [m.get("op") for m in await bob.quiet()])
        node = (await must(bob, "node.get", uuid="keep"))["node"]
        self.assertEqual(node["data"], {"v": 1})
        bdir = os.path.join(srv.session_dir("f"), "backups")
        self.assertEqual([f for f in (os.listdir(bdir) if os.path.isdir(bdir) else [])
                          if f.endswith(".db")], [])
        await must(alice, "ping")

    async def test_forbidden_without_admin_password_configured(self):
        srv = self.server(args=())
        alice, w, _, _ = await self.joined(srv, "alice", "f")
        self.assertEqual(w["role"], "user")
        await self.joined(srv, "bob", "f")
        await self.check_all_forbidden(srv, alice, "bob")


# ======================================================================
class KickTest(ServerTestCase):
    server_args = ADMIN_ARGS

    async def test_kick(self):
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "root", "k", admin_password=ADMIN_PW)
        carol, _, _, _ = await self.joined(srv, "carol", "k")
        bob, _, _, _ = await self.joined(srv, "bob", "k")
        for u in ("b1", "b2"):
            await must(bob, "node.create", uuid=u, kind="Object", data={}, lock=True)
        await must(bob, "node.create", uuid="common", kind="Object", data={})
        await carol.quiet()
        await root.quiet()
        mark = len(srv.lines)
        ok = await must(root, "admin.kick", user="bob")
        self.assertEqual(ok["user"], "bob")
        self.assertEqual(await bob.closed(), 4403)
        for watcher in (carol, root):
            leave = await watcher.next_event("user", pred=lambda m: m.get("op") == "leave")
            self.assertEqual(leave, {"type": "user", "op": "leave", "user": "bob",
                                     "reason": "kicked"})
            owners = [await watcher.next_event(
                "node", pred=lambda m: m.get("op") == "owner") for _ in range(2)]
            self.assertEqual({e["uuid"] for e in owners}, {"b1", "b2"})
            for e in owners:
                self.assertIsNone(e["owner"], e)
                self.assertIsInstance(e["seq"], int)
            seqs = [e["seq"] for e in owners]
            self.assertEqual(len(set(seqs)), 2, "each owner event has its own seq")
            self.assertEqual([m for m in await watcher.quiet()
                              if m["type"] == "node"], [], "only bob's locks change")
        for u in ("b1", "b2"):
            n = (await must(carol, "node.get", uuid=u))["node"]
            self.assertIsNone(n["owner"])
            await must(carol, "node.update", uuid=u, data={"by": "carol"})
        wait_log_words(srv, "root", "kick", "bob", start=mark)
        # bob is offline now: not_found; so is a name that never joined
        for who in ("bob", "nobody"):
            r = await root.request("admin.kick", user=who)
            self.assertError(r, "not_found", re=r["re"])
        # the user field is checked
        for bad in ({}, {"user": 5}, {"user": ""}):
            r = await root.request("admin.kick", **bad)
            self.assertError(r, "bad_request", field="user", re=r["re"])
        # bob may come back
        bob2, _, _, _ = await self.joined(srv, "bob", "k")
        await must(bob2, "ping")

    async def test_admin_kicks_itself(self):
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "root", "k", admin_password=ADMIN_PW)
        carol, _, _, _ = await self.joined(srv, "carol", "k")
        await root.send({"type": "admin.kick", "id": "me", "user": "root"})
        code = await root.closed()
        leave = await carol.next_event("user", pred=lambda m: m.get("op") == "leave")
        self.assertEqual((leave["user"], leave["reason"]), ("root", "kicked"))
        self.assertEqual(code, 4403)
        # PROTOCOL.md 2: a request with an id gets exactly one reply
        self.assertEqual([m for m in root.pending if m.get("re") == "me"],
                         [{"type": "ok", "re": "me", "user": "root"}],
                         "the ok of a self-kick must come before the close")

    async def test_kick_is_per_session(self):
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "root", "k1", admin_password=ADMIN_PW)
        dave, _, _, _ = await self.joined(srv, "dave", "k2")
        r = await root.request("admin.kick", user="dave")
        self.assertError(r, "not_found", re=r["re"])
        await must(dave, "ping")
        self.assertIsNone(dave.close_code)


# ======================================================================
class SaveStatsBackupsTest(ServerTestCase):
    server_args = ADMIN_ARGS

    async def test_save_backups_stats(self):
        srv = self.server()
        root, w, _, _ = await self.joined(srv, "root", "sv", admin_password=ADMIN_PW)
        alice, _, _, _ = await self.joined(srv, "alice", "sv")
        await must(alice, "node.create", uuid="n1", kind="Object", data={"a": 1})
        await must(alice, "task.create", title="t")
        last = await must(alice, "chat.send", text="hi")
        st = (await must(root, "admin.stats"))
        self.assertTrue(STATS_KEYS <= set(st), st)
        self.assertEqual((st["session"], st["users_online"], st["nodes"], st["tasks"],
                          st["chat"], st["seq"], st["epoch"]),
                         ("sv", 2, 1, 1, 1, last["seq"], w["epoch"]))
        self.assertGreaterEqual(st["users"], 2)
        self.assertGreater(st["db_bytes"], 0)
        self.assertIsInstance(st["wal_bytes"], int)
        self.assertIsNone(st["last_save"])
        self.assertEqual(st["backups"], 0)
        mark = len(srv.lines)
        t0 = time.time()
        ok = await must(root, "admin.save")
        self.assertRegex(ok["backup"], BACKUP_RE)
        self.assertIsInstance(ok["bytes"], int)
        self.assertIsInstance(ok["ms"], int)
        self.assertGreaterEqual(ok["ms"], 0)
        # the ok comes when the save is done: the file is there, verified
        path = os.path.join(srv.session_dir("sv"), "backups", ok["backup"])
        self.assertTrue(os.path.isfile(path), path)
        self.assertEqual(os.path.getsize(path), ok["bytes"])
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            self.assertEqual(db.execute("SELECT count(*) FROM nodes").fetchone()[0], 1)
        finally:
            db.close()
        wait_log_words(srv, "root", "save", start=mark)
        bk = (await must(root, "admin.backups"))["backups"]
        self.assertEqual(len(bk), 1, bk)
        self.assertEqual(set(bk[0]), {"file", "bytes", "created_at", "reason", "kept_by"})
        self.assertEqual((bk[0]["file"], bk[0]["bytes"], bk[0]["reason"]),
                         (ok["backup"], ok["bytes"], "admin"))
        self.assertLess(abs(bk[0]["created_at"] - t0), 30)
        st = (await must(root, "admin.stats"))
        self.assertEqual(st["backups"], 1)
        self.assertIs(st["save_running"], False)
        ls = st["last_save"]
        self.assertEqual((ls["reason"], ls["backup"], ls["bytes"], ls["ms"]),
                         ("admin", ok["backup"], ok["bytes"], ok["ms"]))
        self.assertLess(abs(ls["time"] - time.time()), 30)
        # a second save: newest first
        await must(alice, "node.create", uuid="n2", kind="Object", data={})
        ok2 = await must(root, "admin.save")
        self.assertNotEqual(ok2["backup"], ok["backup"])
        bk = (await must(root, "admin.backups"))["backups"]
        self.assertEqual([b["file"] for b in bk], [ok2["backup"], ok["backup"]])
        self.assertGreaterEqual(bk[0]["created_at"], bk[1]["created_at"])

    async def test_replies_stay_in_order_around_save(self):
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "root", "ord", admin_password=ADMIN_PW)
        frames = [{"type": "ping", "id": "p1"}, {"type": "admin.save", "id": "s"},
                  {"type": "admin.stats", "id": "st"}, {"type": "ping", "id": "p2"}]
        for f in frames:
            await root.send(f)
        got = [await root.recv() for _ in frames]
        self.assertEqual([(g["type"], g.get("re")) for g in got],
                         [("pong", "p1"), ("ok", "s"), ("ok", "st"), ("pong", "p2")], got)
        self.assertIn("backup", got[1])
        self.assertIn("users_online", got[2])

    async def test_every_admin_action_is_logged_with_its_admin(self):
        """docs/PROTOCOL.md 8: every admin action is logged with who did it."""
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "rootadm", "lg", admin_password=ADMIN_PW)
        await self.joined(srv, "victim", "lg")
        missing = []
        for t, fields, word in (("admin.stats", {}, "stat"),
                                ("admin.backups", {}, "backup"),
                                ("admin.save", {}, "save"),
                                ("admin.kick", {"user": "victim"}, "kick"),
                                ("admin.reset", {}, "reset")):
            mark = len(srv.lines)
            await must(root, t, **fields)
            try:
                wait_log_words(srv, "rootadm", word, start=mark, timeout=2)
            except AssertionError:
                missing.append(t)
        self.assertEqual(missing, [], "admin actions without a log line naming the admin")


# ======================================================================
class ResetTest(ServerTestCase):
    server_args = ADMIN_ARGS

    async def test_reset(self):
        srv = self.server()
        root, w, _, _ = await self.joined(srv, "root", "r", admin_password=ADMIN_PW)
        alice, _, _, _ = await self.joined(srv, "alice", "r")
        bob, _, _, _ = await self.joined(srv, "bob", "r")
        carol, _, _, _ = await self.joined(srv, "carol", "elsewhere")
        await must(carol, "node.create", uuid="c1", kind="Object", data={})
        await must(alice, "session.init")
        await must(alice, "node.create", uuid="n1", kind="Object", data={"x": 1}, lock=True)
        await must(bob, "node.create", uuid="n2", kind="Mesh", data={})
        await must(bob, "task.create", title="todo")
        last = await must(bob, "chat.send", text="before the reset")
        old_epoch, old_seq = w["epoch"], last["seq"]
        # a non-admin cannot reset
        r = await alice.request("admin.reset")
        self.assertError(r, "forbidden", re=r["re"])
        for c in (alice, bob, root):
            await c.quiet()
        mark = len(srv.lines)
        ok = await must(root, "admin.reset")
        self.assertIsInstance(ok["epoch"], str)
        self.assertTrue(ok["epoch"])
        self.assertNotEqual(ok["epoch"], old_epoch)
        self.assertIsInstance(ok["seq"], int)
        self.assertRegex(ok["backup"], BACKUP_RE)
        self.assertEqual(root.pending, [], "the admin's ok comes before the reset event")
        for c in (root, alice, bob):
            ev = await c.next_event("session", pred=lambda m: m.get("reset") is True)
            self.assertEqual(ev, {"type": "session", "reset": True, "epoch": ok["epoch"],
                                  "seq": ok["seq"]})
            self.assertEqual(await c.closed(), 4205)
        wait_log_words(srv, "root", "reset", start=mark)
        # another session is untouched
        self.assertEqual([m for m in await carol.quiet() if m["type"] in ("session", "user")],
                         [])
        await must(carol, "node.get", uuid="c1")
        # the reset backup holds the old content, with reason "reset"
        bpath = os.path.join(srv.session_dir("r"), "backups", ok["backup"])
        db = sqlite3.connect(f"file:{bpath}?mode=ro", uri=True)
        try:
            self.assertEqual(db.execute(
                "SELECT count(*) FROM nodes WHERE deleted = 0").fetchone()[0], 2)
            self.assertEqual(db.execute("SELECT count(*) FROM chat").fetchone()[0], 1)
        finally:
            db.close()
        # reconnect with the old epoch: full resume of an empty scene
        alice, w2, syncs, synced = await self.joined(srv, "alice", "r", epoch=old_epoch,
                                                     since=old_seq)
        self.assertEqual(w2["resume"], "full")
        self.assertEqual(w2["epoch"], ok["epoch"])
        self.assertIs(w2["initialized"], False)
        self.assertEqual(w2["seq"], ok["seq"])
        self.assertEqual(synced["seq"], ok["seq"])
        for key in ("nodes", "tasks", "chat"):
            self.assertEqual(sync_part(syncs, key), [], key)
        users = {u["name"] for u in sync_part(syncs, "users")}
        self.assertTrue({"root", "alice", "bob"} <= users, users)
        r = await alice.request("node.get", uuid="n1")
        self.assertError(r, "not_found", re=r["re"])
        # the new epoch resumes as a delta
        bob, w3, syncs3, _ = await self.joined(srv, "bob", "r", epoch=ok["epoch"],
                                               since=ok["seq"])
        self.assertEqual(w3["resume"], "delta")
        self.assertEqual(sync_part(syncs3, "nodes"), [])
        # not initialized any more: session.init works again, seqs keep growing
        init = await must(bob, "session.init")
        self.assertGreater(init["seq"], ok["seq"])
        root, _, _, _ = await self.joined(srv, "root", "r", admin_password=ADMIN_PW)
        bk = (await must(root, "admin.backups"))["backups"]
        mine = [b for b in bk if b["file"] == ok["backup"]]
        self.assertEqual(len(mine), 1, bk)
        self.assertEqual(mine[0]["reason"], "reset")
        st = (await must(root, "admin.stats"))
        self.assertEqual((st["nodes"], st["tasks"], st["chat"], st["epoch"]),
                         (0, 0, 0, ok["epoch"]))
        # the reset survives a restart
        for c in (alice, bob, root, carol):
            await c.close()
        srv.restart()
        _, w4, syncs4, _ = await self.joined(srv, "alice", "r", epoch=old_epoch, since=old_seq)
        self.assertEqual((w4["epoch"], w4["resume"]), (ok["epoch"], "full"))
        self.assertEqual(sync_part(syncs4, "nodes"), [])


    async def test_reset_backup_keeps_its_reason_when_saves_coalesce(self):
        """PROTOCOL.md 8/10: the backup admin.reset takes has reason `reset`,
        also when it had to wait behind a running save and another save
        request (here: a user leaving) came in meanwhile."""
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "root", "big", admin_password=ADMIN_PW)
        bob, _, _, _ = await self.joined(srv, "bob", "big")
        blob = "x" * 1000000     # ~20 MB: the first save takes a while
        for i in range(20):
            await must(root, "node.create", uuid=f"n{i}", kind="Object",
                       data={"b": blob + str(i)})
        mark = len(srv.lines)
        await root.send({"type": "admin.save", "id": "s"})
        await root.send({"type": "admin.reset", "id": "r"})
        wait_log_words(srv, "root", "requested a reset", start=mark)
        await bob.close()          # asks for a user_disconnect save
        saved = await root.reply("s", timeout=30)
        self.assertOk(saved)
        reset = await root.reply("r", timeout=30)
        self.assertOk(reset)
        self.assertEqual(await root.closed(), 4205)
        root, _, _, _ = await self.joined(srv, "root", "big", admin_password=ADMIN_PW)
        bk = {b["file"]: b for b in (await must(root, "admin.backups"))["backups"]}
        self.assertEqual(bk[saved["backup"]]["reason"], "admin")
        self.assertEqual(bk[reset["backup"]]["reason"], "reset", bk)


# ======================================================================
class SaveFailureTest(ServerTestCase):
    """A save that cannot write its backup (here: `backups` is a file, not a
    directory): admin.save and the API answer unavailable / 503, admin.reset
    changes nothing, and the metrics count the failures."""
    server_args = ADMIN_ARGS

    async def test_failed_saves(self):
        srv = self.server()
        root, w, _, _ = await self.joined(srv, "root", "ff", admin_password=ADMIN_PW)
        alice, _, _, _ = await self.joined(srv, "alice", "ff")
        await must(alice, "node.create", uuid="keep", kind="Object", data={"v": 1})
        bdir = os.path.join(srv.session_dir("ff"), "backups")
        if os.path.isdir(bdir):
            os.rmdir(bdir)
        with open(bdir, "w") as f:
            f.write("not a directory\n")
        r = await root.request("admin.save")
        self.assertError(r, "unavailable", re=r["re"])
        self.assertTrue(r["message"].startswith("admin.save"), r)
        r = await root.request("admin.reset")
        self.assertError(r, "unavailable", re=r["re"])
        # nothing was reset: same epoch, content kept, nobody closed
        st = (await must(root, "admin.stats"))
        self.assertEqual((st["epoch"], st["nodes"]), (w["epoch"], 1))
        self.assertEqual((await must(alice, "node.get", uuid="keep"))["node"]["data"], {"v": 1})
        self.assertEqual([m for m in await alice.quiet() if m["type"] == "session"], [])
        # the API: 503 with a JSON error
        st_, h, b = await http_async(srv, "POST", "/api/sessions/ff/save", token=ADMIN_PW)
        self.assertEqual(st_, 503, b)
        self.assertTrue(h.get("content-type", "").startswith("application/json"), h)
        doc = json.loads(b)
        self.assertIsInstance(doc.get("error"), str, doc)
        # metrics
        _, _, body = await http_async(srv, "GET", "/metrics")
        fams = parse_prometheus(body.decode())
        self.assertEqual(metric(fams, "sessiond_saves_total", reason="reset", result="failed"),
                         1)
        self.assertEqual(metric(fams, "sessiond_saves_total", reason="admin", result="failed"),
                         2)
        self.assertEqual(metric(fams, "sessiond_backup_failures_total"), 3)
        self.assertEqual(metric(fams, "sessiond_saves_total", reason="admin", result="ok"), 0)
        # the disk is back: saves work again
        os.remove(bdir)
        ok = await must(root, "admin.save")
        self.assertRegex(ok["backup"], BACKUP_RE)
        # last, so that it does not hide the rest: docs/PROTOCOL.md 9
        self.assertEqual(doc.get("code"), "unavailable",
                         f"admin API errors are {{\"error\",\"code\"}}: {doc}")


# ======================================================================
class HealthzTest(ServerTestCase):

    async def test_healthz(self):
        srv = self.server()
        status, headers, body = await http_async(srv, "GET", "/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        self.assertEqual(json.loads(body), {"status": "ok", "sessions": 0, "sessions_on_disk": 0,
                                            "connections": 0})
        a, _, _, _ = await self.joined(srv, "alice", "h1")
        await self.joined(srv, "bob", "h1")
        await self.joined(srv, "carol", "h2")
        status, _, body = await http_async(srv, "GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok", "sessions": 2, "sessions_on_disk": 2,
                                            "connections": 3})
        await a.close()
        deadline = time.monotonic() + TIMEOUT
        while True:
            doc = json.loads((await http_async(srv, "GET", "/healthz"))[2])
            if doc["connections"] == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        self.assertEqual(doc, {"status": "ok", "sessions": 2, "sessions_on_disk": 2,
                               "connections": 2})
        # open, with or without a token, also with an admin password set
        srv2 = self.server(args=ADMIN_ARGS)
        for kw in ({}, {"token": "wrong"}, {"token": ADMIN_PW}):
            status, _, body = await http_async(srv2, "GET", "/healthz", **kw)
            self.assertEqual(status, 200, (kw, body))


# ======================================================================
class MetricsTest(ServerTestCase):
    server_args = ADMIN_ARGS

    async def scrape(self, srv):
        status, headers, body = await http_async(srv, "GET", "/metrics")
        self.assertEqual(status, 200, body[:300])
        ctype = headers.get("content-type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype.replace(" ", ""))
        return parse_prometheus(body.decode("utf-8"))

    async def test_metrics_format_and_counters(self):
        srv = self.server()
        before = await self.scrape(srv)
        for fam in ("sessiond_connections", "sessiond_messages_received_total",
                    "sessiond_messages_sent_total", "sessiond_committed_changes_total",
                    "sessiond_commit_seconds", "sessiond_bytes_sent_total",
                    "sessiond_saves_total", "sessiond_save_seconds",
                    "sessiond_last_save_timestamp_seconds", "sessiond_backups",
                    "sessiond_backup_failures_total", "sessiond_database_bytes"):
            self.assertIn(fam, before, f"family {fam} missing")
        self.assertEqual(before["sessiond_commit_seconds"]["type"], "histogram")
        self.assertEqual(before["sessiond_save_seconds"]["type"], "histogram")
        self.assertEqual(metric(before, "sessiond_connections"), 0)

        def rx(f, t):
            return metric(f, "sessiond_messages_received_total", 0, type=t)

        def saves(f, reason):
            return metric(f, "sessiond_saves_total", 0, reason=reason, result="ok")

        root, _, _, _ = await self.joined(srv, "root", "m.one", admin_password=ADMIN_PW)
        alice, _, _, _ = await self.joined(srv, "alice", "m.one")
        await self.joined(srv, "bob", "m-two")
        mid = await self.scrape(srv)
        self.assertEqual(metric(mid, "sessiond_connections"), 3)
        self.assertEqual(metric(mid, "sessiond_session_connections", session="m.one"), 2)
        self.assertEqual(metric(mid, "sessiond_session_connections", session="m-two"), 1)
        self.assertEqual(metric(mid, "sessiond_sessions"), 2)
        self.assertEqual(rx(mid, "hello") - rx(before, "hello"), 3)
        # traffic: 3 node.create, 1 node.update, 1 chat.send, 1 session.init = 6 changes
        for i in range(3):
            await must(alice, "node.create", uuid=f"n{i}", kind="Object", data={"i": i})
        await must(alice, "node.update", uuid="n0", patch={"j": 1})
        await must(alice, "chat.send", text="metrics")
        last = await must(alice, "session.init")
        await must(alice, "ping")
        await alice.send_text("{not json")
        await alice.next_event("error")
        save = await must(root, "admin.save")
        after = await self.scrape(srv)
        self.assertEqual(rx(after, "node.create") - rx(mid, "node.create"), 3)
        self.assertEqual(rx(after, "node.update") - rx(mid, "node.update"), 1)
        self.assertEqual(rx(after, "chat.send") - rx(mid, "chat.send"), 1)
        self.assertEqual(rx(after, "session.init") - rx(mid, "session.init"), 1)
        self.assertEqual(rx(after, "admin.save") - rx(mid, "admin.save"), 1)
        self.assertGreaterEqual(rx(after, "ping") - rx(mid, "ping"), 1)
        self.assertEqual(
            metric(after, "sessiond_committed_changes_total")
            - metric(mid, "sessiond_committed_changes_total"), 6)
        tx_ok = (metric(after, "sessiond_messages_sent_total", 0, type="ok")
                 - metric(mid, "sessiond_messages_sent_total", 0, type="ok"))
        self.assertGreaterEqual(tx_ok, 7)
        self.assertGreater(metric(after, "sessiond_messages_sent_total", 0, type="node"), 0)
        self.assertGreater(metric(after, "sessiond_bytes_sent_total"),
                           metric(mid, "sessiond_bytes_sent_total"))
        self.assertGreater(metric(after, "sessiond_bytes_received_total"),
                           metric(mid, "sessiond_bytes_received_total"))
        self.assertGreater(metric(after, "sessiond_commit_seconds_count"),
                           metric(mid, "sessiond_commit_seconds_count"))
        # the save, counted with its reason, and its duration
        self.assertEqual(saves(after, "admin") - saves(mid, "admin"), 1)
        self.assertEqual(metric(after, "sessiond_saves_total", reason="admin", result="failed"),
                         0)
        self.assertEqual(metric(after, "sessiond_save_seconds_count")
                         - metric(mid, "sessiond_save_seconds_count"), 1)
        self.assertLess(abs(metric(after, "sessiond_last_save_timestamp_seconds")
                            - time.time()), 30)
        # per-session gauges
        self.assertEqual(metric(after, "sessiond_backups", session="m.one"), 1)
        self.assertEqual(metric(after, "sessiond_backups", session="m-two"), 0)
        bdir = os.path.join(srv.session_dir("m.one"), "backups")
        self.assertEqual(len([f for f in os.listdir(bdir) if BACKUP_RE.match(f)]), 1)
        self.assertEqual(os.listdir(bdir).count(save["backup"]), 1)
        self.assertGreater(metric(after, "sessiond_database_bytes", session="m.one"), 0)
        self.assertEqual(metric(after, "sessiond_session_seq", session="m.one"), last["seq"])
        # a disconnect after a change: connections gauge drops, the leave
        # save is counted (a leave with nothing new is not saved)
        await must(alice, "node.create", uuid="late", kind="Object", data={})
        await alice.close()
        deadline = time.monotonic() + TIMEOUT
        while True:
            late = await self.scrape(srv)
            if (saves(late, "user_disconnect") > saves(after, "user_disconnect")
                    or time.monotonic() > deadline):
                break
            await asyncio.sleep(0.05)
        self.assertEqual(metric(late, "sessiond_connections"), 2)
        self.assertEqual(metric(late, "sessiond_session_connections", session="m.one"), 1)
        self.assertEqual(saves(late, "user_disconnect") - saves(after, "user_disconnect"), 1)
        self.assertEqual(metric(late, "sessiond_backups", session="m.one"), 2)


# ======================================================================
class AdminApiTest(ServerTestCase):
    server_args = ADMIN_ARGS

    ROUTES = (("GET", "/api/sessions"), ("GET", "/api/sessions/alpha"),
              ("POST", "/api/sessions/alpha/save"), ("GET", "/api/sessions/alpha/backups"))

    def json_error(self, status, headers, body, want):
        self.assertEqual(status, want, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"),
                        headers)
        doc = json.loads(body)
        self.assertIsInstance(doc.get("error"), str, doc)
        self.assertTrue(doc["error"])
        self.assertIsInstance(doc.get("code"), str, doc)
        return doc

    async def test_authorisation(self):
        for method, path in self.ROUTES:
            # A server of its own per route: five wrong tokens per route
            # would otherwise lock the address out (10 failures, PROTOCOL.md 1).
            srv = self.server()
            await self.joined(srv, "alice", "alpha")
            with self.subTest(route=f"{method} {path}"):
                st, h, b = await http_async(srv, method, path)
                self.json_error(st, h, b, 401)
                self.assertTrue(h.get("www-authenticate", "").startswith("Bearer"), h)
                for auth in (f"Bearer {ADMIN_PW}x", "Bearer ", f"Basic {ADMIN_PW}",
                             ADMIN_PW, f"Bearer {ADMIN_PW[:-1]}"):
                    st, h, b = await http_async(srv, method, path, auth=auth)
                    self.json_error(st, h, b, 403)
                st, h, b = await http_async(srv, method, path, token=ADMIN_PW)
                self.assertEqual(st, 200, b)
                self.assertTrue(h.get("content-type", "").startswith("application/json"))
                json.loads(b)
        # unknown sessions and routes are 401 without the token too (auth first)
        st, h, b = await http_async(srv, "GET", "/api/sessions/nope")
        self.json_error(st, h, b, 401)
        # the failures are logged, the password never
        wait_log_words(srv, "admin api", "wrong")
        self.assertFalse(any(ADMIN_PW in l for l in srv.lines))

    async def test_routes(self):
        srv = self.server()
        root, w, _, _ = await self.joined(srv, "root", "alpha", admin_password=ADMIN_PW)
        alice, _, _, _ = await self.joined(srv, "alice", "alpha")
        await must(alice, "node.create", uuid="a1", kind="Object", data={})
        last = await must(alice, "node.create", uuid="a2", kind="Object", data={})
        await self.joined(srv, "bob", "beta")
        t = dict(token=ADMIN_PW)
        # GET /api/sessions
        st, _, b = await http_async(srv, "GET", "/api/sessions", **t)
        self.assertEqual(st, 200, b)
        doc = json.loads(b)
        self.assertEqual(set(doc), {"sessions"})
        by = {s["session"]: s for s in doc["sessions"]}
        self.assertEqual(set(by), {"alpha", "beta"})
        ws_stats = (await must(root, "admin.stats"))
        for s in by.values():
            self.assertEqual(set(s), set(ws_stats) - {"type", "re"}, s)
        self.assertEqual((by["alpha"]["nodes"], by["alpha"]["users_online"],
                          by["alpha"]["seq"], by["alpha"]["epoch"]),
                         (2, 2, last["seq"], w["epoch"]))
        self.assertEqual(by["beta"]["users_online"], 1)
        # GET /api/sessions/NAME
        st, _, b = await http_async(srv, "GET", "/api/sessions/alpha", **t)
        self.assertEqual(st, 200, b)
        one = json.loads(b)
        self.assertEqual(set(one), set(ws_stats) - {"type", "re"})
        self.assertEqual((one["session"], one["nodes"], one["seq"], one["last_save"]),
                         ("alpha", 2, last["seq"], None))
        # POST /api/sessions/NAME/save: answered when the save is done
        mark = len(srv.lines)
        st, _, b = await http_async(srv, "POST", "/api/sessions/alpha/save", **t)
        self.assertEqual(st, 200, b)
        sv = json.loads(b)
        self.assertEqual(set(sv), {"session", "backup", "bytes", "ms"})
        self.assertEqual(sv["session"], "alpha")
        self.assertRegex(sv["backup"], BACKUP_RE)
        self.assertIsInstance(sv["ms"], int)
        path = os.path.join(srv.session_dir("alpha"), "backups", sv["backup"])
        self.assertEqual(os.path.getsize(path), sv["bytes"])
        wait_log_words(srv, "admin api", "save", "alpha", start=mark)
        st, _, b = await http_async(srv, "GET", "/api/sessions/alpha", **t)
        ls = json.loads(b)["last_save"]
        self.assertEqual((ls["backup"], ls["reason"], ls["bytes"]),
                         (sv["backup"], "admin", sv["bytes"]))
        # GET /api/sessions/NAME/backups
        st, _, b = await http_async(srv, "GET", "/api/sessions/alpha/backups", **t)
        self.assertEqual(st, 200, b)
        bk = json.loads(b)
        self.assertEqual(bk["session"], "alpha")
        self.assertEqual(bk["backups"], (await must(root, "admin.backups"))["backups"])
        self.assertEqual([(x["file"], x["reason"]) for x in bk["backups"]],
                         [(sv["backup"], "admin")])
        st, _, b = await http_async(srv, "GET", "/api/sessions/beta/backups", **t)
        self.assertEqual(json.loads(b), {"session": "beta", "backups": []})
        # the WebSocket members were not disturbed
        await must(alice, "ping")
        # unknown session: 404 on every session route, and nothing is created
        for method, path in (("GET", "/api/sessions/nope"), ("POST", "/api/sessions/nope/save"),
                             ("GET", "/api/sessions/nope/backups")):
            st, h, b = await http_async(srv, method, path, **t)
            self.json_error(st, h, b, 404)
        self.assertFalse(os.path.exists(srv.session_dir("nope")))
        # unknown routes
        for method, path in (("GET", "/api/nothing"), ("GET", "/api/sessions/alpha/nothing"),
                             ("GET", "/api")):
            st, h, b = await http_async(srv, method, path, **t)
            self.json_error(st, h, b, 404)

    async def test_wrong_method(self):
        srv = self.server()
        await self.joined(srv, "alice", "alpha")
        t = dict(token=ADMIN_PW)
        for method, path in (("POST", "/api/sessions"), ("POST", "/api/sessions/alpha"),
                             ("GET", "/api/sessions/alpha/save"),
                             ("POST", "/api/sessions/alpha/backups"),
                             ("PUT", "/api/sessions/alpha"), ("PUT", "/api/sessions"),
                             ("DELETE", "/api/sessions/alpha/save")):
            with self.subTest(route=f"{method} {path}"):
                st, h, b = await http_async(srv, method, path, **t)
                self.assertEqual(st, 405, f"{method} {path}: {st} {b[:200]!r}")
                self.json_error(st, h, b, 405)

    async def test_no_admin_password_is_404(self):
        srv = self.server(args=())
        await self.joined(srv, "alice", "alpha")
        for method, path in self.ROUTES + (("GET", "/api/sessions/nope"), ("GET", "/api/x")):
            for kw in ({}, {"token": ""}, {"token": ADMIN_PW}, {"auth": "Basic eA=="}):
                with self.subTest(route=f"{method} {path}", kw=kw):
                    st, h, b = await http_async(srv, method, path, **kw)
                    self.json_error(st, h, b, 404)
                    self.assertNotIn("www-authenticate", h)
        bdir = os.path.join(srv.session_dir("alpha"), "backups")
        self.assertEqual([f for f in (os.listdir(bdir) if os.path.isdir(bdir) else [])
                          if f.endswith(".db")], [], "a refused save must not run")
        # health and metrics stay open
        self.assertEqual((await http_async(srv, "GET", "/healthz"))[0], 200)
        self.assertEqual((await http_async(srv, "GET", "/metrics"))[0], 200)


def raw_http(srv, data, timeout=TIMEOUT):
    """Writes data (a whole request, bytes) on a new connection; returns
    (status, headers (lower-case names), body bytes) of the answer."""
    import socket
    with socket.create_connection(("127.0.0.1", srv.port), timeout) as sock:
        sock.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed without an answer: {buf!r}")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in
                   (l.split(":", 1) for l in lines[1:])}
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body


class HttpMethodsTest(ServerTestCase):
    """HEAD is answered as GET without a body; a method a route does not
    take gets 405 with Allow; a chunked body gets 411; credentials are
    checked before the body's size."""
    server_args = ADMIN_ARGS

    async def test_head_and_405_with_allow(self):
        srv = self.server()
        await self.joined(srv, "alice", "alpha")
        t = dict(token=ADMIN_PW)
        for path, kw in (("/healthz", {}), ("/metrics", {}), ("/api/sessions", t),
                         ("/api/sessions/alpha", t), ("/api/sessions/alpha/backups", t),
                         ("/", {})):
            with self.subTest(path=path):
                st, h, b = await http_async(srv, "HEAD", path, **kw)
                self.assertEqual(st, 200, b)
                self.assertEqual(b, b"")
                gst, gh, gb = await http_async(srv, "GET", path, **kw)
                self.assertEqual(gst, 200)
                self.assertEqual(h.get("content-type"), gh.get("content-type"))
        for method, path, kw, allow in (
                ("POST", "/healthz", {}, "GET, HEAD"), ("PUT", "/healthz", {}, "GET, HEAD"),
                ("POST", "/metrics", {}, "GET, HEAD"), ("DELETE", "/metrics", {}, "GET, HEAD"),
                ("POST", "/api/sessions", t, "GET, HEAD"),
                ("POST", "/api/sessions/alpha", t, "GET, HEAD, DELETE"),
                ("PATCH", "/api/sessions/alpha", t, "GET, HEAD, DELETE"),
                ("GET", "/api/sessions/alpha/save", t, "POST"),
                ("HEAD", "/api/sessions/alpha/restore", t, "POST"),
                ("POST", "/api/sessions/alpha/backups", t, "GET, HEAD"),
                ("POST", "/", {}, "GET, HEAD")):
            with self.subTest(route=f"{method} {path}"):
                st, h, b = await http_async(srv, method, path, **kw)
                self.assertEqual(st, 405, b)
                self.assertEqual(h.get("allow"), allow, h)
        # the server still serves
        self.assertEqual((await http_async(srv, "GET", "/healthz"))[0], 200)

    async def test_chunked_restore_gets_411(self):
        srv = self.server()
        await self.joined(srv, "alice", "alpha")
        body = b'{"backup":"snapshot_20260101_000000.db"}'
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)

        def request(auth):
            return raw_http(srv, b"POST /api/sessions/alpha/restore HTTP/1.1\r\n"
                            b"Host: x\r\nTransfer-Encoding: chunked\r\n" + auth +
                            b"Content-Type: application/json\r\n\r\n" + chunked)

        st, _, b = await asyncio.to_thread(request, b"Authorization: Bearer " +
                                           ADMIN_PW.encode() + b"\r\n")
        self.assertEqual(st, 411, b)
        self.assertIn("Content-Length", json.loads(b)["error"])
        st, _, b = await asyncio.to_thread(request, b"")
        self.assertEqual(st, 401, b)
        self.assertEqual((await http_async(srv, "GET", "/healthz"))[0], 200)

    async def test_credentials_before_body_size(self):
        srv = self.server()
        await self.joined(srv, "alice", "alpha")
        big = b"x" * 70000
        for kw, want in (({}, 401), ({"token": ADMIN_PW + "x"}, 403),
                         ({"token": ADMIN_PW}, 413)):
            with self.subTest(kw=kw):
                st, _, b = await http_async(srv, "POST", "/api/sessions/alpha/restore",
                                            body=big, **kw)
                self.assertEqual(st, want, b)


class ClosedSessionApiTest(ServerTestCase):
    """Looking at a session closed while idle does not open it again."""
    server_args = ADMIN_ARGS + ("--session-idle-close", "1")

    async def test_get_closed_session_answers_from_disk(self):
        srv = self.server()
        root, _, _, _ = await self.joined(srv, "root", "alpha", admin_password=ADMIN_PW)
        await must(root, "node.create", uuid="a", kind="Object", data={})
        await root.close()
        # the idle close saves what changed, then closes the database
        await asyncio.to_thread(srv.wait_for_log, "Session closed after", 15)
        self.assertTrue(any("Session closed after" in l for l in srv.lines), srv.log())
        saved = [l for l in srv.lines if "Session saved (session=alpha" in l]
        self.assertTrue(saved, srv.log())
        t = dict(token=ADMIN_PW)
        mark = len(srv.lines)
        for _ in range(2):
            st, _, b = await http_async(srv, "GET", "/api/sessions/alpha", **t)
            self.assertEqual(st, 200, b)
            one = json.loads(b)
            self.assertEqual((one["session"], one["loaded"], one["failed"]),
                             ("alpha", False, False), one)
            self.assertIsNotNone(one["last_save"], one)
            self.assertIn(one["last_save"]["backup"], saved[-1])
            self.assertIn(f"reason={one['last_save']['reason']} ", saved[-1])
            listed = {x["session"]: x for x in json.loads(
                (await http_async(srv, "GET", "/api/sessions", **t))[2])["sessions"]}
            self.assertEqual(listed["alpha"], one)
            st, _, b = await http_async(srv, "GET", "/api/sessions/alpha/backups", **t)
            self.assertEqual(st, 200, b)
            self.assertEqual([x["file"] for x in json.loads(b)["backups"]],
                             [one["last_save"]["backup"]])
        health = json.loads((await http_async(srv, "GET", "/healthz"))[2])
        self.assertEqual(health["sessions"], 0, health)
        self.assertFalse(any("opened again" in l for l in srv.lines[mark:]), srv.log())


if __name__ == "__main__":
    unittest.main()
