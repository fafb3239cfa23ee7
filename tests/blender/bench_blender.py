"""tools/bench's `blender` scenario: headless Blender processes against a
running server (tools/bench starts it). Prints key=value lines:

  blender_move_p99_ms   one artist moves an object MOVES times; time from the
                        change in Blender A until B's object has it (p99)
  blender_move_p50_ms
  blender_join_ms       a late Blender joins a session holding a GRID^2
                        vertex mesh and a TEXTURE^2 image, until connect()
                        returns with the scene in bpy.data (its digest is
                        checked against the uploader's)
  blender_upload_ms     the first artist's connect() that uploads that scene
  blender_edit_p99_ms   Blender A lifts 100 vertices of a GRID^2 vertex mesh
                        EDITS times; time from the change in A until B's mesh
                        shows it (p99; A waits for it before the next edit)
  blender_edit_p50_ms, blender_edit_max_ms
  blender_edit_wire_kib bytes A sent per edit (mean; _max_kib the largest),
                        protocol 1.2 chunks: a few chunks of positions
  blender_publish_s_sample_materials, blender_join_s_sample_materials,
  blender_publish_s_every_kind, blender_join_s_every_kind
                        real scenes (bl_real.py): materials_library_vx's
                        sample_materials.blend and a scene holding every kind,
                        published by Blender A's connect() into an empty
                        session, joined by Blender B's connect()
  blender_idle_pump_ms  median pump() (every 1/60 s, as the UI timer) in a
                        Blender holding MANY (1,500) objects, nothing changing
  blender_arrive_500_max_pump_ms
                        the longest pump() of a Blender holding them while
                        the other adds ADD (500) more; _eval_ms: the part of
                        that pump that was Blender's own depsgraph evaluation
                        (without a window the add-on has it done; with one,
                        Blender does it after each change); _addon_ms: the
                        longest pump without that part
  blender_publish_1500_s, blender_join_1500_s
                        connect() publishing MANY objects, joining them
  blender_publish_2000_s, blender_join_2000_s
                        the same with MANY + ADD (2,000) objects

With --release SERIES the Blenders are that release of
tests/blender/bpy-releases as a Python module (build/bpy-SERIES), and the
keys start with blenderSERIES (without dots: blender45_move_p99_ms, ...).

Exit status 0, 1 on failure, 3 when blender (or the release) is not
installed (the scenario is skipped).

usage: bench_blender.py --port P [--moves N] [--edits N] [--grid N] [--texture N]
                        [--tmpdir D] [--release SERIES]
"""

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from blender_run import Blender, blender_path, bpy_dir  # noqa: E402


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument("--grid", type=int, default=448)       # 448^2 = 200,704 vertices
    ap.add_argument("--texture", type=int, default=4096)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--release", default="")
    o = ap.parse_args()
    series = o.release
    key = "blender" + series.replace(".", "")
    if series and not os.path.exists(os.path.join(bpy_dir(series), "installed")):
        print("note=%s: Blender %s as a Python module is not installed in %s "
              "(./tools/test installs it), scenario skipped" % (key, series, bpy_dir(series)))
        return 3
    if not blender_path(series):
        print("note=blender: not installed, scenario skipped")
        return 3

    def out(name, fmt, v):
        print(("%s_%s=" + fmt) % (key, name, v))
    tmp = tempfile.mkdtemp(prefix="bench-blender-", dir=o.tmpdir)
    procs = []
    try:
        args = lambda role, session: [role, o.port, session, os.path.join(tmp, role),
                                      o.moves, o.grid, o.texture]
        m = Blender("bl_bench.py", args("mover", key + "-move"), "mover", series=series)
        procs.append(m)
        m.result("mover-ready", 300)   # the session is initialised: the watcher joins it
        w = Blender("bl_bench.py", args("watcher", key + "-move"), "watcher", series=series)
        procs.append(w)
        mr, wr = m.result("mover", 300), w.result("watcher", 300)
        times, seen = mr["times"], wr["seen"]
        lat = [(seen[str(i + 1)] - t) * 1000 for i, t in enumerate(times) if str(i + 1) in seen]
        out("moves", "%d", len(times))
        out("moves_seen", "%d", len(lat))
        out("move_p50_ms", "%.1f", pct(lat, 50))
        out("move_p99_ms", "%.1f", pct(lat, 99))
        out("move_p90_ms", "%.1f", pct(lat, 90))
        out("move_max_ms", "%.1f", max(lat))
        if os.environ.get("BENCH_BLENDER_VERBOSE"):
            sys.stderr.write("move latencies (ms) in order: %s\n"
                             % " ".join("%.0f" % x for x in lat))
        m.wait(60)
        w.wait(60)

        eargs = lambda role: [role, o.port, key + "-edit", os.path.join(tmp, role),
                              o.edits, o.grid, o.texture]
        e = Blender("bl_bench.py", eargs("editor"), "editor", series=series)
        procs.append(e)
        e.result("editor-ready", 300)
        ew = Blender("bl_bench.py", eargs("edit-watcher"), "edit-watcher", series=series)
        procs.append(ew)
        er, ewr = e.result("editor", 900), ew.result("edit-watcher", 900)
        seen = ewr["seen"]
        lat = [(seen[str(i + 1)] - t) * 1000 for i, t in enumerate(er["times"])
               if str(i + 1) in seen]
        wire = er["wire"]
        out("edits", "%d", len(er["times"]))
        out("edit_p50_ms", "%.1f", pct(lat, 50))
        out("edit_p99_ms", "%.1f", pct(lat, 99))
        out("edit_max_ms", "%.1f", max(lat))
        out("edit_wire_kib", "%.1f", sum(wire) / len(wire) / 1024.0)
        out("edit_wire_max_kib", "%.1f", max(wire) / 1024.0)
        if os.environ.get("BENCH_BLENDER_VERBOSE"):
            sys.stderr.write("edit latencies (ms): %s\nedit bytes sent: %s\n"
                             % (" ".join("%.0f" % x for x in lat), " ".join(map(str, wire))))
        e.wait(60)
        ew.wait(60)

        b = Blender("bl_bench.py", args("big", key + "-join"), "big", series=series)
        procs.append(b)
        br = b.result("big", 600)
        b.wait(60)
        out("join_vertices", "%d", br["vertices"])
        out("join_texture", "%d", o.texture)
        out("join_png_bytes", "%d", br["png_bytes"])
        out("upload_ms", "%.0f", br["upload_ms"])
        j = Blender("bl_bench.py", args("joiner", key + "-join"), "joiner", series=series)
        procs.append(j)
        jr = j.result("joiner", 600)
        j.wait(60)
        if jr["digest"] != br["digest"]:
            print("note=%s: the late joiner's scene differs from the uploader's" % key)
            return 1
        out("join_ms", "%.0f", jr["join_ms"])
        # Many objects: the idle pump, 500 arriving, publish and join (in
        # Debian's blender, as the real scenes).
        for n, add in ((1500, 500), (2000, 0)) if not series else ():
            ma = lambda role: [role, o.port, "%s-many-%d" % (key, n),
                               os.path.join(tmp, "many%d" % n, role), n, add]
            a = Blender("bl_bench.py", ma("many"), "many", series=series)
            procs.append(a)
            mr = a.result("many", 600)
            b = Blender("bl_bench.py", ma("arrive"), "arrive", series=series)
            procs.append(b)
            ar = b.result("arrive", 600)
            a.wait(60)
            b.wait(60)
            if ar["objects"] != n + add:
                print("note=%s: %d objects arrived, not %d" % (key, ar["objects"], n + add))
                return 1
            out("publish_%d_s" % n, "%.2f", mr["publish_s"])
            out("join_%d_s" % n, "%.2f", ar["join_s"])
            if add:
                out("idle_pump_ms", "%.2f", mr["idle_ms"])
                out("idle_pump_max_ms", "%.2f", mr["idle_max_ms"])
                out("arrive_%d_max_pump_ms" % add, "%.1f", ar["max_pump_ms"])
                out("arrive_%d_max_pump_eval_ms" % add, "%.1f", ar["max_pump_eval_ms"])
                out("arrive_%d_max_pump_addon_ms" % add, "%.1f", ar["max_pump_addon_ms"])
        # The real scenes in Debian's blender only: the README's rows are
        # 3.4's, and each costs the bench a minute per release.
        for scene in ("sample_materials", "every-kind") if not series else ():
            name = scene.replace("-", "_")
            ra = lambda role: [role, o.port, key + "-real-" + name, os.path.join(tmp, name, role),
                               scene]
            a = Blender("bl_real.py", ra("a"), name + "-a", series=series)
            procs.append(a)
            pub = a.result("published", 300)
            b = Blender("bl_real.py", ra("b"), name + "-b", series=series)
            procs.append(b)
            joined = b.result("joined", 300)
            after = a.result("after", 300)
            a.wait(60)
            b.wait(60)
            if after["changed"] or joined["addon_digest"] != after["addon_digest"]:
                print("note=%s: %s changed by the join or differs in B" % (key, scene))
                return 1
            out("publish_s_" + name, "%.2f", pub["publish_s"])
            out("join_s_" + name, "%.2f", joined["join_s"])
            out("real_count_" + name, "%d", pub["count"])
        return 0
    except AssertionError as e:
        msg = str(e)
        sys.stderr.write(msg[-3000:] + "\n")
        if "too_large" in msg or "does not support blobs" in msg:
            print("note=%s: the server has no blobs: the join scenario needs them" % key)
            return 3
        return 1
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
