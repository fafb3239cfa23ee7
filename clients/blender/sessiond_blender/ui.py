"""The thin UI: settings, a sidebar panel in the 3D view (connection,
users, tasks, chat, admin), operators, and one bpy.app.timers callback that
pumps the active Session (network in, apply, local changes out).

All work happens in api.Session; this file only shows it and calls it.
"""

import time

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from . import api, presence

TICK = 1.0 / 60.0            # network poll; scans only when something changed
CATEGORY = "sessiond"


def _color_hex(c):
    return "#%02x%02x%02x" % tuple(max(0, min(255, round(v * 255))) for v in c[:3])


class SessiondSettings(bpy.types.PropertyGroup):
    host: StringProperty(name="Host", default="127.0.0.1")
    port: IntProperty(name="Port", default=5560, min=1, max=65535)
    session: StringProperty(name="Session", default="default")
    user: StringProperty(name="User", default="artist")
    color: bpy.props.FloatVectorProperty(name="Colour", subtype="COLOR", size=3, min=0, max=1,
                                         default=(1.0, 0.53, 0.0))
    password: StringProperty(name="Password", subtype="PASSWORD")
    admin_password: StringProperty(name="Admin password", subtype="PASSWORD")
    tls: BoolProperty(name="TLS (wss://)", default=False)
    chat_text: StringProperty(name="Message")
    task_title: StringProperty(name="Title")
    backups: StringProperty(default="")


def settings(context):
    return context.window_manager.sessiond


# -- operators ----------------------------------------------------------------
class SESSIOND_OT_connect(bpy.types.Operator):
    bl_idname = "sessiond.connect"
    bl_label = "Connect"
    bl_description = ("Join the session. If it already holds a scene, everything of your file "
                      "that is shared (objects, meshes, curves, armatures, materials, node "
                      "groups, images, ...) is replaced by it; what is not shared stays local")

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        st = settings(context)
        cur = api.active()
        if cur is not None:
            cur.disconnect()
        s = api.make_session(st.host, st.port, st.session, st.user, st.password,
                             st.admin_password, st.tls, _color_hex(st.color))
        s.bridge.watch_depsgraph = True
        s.begin()
        api._active = s
        ensure_timer()
        return {"FINISHED"}


class SESSIOND_OT_disconnect(bpy.types.Operator):
    bl_idname = "sessiond.disconnect"
    bl_label = "Disconnect"

    def execute(self, context):
        s = api.active()
        if s is not None:
            s.disconnect()
        return {"FINISHED"}


class SESSIOND_OT_send_chat(bpy.types.Operator):
    bl_idname = "sessiond.send_chat"
    bl_label = "Send"

    def execute(self, context):
        s, st = api.active(), settings(context)
        if s is None or not st.chat_text.strip():
            return {"CANCELLED"}
        s.client.request("chat.send", text=st.chat_text)
        st.chat_text = ""
        return {"FINISHED"}


class SESSIOND_OT_chat_history(bpy.types.Operator):
    bl_idname = "sessiond.chat_history"
    bl_label = "Older messages"
    bl_description = "Fetch the 50 chat messages before the oldest one shown"

    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        s.older_chat(50)
        return {"FINISHED"}


class SESSIOND_OT_create_task(bpy.types.Operator):
    bl_idname = "sessiond.create_task"
    bl_label = "Create task"
    bl_description = "Create a task, linked to the active object"

    def execute(self, context):
        s, st = api.active(), settings(context)
        if s is None or not st.task_title.strip():
            return {"CANCELLED"}
        fields = {"title": st.task_title}
        ob = context.active_object
        if ob is not None and s.uuid_of(ob):
            fields["node"] = s.uuid_of(ob)
        s.client.request("task.create", **fields)
        st.task_title = ""
        return {"FINISHED"}


class SESSIOND_OT_task_status(bpy.types.Operator):
    bl_idname = "sessiond.task_status"
    bl_label = "Set task status"
    task: IntProperty()
    status: EnumProperty(items=[("todo", "To do", ""), ("doing", "Doing", ""),
                                ("done", "Done", "")])

    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        s.client.request("task.update", task=self.task, status=self.status)
        return {"FINISHED"}


