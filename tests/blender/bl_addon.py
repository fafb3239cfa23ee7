"""Run inside `blender -b -- ZIP PORT SESSION CACHE`: install the packaged
add-on the way an artist does (Preferences -> Add-ons -> Install), enable
it, and drive it through its operators and its timer callback: connect,
chat, create a task linked to the active object, disconnect."""

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scene_util import args, done  # noqa: E402  (only args/done: not the source tree add-on)

import bpy  # noqa: E402


def main():
    zip_path, port, session, cache = args()[:4]
    # The source tree must not shadow the installed copy.
    sys.path[:] = [p for p in sys.path if not p.endswith(os.path.join("clients", "blender"))]
    bpy.ops.preferences.addon_install(filepath=zip_path, overwrite=True)
    bpy.ops.preferences.addon_enable(module="sessiond_blender")
    import sessiond_blender as sb
    from sessiond_blender import api, ui
    installed_from = os.path.dirname(sb.__file__)
    try:
        sb.connect("127.0.0.1", int(port), session, "intruder", admin_password="wrong",
                   cache_dir=cache)
        refused = None
    except sb.Error as e:
        refused = [e.code, str(e)]
    # A kind that is not shared: the panel says so, and why.
    blob = bpy.data.objects.new("Blob", bpy.data.pointclouds.new("Blob"))
    bpy.context.scene.collection.objects.link(blob)
    st = bpy.context.window_manager.sessiond
    st.host, st.port, st.session, st.user = "127.0.0.1", int(port), session, "panel-user"
    st.admin_password = "adm"
    st.color = (0.0, 0.5, 1.0)
    bpy.ops.sessiond.connect()          # execute(): the confirmation is invoke()'s
    s = api.active()
    s.client.cache_dir = cache

    def tick_until(pred, what, limit=3000):
        for _ in range(limit):
            if pred():
                return
            ui._tick()
            s.client.pump(0.01)
        raise TimeoutError(what + "; status: " + s.status)
    tick_until(lambda: s.joined, "join")
    status = s.status
    st.chat_text = "hello from the panel"
    bpy.ops.sessiond.send_chat()
    tick_until(lambda: any(m["text"] == "hello from the panel" for m in s.chat), "chat")
    for i in range(4):
        s.send_chat("line %d" % i)
    s.client.chat[:] = s.client.chat[-1:]     # as after a join with a short history
    bpy.ops.sessiond.chat_history()
    tick_until(lambda: len(s.chat) == 5, "older chat")
    history = [m["text"] for m in s.chat]
    cube = bpy.data.objects["Cube"]
    bpy.context.view_layer.objects.active = cube
    st.task_title = "Bevel the cube"
    bpy.ops.sessiond.create_task()
    tick_until(lambda: s.tasks, "task")
    task = s.tasks[0]
    # The panels' draw code, on a layout that records what it is asked to
    # show (no window in background mode).
    shown, icons, operators = [], [], []

    class Layout:
        def __getattr__(self, name):
            def call(*a, **kw):
                if name == "label":
                    shown.append(kw.get("text", ""))
                    icons.append(kw.get("icon", "NONE"))
                if name == "operator":
                    operators.append(kw.get("text", a[0]))
                    return type("Props", (), {})()
                return self
            return call
    import types
    for panel in (ui.SESSIOND_PT_session, ui.SESSIOND_PT_users, ui.SESSIOND_PT_locks,
                  ui.SESSIOND_PT_tasks,
                  ui.SESSIOND_PT_chat, ui.SESSIOND_PT_not_shared, ui.SESSIOND_PT_admin):
        panel.draw(types.SimpleNamespace(layout=Layout()), bpy.context)
    bpy.ops.sessiond.save()
    tick_until(lambda: any(t.startswith("saved snapshot_") for _, t in s.messages), "save")
    bpy.ops.sessiond.backups()
    tick_until(lambda: st.backups, "backups")
    role = s.client.role
    backups = st.backups.splitlines()
    cube_uuid = s.uuid_of(cube)
    blob_uuid, not_shared = s.uuid_of(blob), sb.not_shared()
    bpy.ops.wm.read_homefile()          # opening another file leaves the session
    left = s.client.status
    s = api.active() or s
    done("addon", installed_from=installed_from, status=status, task=task, role=role,
         refused=refused, shown=shown, icons=icons, operators=operators, history=history,
         backups=backups,
         left=left, saved=[t for _, t in s.messages if t.startswith("saved")],
         cube=cube_uuid, blob_uuid=blob_uuid, not_shared=not_shared, color=s.client.color, colour_users=s.users,
         version=list(sb.bl_info["version"]))


try:
    main()
except Exception:
    done("error", trace=traceback.format_exc())
    sys.stdout.flush()
    os._exit(1)
