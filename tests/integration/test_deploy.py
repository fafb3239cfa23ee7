#!/usr/bin/python3
"""Deployment files: Dockerfile, docker-compose.yml, .env.example and the
systemd unit (tools/sessiond.service).

Run:  SESSIOND=build/sessiond /usr/bin/python3 tests/integration/test_deploy.py -v

There is no Docker engine on the test machines: the Dockerfile's build stage
is run by hand (its COPY lines into a scratch directory, its RUN lines
there), and the files are checked for what an operator relies on: the image
holds sessionctl, empty passwords do not break the start, a stop waits for the
shutdown save, the data is a volume, `.env.example` lists every setting of
`sessiond --help` with its default. `systemd-analyze verify` checks the unit
when systemd is installed.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                                     # noqa: E402
from harness import ServerTestCase                 # noqa: E402

try:
    import yaml
except ImportError:                                # tools/test installs python3-yaml
    yaml = None

REPO = harness.REPO
SHUTDOWN_SAVE_S = 60      # a stop must wait at least this long for the final save


def read(*p):
    with open(os.path.join(REPO, *p)) as f:
        return f.read()


def help_settings():
    """[(ENV, default, meaning)] from `sessiond --help`."""
    out = subprocess.run([harness.binary_path(), "--help"], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s+--[a-z-]+\s+([A-Z_]+)\s+(.*) \(default: (.*)\)$", line)
        if m:
            rows.append((m.group(1), "" if m.group(3) == "empty" else m.group(3), m.group(2)))
    return rows


def env_example():
    """{NAME: (value, comment above it)} from .env.example."""
    out, comment = {}, []
    for line in read(".env.example").splitlines():
        if line.startswith("#"):
            comment.append(line[1:].strip())
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = (v, " ".join(comment))
            comment = []
        else:
            comment = []
    return out


def seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m|min)?", str(v).strip())
    if not m:
        raise AssertionError(f"not a duration: {v!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return {"ms": n / 1000, "s": n, "m": n * 60, "min": n * 60}[unit]


def dockerfile_stages():
    """[[(instruction, argument)]] per FROM, continuation lines joined."""
    stages, logical = [], ""
    for line in read("Dockerfile").splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        logical += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        instr, _, arg = logical.strip().partition(" ")
        logical = ""
        if instr.upper() == "FROM":
            stages.append([])
        stages[-1].append((instr.upper(), arg.strip()))
    return stages


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        self.build, self.run_stage = dockerfile_stages()
        self.text = read("Dockerfile")

    def test_runtime_image(self):
        instrs = dict((i, a) for i, a in self.run_stage)
        copies = [a for i, a in self.run_stage if i == "COPY"]
        self.assertTrue(any("--from=build" in c and "/build/sessionctl" in c for c in copies),
                        "the image must contain sessionctl")
        self.assertTrue(any("/build/sessiond" in c for c in copies))
        self.assertTrue(any("tools/cron-backup" in c for c in copies))
        self.assertEqual(instrs["STOPSIGNAL"], "SIGTERM")
        self.assertIn("/healthz", instrs["HEALTHCHECK"])
        self.assertIn("DATA_DIR=/data", instrs["ENV"])
        self.assertIn("/data", instrs["VOLUME"])
        self.assertNotIn(instrs.get("USER", "root"), ("root", "0"))
        # settings come from the environment only: a flag with an empty
        # value (the old image's --server-password "") would stop the start
        entry = instrs["ENTRYPOINT"]
        self.assertNotIn("password", entry.lower())
        self.assertNotIn("CMD", [i for i, _ in self.run_stage])
        # runtime libraries of both binaries (libcrypto: sessionctl's SHA-256)
        apt = " ".join(a for i, a in self.run_stage if i == "RUN")
        for pkg in ("libsqlite3-0", "libwebsockets17", "libjansson4", "libssl3", "curl"):
            self.assertIn(pkg, apt)

    def test_packages_exist(self):
        if not shutil.which("apt-cache"):
            self.skipTest("no apt-cache")
        for stage in (self.build, self.run_stage):
            for instr, arg in stage:
                if instr != "RUN" or "apt-get install" not in arg:
                    continue
                part = arg.split("apt-get install", 1)[1].split("&&")[0]
                pkgs = [w for w in shlex.split(part) if not w.startswith("-")]
                self.assertTrue(pkgs)
                for p in pkgs:
                    r = subprocess.run(["apt-cache", "show", "--no-all-versions", p],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, f"Dockerfile names unknown package {p}")

    def test_build_stage_commands(self):
        """COPY what the build stage copies into a scratch /src, run its
        RUN lines (but apt-get) there; both binaries must come out."""
        scratch = tempfile.mkdtemp(prefix="sessiond-docker-")
        try:
            src, build = os.path.join(scratch, "src"), os.path.join(scratch, "build")
            os.mkdir(src)
            workdir = src
            ran = 0
            for instr, arg in self.build:
                if instr == "WORKDIR":
                    self.assertEqual(arg, "/src")
                elif instr == "COPY":
                    *froms, to = shlex.split(arg)
                    for f in froms:
                        dst = os.path.join(workdir, to)
                        if to.endswith("/"):
                            dst = os.path.join(dst, os.path.basename(f))
                        os.makedirs(os.path.dirname(dst), exist_ok=True)
                        s = os.path.join(REPO, f)
                        if os.path.isdir(s):
                            shutil.copytree(s, dst)
                        else:
                            shutil.copy(s, dst)
                elif instr == "RUN" and "apt-get" not in arg:
                    cmd = arg.replace("/build", build)
                    r = subprocess.run(cmd, shell=True, cwd=workdir, capture_output=True,
                                       text=True, timeout=600)
                    self.assertEqual(r.returncode, 0, f"RUN {arg}\n{r.stdout}\n{r.stderr}")
                    ran += 1
            self.assertGreater(ran, 0)
            for _, arg in self.run_stage:
                for word in arg.split():
                    if word.startswith("/build/"):
                        path = os.path.join(build, word[len("/build/"):])
                        self.assertTrue(os.access(path, os.X_OK), f"{word} was not built")
            for exe in ("sessiond", "sessionctl"):
                r = subprocess.run([os.path.join(build, exe), "--version"], capture_output=True,
                                   text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(exe, r.stdout)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


@unittest.skipIf(yaml is None, "python3-yaml is not installed")
class ComposeTest(unittest.TestCase):
    def test_compose_file(self):
        doc = yaml.safe_load(read("docker-compose.yml"))
        svc = doc["services"]["sessiond"]
        self.assertEqual(svc["build"], ".")
        self.assertIn("./data:/data", svc["volumes"])
        self.assertEqual(svc["env_file"], ".env")
        self.assertEqual(svc["restart"], "unless-stopped")
        self.assertEqual(svc["environment"]["DATA_DIR"], "/data")
        self.assertEqual(svc["environment"]["HOST"], "0.0.0.0")
        self.assertGreaterEqual(seconds(svc["stop_grace_period"]), SHUTDOWN_SAVE_S)
        self.assertIn(svc.get("stop_signal", "SIGTERM"), ("SIGTERM",))
        self.assertIn("/healthz", " ".join(svc["healthcheck"]["test"]))
        self.assertTrue(any(":5560" in p or "PORT" in p for p in svc["ports"]))


class EnvExampleTest(ServerTestCase):
    def test_every_setting_with_default_and_meaning(self):
        settings = help_settings()
        self.assertGreater(len(settings), 10)
        env = env_example()
        for name, default, _ in settings:
            self.assertIn(name, env, f".env.example lacks {name}")
            value, comment = env[name]
            self.assertEqual(value, default, f".env.example: {name} default")
            self.assertTrue(comment.startswith(name + ":"), f".env.example: {name} meaning")
            self.assertIn("default", comment)
        extra = set(env) - {n for n, _, _ in settings} - {"PUBLISH"}
        self.assertEqual(extra, set(), ".env.example names settings sessiond does not know")

    async def test_server_starts_with_the_example_and_empty_passwords(self):
        env = {k: v for k, (v, _) in env_example().items()}
        self.assertEqual((env["SERVER_PASSWORD"], env["ADMIN_PASSWORD"]), ("", ""))
        srv = self.server(args=[], env=env)     # flags for host/port/data dir only
        status, _, body = srv.http_get("/healthz")
        self.assertEqual(status, 200, body)
        c, w, _, _ = await self.joined(srv, "alice")
        self.assertEqual(w["role"], "user")


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.text = read("tools", "sessiond.service")
        self.keys = {}
        for line in self.text.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                self.keys.setdefault(k.strip(), []).append(v.strip())

    def test_points(self):
        k = self.keys
        self.assertEqual(k["User"], ["sessiond"])
        self.assertEqual(k["StateDirectory"], ["sessiond"])
        self.assertIn("DATA_DIR=/var/lib/sessiond", " ".join(k["Environment"]))
        self.assertEqual(k["KillSignal"], ["SIGTERM"])
        self.assertGreaterEqual(seconds(k["TimeoutStopSec"][0]), SHUTDOWN_SAVE_S)
        for opt, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                          ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                          ("PrivateDevices", "yes"), ("RestrictSUIDSGID", "yes"),
                          ("MemoryDenyWriteExecute", "yes"), ("UMask", "0077")):
            self.assertEqual(k.get(opt), [want], opt)
        self.assertIn("@system-service", k["SystemCallFilter"])
        self.assertEqual(k["CapabilityBoundingSet"], [""])

    def test_systemd_analyze_verify(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd is not installed")
        d = tempfile.mkdtemp(prefix="sessiond-unit-")
        try:
            unit = os.path.join(d, "sessiond.service")
            with open(unit, "w") as f:
                f.write(self.text.replace("/usr/local/bin/sessiond",
                                        os.path.abspath(harness.binary_path())))
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("sessiond.service:", r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
