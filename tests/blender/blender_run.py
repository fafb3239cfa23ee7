"""Driver side helpers: start Blender processes running one of the
in-Blender scripts, and read their RESULT lines as they come.

Which Blender is the environment's SESSIOND_BLENDER_RELEASE (tests/meson.build
sets it per test): unset or empty, Debian's `blender` (or $BLENDER) run as
`blender -b --factory-startup [FILE] --python SCRIPT -- ARGS`; a release
series such as 4.2, 4.5 or 5, Blender as a Python module (the `bpy` wheel
tools/setup.sh installs into build/bpy-SERIES, or $SESSIOND_BPY_ROOT/bpy-SERIES)
run as `python bpy_main.py [--open FILE] SCRIPT -- ARGS`. Test scripts do not
choose: the same test runs in every release it is registered for."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def release():
    """The release series under test: "" for Debian's blender, else "4.2"..."""
    return os.environ.get("SESSIOND_BLENDER_RELEASE", "")


def describe(series):
    return "Blender %s (bpy module)" % series if series else "Debian's blender"


def bpy_dir(series):
    root = os.environ.get("SESSIOND_BPY_ROOT") or os.path.join(REPO, "build")
    return os.path.join(root, "bpy-" + series)


def blender_path(series=None):
    """The program that runs Blender: blender's binary (None when it is not
    installed), or the interpreter of the release's virtual environment
    (whether or not it is there: a missing one fails the test, with why).
    `series` defaults to release()."""
    series = release() if series is None else series
    if series:
        return os.path.join(bpy_dir(series), "bin", "python")
    return os.environ.get("BLENDER") or shutil.which("blender")


def xvfb_path():
    return shutil.which("xvfb-run")


def command(script, args, blend=None, series=None, window=False, options=()):
    """The command line that runs SCRIPT (in this folder) with ARGS after
    "--", in the release under test (or `series`), FILE.blend opened first
    if given. `window` (Debian's blender only): Blender with a window on a
    virtual X display (Debian's xvfb), the script driving it from
    bpy.app.timers; `options` go to blender before --python."""
    path = os.path.join(HERE, script)
    args = [str(a) for a in args]
    series = release() if series is None else series
    if not series:
        cmd = ([blender_path(""), "-b", "--factory-startup", "--python-exit-code", "1"]
               + list(options) + ([blend] if blend else []) + ["--python", path, "--"] + args)
        if window:
            cmd = [xvfb_path(), "-a", "-s", "-screen 0 1280x800x24"] + \
                [c for c in cmd if c != "-b"]
        return cmd
    if window or options:
        raise AssertionError("a window and Blender options need Debian's blender, not "
                             "Blender %s as a Python module" % series)
    python = blender_path(series)
    if not os.path.exists(os.path.join(bpy_dir(series), "installed")):
        raise AssertionError(
            "Blender %s (the bpy module) is not installed in %s: ./tools/test installs it "
            "(tools/setup.sh, sessiond_install_bpy), and says why when it cannot"
            % (series, bpy_dir(series)))
    return ([python, os.path.join(HERE, "bpy_main.py")] + (["--open", blend] if blend else [])
            + [path, "--"] + args)


class Blender:
    """One Blender process running SCRIPT with ARGS (see command()), FILE.blend
    opened first when `blend` is given, in the release under test or the
    `series` given ("" for Debian's blender), with a window under Xvfb when
    `window`. Lines `RESULT tag json` go to a queue; every line is kept for
    errors."""

    def __init__(self, script, args, name, env=None, blend=None, series=None, window=False,
                 options=()):
        self.name = name
        cmd = command(script, args, blend, series, window, options)
        env_extra = env
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update(env_extra or {})
        # Its own process group: killing it also ends what it started
        # (xvfb-run's Xvfb and Blender), so a failed test leaves nothing.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.lines = []
        self.results = queue.Queue()
        self.all = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if os.environ.get("SESSIOND_SHOW_BLENDER"):
                print("[%s] %s" % (self.name, line), flush=True)
            if line.startswith("RESULT "):
                _, tag, payload = line.split(" ", 2)
                value = json.loads(payload)
                self.all[tag] = value
                self.results.put((tag, value))
        self.proc.stdout.close()
        self.results.put((None, None))

    def log(self, last=60):
        return "---- %s output (last %d lines) ----\n%s\n----" % (
            self.name, last, "\n".join(self.lines[-last:]))

    def result(self, tag, timeout=120.0):
        """Wait for RESULT `tag` (earlier tags are kept in self.all)."""
        if tag in self.all:
            return self.all[tag]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no RESULT %s within %.0f s\n%s"
                                     % (self.name, tag, timeout, self.log()))
            try:
                t, v = self.results.get(timeout=left)
            except queue.Empty:
                continue
            if t is None:
                self.results.put((None, None))
                raise AssertionError("%s exited (%s) before RESULT %s\n%s"
                                     % (self.name, self.proc.poll(), tag, self.log()))
            if t == "error":
                raise AssertionError("%s failed:\n%s" % (self.name, v.get("trace")))
            if t == tag:
                return v

    def wait(self, timeout=60.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.0f s\n%s"
                                 % (self.name, timeout, self.log()))

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


class BlenderTestCase(unittest.TestCase):
    """A test with its own sessiond (started with `server_args`) and
    temporary folder; start() runs a role of `script` in a Blender, each
    with its own blob cache, and every Blender started is killed at the
    end (with what it started)."""
    script = None
    session = "test"
    server_args = ()

    def setUp(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
        from harness import Server
        self.srv = Server(list(self.server_args)).start()
        self.tmp = tempfile.mkdtemp(prefix="sessiond-%s-" % self.session)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, role, window=False, options=(), env=None, args=()):
        """Blender running `script` with ROLE PORT SESSION CACHE ARGS..."""
        p = Blender(self.script, [role, self.srv.port, self.session,
                                  os.path.join(self.tmp, "cache-" + role)] + list(args),
                    "blender-" + role, env=env, window=window, options=options)
        self.procs.append(p)
        return p