class SESSIOND_OT_task_assign(bpy.types.Operator):
    bl_idname = "sessiond.task_assign"
    bl_label = "Take task"
    bl_description = "Assign the task to me"
    task: IntProperty()

    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        s.client.request("task.update", task=self.task, assignee=s.client.user)
        return {"FINISHED"}


class SESSIOND_OT_kick(bpy.types.Operator):
    bl_idname = "sessiond.kick"
    bl_label = "Kick"
    user: StringProperty()

    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        s.client.request("admin.kick", user=self.user)
        return {"FINISHED"}


class SESSIOND_OT_save(bpy.types.Operator):
    bl_idname = "sessiond.save"
    bl_label = "Save now"

    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}

        def saved(r):
            if r.ok:
                s.bridge.message("saved %s (%d bytes, %d ms)" % (
                    r.reply.get("backup"), r.reply.get("bytes", 0), r.reply.get("ms", 0)))
        s.client.request("admin.save", callback=saved)
        return {"FINISHED"}


class SESSIOND_OT_backups(bpy.types.Operator):
    bl_idname = "sessiond.backups"
    bl_label = "List backups"

    def execute(self, context):
        s, st = api.active(), settings(context)
        if s is None:
            return {"CANCELLED"}

        def listed(r):
            if r.ok:
                st.backups = "\n".join("%s  %s  %d bytes" % (b.get("file"), b.get("reason", ""),
                                                             b.get("bytes", 0))
                                       for b in r.reply.get("backups", []))
        s.client.request("admin.backups", callback=listed)
        return {"FINISHED"}


# -- panels -------------------------------------------------------------------
class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class SESSIOND_PT_session(_Panel, bpy.types.Panel):
    bl_label = "Session"

    def draw(self, context):
        st, s = settings(context), api.active()
        col = self.layout.column()
        connected = s is not None and s.client.status not in ("closed", "error", "idle")
        sub = col.column()
        sub.enabled = not connected
        for prop in ("host", "port", "session", "user", "color", "password", "admin_password",
                     "tls"):
            sub.prop(st, prop)
        row = col.row()
        if connected:
            row.operator("sessiond.disconnect", icon="CANCEL")
        else:
            row.operator("sessiond.connect", icon="URL")
        if s is not None:
            col.label(text=s.status)
            for _, text in s.messages[-3:]:
                col.label(text=text, icon="INFO")


class SESSIOND_PT_users(_Panel, bpy.types.Panel):
    bl_label = "Users"
    bl_parent_id = "SESSIOND_PT_session"

    @classmethod
    def poll(cls, context):
        return api.active() is not None

    def draw(self, context):
        s = api.active()
        for u in s.users:
            row = self.layout.row()
            meta = u.get("metadata") or {}
            text = "%s  %s  %s%s" % (u.get("name"), u.get("color") or "",
                                     "online" if u.get("online") else "offline",
                                     ("  " + meta["mode"]) if meta.get("mode") else "")
            row.label(text=text, icon="USER" if u.get("online") else "BLANK1")
            if s.client.role == "admin" and u.get("online") and u.get("name") != s.client.user:
                row.operator("sessiond.kick", text="", icon="X").user = u.get("name")


class SESSIOND_PT_tasks(_Panel, bpy.types.Panel):
    bl_label = "Tasks"
    bl_parent_id = "SESSIOND_PT_session"

    @classmethod
    def poll(cls, context):
        return api.active() is not None

    def draw(self, context):
        s, st = api.active(), settings(context)
        for t in s.tasks:
            box = self.layout.box()
            node = s.client.nodes.get(t.get("node") or "")
            on = (" (%s)" % node["data"].get("name")) if node else ""
            box.label(text="#%d %s%s" % (t["id"], t["title"], on))
            row = box.row()
            row.label(text="%s, %s" % (t["status"], t.get("assignee") or "unassigned"))
            for status in ("todo", "doing", "done"):
                if status != t["status"]:
                    op = row.operator("sessiond.task_status", text=status)
                    op.task, op.status = t["id"], status
            if t.get("assignee") != s.client.user:
                row.operator("sessiond.task_assign", text="", icon="HAND").task = t["id"]
        row = self.layout.row()
        row.prop(st, "task_title", text="")
        row.operator("sessiond.create_task", text="", icon="ADD")


