"""Driver side helpers: start `blender -b` processes running one of the
in-Blender scripts, and read their RESULT lines as they come."""

import json
import os
import queue
import shutil
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def blender_path():
    return os.environ.get("BLENDER") or shutil.which("blender")


def xvfb_path():
    return shutil.which("xvfb-run")


class Blender:
    """One `blender -b --factory-startup --python SCRIPT -- ARGS` process.
    Lines `RESULT tag json` go to a queue; every line is kept for errors."""

    def __init__(self, script, args, name, env=None, window=False, options=()):
        self.name = name
        cmd = [blender_path(), "-b", "--factory-startup", "--python-exit-code", "1"] + \
            list(options) + ["--python", os.path.join(HERE, script), "--"] + [str(a) for a in args]
        if window:
            # Blender with a window on a virtual X display (Debian's xvfb):
            # the script drives it from bpy.app.timers and quits it.
            cmd = [shutil.which("xvfb-run"), "-a", "-s", "-screen 0 1280x800x24"] + \
                [c for c in cmd if c != "-b"]
        env_extra = env
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update(env_extra or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
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
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("%s did not exit within %.0f s\n%s"
                                 % (self.name, timeout, self.log()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
