#!/usr/bin/python3
"""Retake the screenshots of the add-on's guide (clients/blender/README.md)
from Blender 3.4+ with a window on a virtual display (Debian's xvfb-run):

    tools/blender_screenshots/shoot.py [SESSIOND_BINARY] [OUTPUT_DIR]

(defaults: build/sessiond and clients/blender/images). It starts sessiond
on a free port, a headless Blender as the colleague "ann" (in_blender.py
peer) and a Blender with a window as "bob" (in_blender.py shoot), which
writes one PNG per step of the guide.
"""

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "tests", "blender"))

import blender_run  # noqa: E402
from harness import Server  # noqa: E402


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "sessiond")
    out = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                          os.path.join(REPO, "clients", "blender", "images"))
    os.makedirs(out, exist_ok=True)
    os.environ["SESSIOND"] = os.path.abspath(binary)
    tmp = tempfile.mkdtemp(prefix="sessiond-shots-")
    srv = Server(["--admin-password", "adm"]).start()
    script = os.path.join(HERE, "in_blender.py")
    procs = []
    try:
        peer = blender_run.Blender(script, ["peer", srv.port, os.path.join(tmp, "a"), out], "ann")
        procs.append(peer)
        peer.result("ready")
        # Its own Blender settings and cache: what Connect saves stays here.
        shot = blender_run.Blender(script, ["shoot", srv.port, os.path.join(tmp, "b"), out],
                                   "bob", window=True, options=["--enable-event-simulate"],
                                   env={"BLENDER_USER_CONFIG": os.path.join(tmp, "config"),
                                        "XDG_CACHE_HOME": os.path.join(tmp, "xdg-cache")})
        procs.append(shot)
        r = shot.result("shots", timeout=300)
        for name in r["files"]:
            print(os.path.join(out, name))
        if shot.wait(120) != 0:
            print(shot.log(), file=sys.stderr)
            return 1
        return 0
    finally:
        for p in procs:
            p.kill()
        srv.stop()
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