class SESSIOND_PT_chat(_Panel, bpy.types.Panel):
    bl_label = "Chat"
    bl_parent_id = "SESSIOND_PT_session"

    @classmethod
    def poll(cls, context):
        return api.active() is not None

    def draw(self, context):
        s, st = api.active(), settings(context)
        self.layout.operator("sessiond.chat_history", icon="TRIA_UP")
        col = self.layout.column(align=True)
        for m in s.chat[-12:]:
            col.label(text="%s: %s" % (m.get("user"), m.get("text")))
        row = self.layout.row()
        row.prop(st, "chat_text", text="")
        row.operator("sessiond.send_chat", text="", icon="PLAY")


class SESSIOND_PT_not_shared(_Panel, bpy.types.Panel):
    """What of this file stays local, and why (api.not_shared())."""
    bl_label = "Not shared"
    bl_parent_id = "SESSIOND_PT_session"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        items = api.not_shared()
        col = self.layout.column(align=True)
        if not items:
            col.label(text="everything in this file is shared")
            return
        col.label(text="%d datablocks stay local, never changed:" % len(items))
        for coll, name, why in items[:40]:
            col.label(text="%s %s: %s" % (coll, name, why), icon="UNLINKED")
        if len(items) > 40:
            col.label(text="... and %d more" % (len(items) - 40))


class SESSIOND_PT_admin(_Panel, bpy.types.Panel):
    bl_label = "Admin"
    bl_parent_id = "SESSIOND_PT_session"

    @classmethod
    def poll(cls, context):
        s = api.active()
        return s is not None and s.client.role == "admin"

    def draw(self, context):
        st = settings(context)
        row = self.layout.row()
        row.operator("sessiond.save", icon="FILE_TICK")
        row.operator("sessiond.backups", icon="FILE_REFRESH")
        col = self.layout.column(align=True)
        for line in st.backups.splitlines()[:10]:
            col.label(text=line)


# -- the timer --------------------------------------------------------------
_redraw_at = 0.0


def _tick():
    global _redraw_at
    s = api.active()
    if s is None:
        return 0.5
    try:
        if not s.step():
            s.client.pump(0.0)
        else:
            s.pump(0.0)
    except Exception as e:        # keep the timer alive; say what happened
        s.bridge.message("error: %s" % e)
        if s.client.status == "error":
            return 0.5
    now = time.monotonic()
    if now - _redraw_at > 0.25:
        _redraw_at = now
        _redraw()
    return TICK


def _redraw():
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def ensure_timer():
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.0, persistent=True)


CLASSES = (SessiondSettings, SESSIOND_OT_connect, SESSIOND_OT_disconnect, SESSIOND_OT_send_chat,
           SESSIOND_OT_chat_history,
           SESSIOND_OT_create_task, SESSIOND_OT_task_status, SESSIOND_OT_task_assign,
           SESSIOND_OT_kick, SESSIOND_OT_save, SESSIOND_OT_backups, SESSIOND_PT_session,
           SESSIOND_PT_users, SESSIOND_PT_tasks, SESSIOND_PT_chat, SESSIOND_PT_not_shared,
           SESSIOND_PT_admin)


@bpy.app.handlers.persistent
def _on_depsgraph(*_args):
    """Blender changed something: the next tick scans for local changes."""
    s = api.active()
    if s is not None and not s.bridge.applying:
        s.bridge.local_dirty = True


@bpy.app.handlers.persistent
def _on_load_pre(*_args):
    """Opening another file replaces bpy.data: leave the session first, or
    the new file's datablocks would be taken for local edits."""
    s = api.active()
    if s is not None:
        s.disconnect()


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.WindowManager.sessiond = PointerProperty(type=SessiondSettings)
    bpy.app.handlers.load_pre.append(_on_load_pre)
    bpy.app.handlers.depsgraph_update_post.append(_on_depsgraph)
    presence.register(api.active)


def unregister():
    s = api.active()
    if s is not None:
        s.disconnect()
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    presence.unregister()
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    if _on_depsgraph in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.remove(_on_depsgraph)
    del bpy.types.WindowManager.sessiond
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
