"""The thin UI: settings, a sidebar panel in the 3D view (connection,
users, tasks, chat, admin), operators, and one bpy.app.timers callback that
pumps the active Session (network in, apply, local changes out).

All work happens in api.Session; this file only shows it and calls it.
"""

import textwrap
import time

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from . import api, paths, presence
from .collab import sentence

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
    lock_filter: EnumProperty(name="Show", items=[
        ("all", "All", "Every shared object"),
        ("mine", "Mine", "What I hold"),
        ("others", "Others'", "What the others hold"),
        ("free", "Free", "What nobody holds")], default="all")


def settings(context):
    return context.window_manager.sessiond


# -- operators ----------------------------------------------------------------
class SESSIOND_OT_connect(bpy.types.Operator):
    bl_idname = "sessiond.connect"
    bl_label = "Connect"
    bl_description = ("Connect to the session and look at it: nothing of your file changes "
                      "until you answer what the panel then says (your local scene replaced "
                      "by the session's, or uploaded if you are first)")

    def invoke(self, context, event):
        return self._connect(context, ask=True)

    def execute(self, context):
        # From a script: no question, the join goes ahead.
        return self._connect(context, ask=False)

    def _connect(self, context, ask):
        st = settings(context)
        paths.save_settings(st)
        cur = api.active()
        if cur is not None:
            cur.disconnect()
        s = api.make_session(st.host, st.port, st.session, st.user, st.password,
                             st.admin_password, st.tls, _color_hex(st.color))
        s.bridge.watch_depsgraph = True
        s.asking = ask
        s.begin()
        api._active = s
        ensure_timer()
        return {"FINISHED"}


class SESSIOND_OT_join(bpy.types.Operator):
    bl_idname = "sessiond.join"
    bl_label = "Join"
    bl_description = ("Go ahead: your local scene is replaced by the session's (what is not "
                      "shared stays local), or uploaded if you are first")

    def execute(self, context):
        s = api.active()
        if s is None or not s.asking:
            return {"CANCELLED"}
        s.asking = False
        return {"FINISHED"}


class SESSIOND_OT_join_cancel(bpy.types.Operator):
    bl_idname = "sessiond.join_cancel"
    bl_label = "Cancel"
    bl_description = "Do not join: disconnect, your scene stays as it is"

    def execute(self, context):
        s = api.active()
        if s is None or not s.asking:
            return {"CANCELLED"}
        s.disconnect()
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


def _with_session(fn):
    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        fn(self, s, context)
        return {"FINISHED"}
    return execute


class SESSIOND_OT_snap_view(bpy.types.Operator):
    bl_idname = "sessiond.snap_view"
    bl_label = "Snap view"
    bl_description = "This viewport takes the colleague's view (position, lens, perspective)"
    user: StringProperty()
    execute = _with_session(lambda self, s, c: s.snap_view(self.user))


class SESSIOND_OT_snap_time(bpy.types.Operator):
    bl_idname = "sessiond.snap_time"
    bl_label = "Snap time"
    bl_description = "The current frame takes the colleague's"
    user: StringProperty()
    execute = _with_session(lambda self, s, c: s.snap_time(self.user))


class SESSIOND_OT_follow(bpy.types.Operator):
    bl_idname = "sessiond.follow"
    bl_label = "Follow"
    bl_description = ("Keep this viewport and the current frame on the colleague's "
                      "until you move the view or press Esc (press again to stop)")
    user: StringProperty()

    def invoke(self, context, event):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        if s.following == self.user:
            s.follow(None)
            return {"FINISHED"}
        s.follow(self.user)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        s = api.active()
        if s is None:
            return {"CANCELLED"}
        s.follow(self.user or None)
        return {"FINISHED"}

    def modal(self, context, event):
        s = api.active()
        if s is None or s.following != self.user:
            return {"FINISHED"}
        if event.type == "ESC" and event.value == "PRESS":
            s.follow(None)
            s.bridge.message("stopped following %s" % self.user)
            return {"FINISHED"}
        return {"PASS_THROUGH"}


class SESSIOND_OT_request_lock(bpy.types.Operator):
    bl_idname = "sessiond.request_lock"
    bl_label = "Request lock"
    bl_description = "Ask the colleague who holds it to give it to you"
    node: StringProperty()
    execute = _with_session(lambda self, s, c: s.request_lock(self.node))


class SESSIOND_OT_give_lock(bpy.types.Operator):
    bl_idname = "sessiond.give_lock"
    bl_label = "Give"
    bl_description = "Let go of it: the colleague who asked gets it"
    node: StringProperty()
    user: StringProperty()
    execute = _with_session(lambda self, s, c: s.give_lock(self.node, self.user))


class SESSIOND_OT_refuse_lock(bpy.types.Operator):
    bl_idname = "sessiond.refuse_lock"
    bl_label = "Refuse"
    bl_description = "Keep it; the colleague is told"
    node: StringProperty()
    user: StringProperty()
    execute = _with_session(lambda self, s, c: s.refuse_lock(self.node, self.user))


class SESSIOND_OT_release_lock(bpy.types.Operator):
    bl_idname = "sessiond.release_lock"
    bl_label = "Release"
    bl_description = "Admin: take the lock away from whoever holds it"
    node: StringProperty()
    execute = _with_session(lambda self, s, c: s.release_lock(self.node))


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


# Blender's colour-tag icons and their colours: a user's colour is shown
# as the nearest one (a swatch; the sidebar has no room for "#ff3333").
_SWATCHES = [("SEQUENCE_COLOR_01", (0.88, 0.33, 0.33)), ("SEQUENCE_COLOR_02", (0.95, 0.62, 0.25)),
             ("SEQUENCE_COLOR_03", (0.93, 0.85, 0.33)), ("SEQUENCE_COLOR_04", (0.45, 0.78, 0.35)),
             ("SEQUENCE_COLOR_05", (0.36, 0.6, 0.9)), ("SEQUENCE_COLOR_06", (0.6, 0.42, 0.85)),
             ("SEQUENCE_COLOR_07", (0.85, 0.45, 0.7)), ("SEQUENCE_COLOR_08", (0.55, 0.4, 0.3)),
             ("SEQUENCE_COLOR_09", (0.5, 0.5, 0.5))]
_MODE_ICONS = {"OBJECT": "OBJECT_DATAMODE", "EDIT_MESH": "EDITMODE_HLT", "SCULPT": "SCULPTMODE_HLT",
               "POSE": "POSE_HLT", "PAINT_TEXTURE": "TPAINT_HLT", "PAINT_VERTEX": "VPAINT_HLT",
               "PAINT_WEIGHT": "WPAINT_HLT"}


def swatch_icon(color):
    """The colour-tag icon nearest to a "#rrggbb" colour."""
    try:
        rgb = [int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5)]
    except (TypeError, ValueError, IndexError):
        return "SEQUENCE_COLOR_09"
    return min(_SWATCHES, key=lambda s: sum((a - b) ** 2 for a, b in zip(rgb, s[1])))[0]


def mode_icon(mode):
    if not mode:
        return "BLANK1"
    return _MODE_ICONS.get(mode, "EDITMODE_HLT" if mode.startswith("EDIT") else "OBJECT_DATAMODE")


def wrapped(layout, text, icon="NONE", context=None):
    """A long text over as many labels as the sidebar's width needs."""
    width = getattr(getattr(context, "region", None), "width", 0) or 300
    chars = max(16, int(width / 7.5) - 4)
    col = layout.column(align=True)
    for i, line in enumerate(textwrap.wrap(text, chars) or [""]):
        col.label(text=line, icon=icon if i == 0 else ("BLANK1" if icon != "NONE" else "NONE"))


def status_icon(s):
    st = s.client.status
    return {"connected": "CHECKMARK", "error": "ERROR", "reconnecting": "FILE_REFRESH",
            "closed": "CANCEL"}.get(st, "SORTTIME")


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
        question = s.join_question() if s is not None and s.asking else None
        if question:
            box = col.box()
            wrapped(box, question + ".", "QUESTION", context)
            row = box.row(align=True)
            first = question.startswith("You are first")
            row.operator("sessiond.join", text="Upload" if first else "Join",
                         icon="EXPORT" if first else "IMPORT")
            row.operator("sessiond.join_cancel", icon="CANCEL")
        if s is not None:
            wrapped(col, s.status, status_icon(s), context)
            for _, text in s.messages[-3:]:
                wrapped(col, text, "INFO", context)


class SESSIOND_PT_users(_Panel, bpy.types.Panel):
    bl_label = "Users"
    bl_parent_id = "SESSIOND_PT_session"

    @classmethod
    def poll(cls, context):
        return api.active() is not None

    def draw(self, context):
        s = api.active()
        for u in s.users:
            name = u.get("name")
            row = self.layout.row(align=True)
            meta = u.get("metadata") or {}
            row.label(text="", icon=swatch_icon(u.get("color")))
            row.label(text=name, icon="USER" if u.get("online") else "GHOST_DISABLED")
            row.label(text="", icon=mode_icon(meta.get("mode") if u.get("online") else None))
            if u.get("online") and name != s.client.user:
                row.operator("sessiond.snap_view", text="", icon="HIDE_OFF").user = name
                row.operator("sessiond.snap_time", text="", icon="TIME").user = name
                row.operator("sessiond.follow", text="", icon="TRACKING",
                             depress=s.following == name).user = name
                if s.client.role == "admin":
                    row.operator("sessiond.kick", text="", icon="X").user = name


class SESSIOND_PT_locks(_Panel, bpy.types.Panel):
    """What I hold, what others hold, requests for mine (Give, Refuse)."""
    bl_label = "Locks"
    bl_parent_id = "SESSIOND_PT_session"

    @classmethod
    def poll(cls, context):
        return api.active() is not None

    def draw(self, context):
        s, st = api.active(), settings(context)
        for user, u in s.lock_requests:
            box = self.layout.box()
            n = s.client.nodes.get(u) or {}
            wrapped(box, "%s asks for %s" % (user, (n.get("data") or {}).get("name", u)),
                    "QUESTION", context)
            row = box.row(align=True)
            op = row.operator("sessiond.give_lock", icon="CHECKMARK")
            op.node, op.user = u, user
            op = row.operator("sessiond.refuse_lock", icon="CANCEL")
            op.node, op.user = u, user
        self.layout.row().prop(st, "lock_filter", expand=True)
        col = self.layout.column(align=True)
        items = s.locks(st.lock_filter)
        me, admin = s.client.user, s.client.role == "admin"
        for u, name, _kind, owner in items[:30]:
            row = col.row(align=True).split(factor=0.45, align=True)   # room for the name
            if owner:
                colour = (s.client.users.get(owner) or {}).get("color")
                row.label(text=name, icon=swatch_icon(colour))
                row.label(text="me" if owner == me else owner, icon="LOCKED")
            else:
                row.label(text=name, icon="BLANK1")
                row.label(text="free", icon="UNLOCKED")
            if owner and owner != me:
                asked = u in s.collab.requests
                row.operator("sessiond.request_lock", text="Asked" if asked else "Request",
                             depress=asked).node = u
            if owner and admin:
                row.operator("sessiond.release_lock", text="", icon="UNLOCKED").node = u
        if len(items) > 30:
            col.label(text="... and %d more" % (len(items) - 30))
        if not items:
            col.label(text="nothing here")


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
            wrapped(box, "#%d %s%s" % (t["id"], t["title"], on), "NONE", context)
            box.label(text=t.get("assignee") or "unassigned",
                      icon={"todo": "CHECKBOX_DEHLT", "doing": "SORTTIME",
                            "done": "CHECKBOX_HLT"}.get(t["status"], "BLANK1"))
            row = box.row(align=True)
            for status, label in (("todo", "To do"), ("doing", "Doing"), ("done", "Done")):
                if status != t["status"]:
                    op = row.operator("sessiond.task_status", text=label)
                    op.task, op.status = t["id"], status
            if t.get("assignee") != s.client.user:
                row.operator("sessiond.task_assign", text="Take").task = t["id"]
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
            wrapped(col, "%s: %s" % (m.get("user"), m.get("text")), "NONE", context)
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
            _progress(s)
        else:
            _progress(s, done=True)
            s.pump(0.0)
    except Exception as e:        # keep the timer alive; say what happened
        _progress(s, done=True)
        code = getattr(e, "code", None)
        s.bridge.message(sentence(code or "internal", getattr(e, "message", None) or str(e)))
        if s.client.status == "error":
            return 0.5
    now = time.monotonic()
    if now - _redraw_at > 0.25:
        _redraw_at = now
        _redraw()
    return TICK


_progress_on = False


def _progress(s, done=False):
    """Blender's progress indicator while joining: nodes received of the
    total (the status line says the same in words)."""
    global _progress_on
    wm = bpy.context.window_manager
    if wm is None:
        return
    p = None if done else s.progress()
    if p is None or p["phase"] == "asking":     # not while the artist decides
        if _progress_on:
            wm.progress_end()
            _progress_on = False
        return
    if not _progress_on:
        wm.progress_begin(0, 1000)
        _progress_on = True
    frac = (p["nodes"] / p["total"]) if p["total"] else 0.0
    wm.progress_update(int(frac * 1000))


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


CLASSES = (SessiondSettings, SESSIOND_OT_connect, SESSIOND_OT_join, SESSIOND_OT_join_cancel,
           SESSIOND_OT_disconnect, SESSIOND_OT_send_chat,
           SESSIOND_OT_chat_history,
           SESSIOND_OT_create_task, SESSIOND_OT_task_status, SESSIOND_OT_task_assign,
           SESSIOND_OT_snap_view, SESSIOND_OT_snap_time, SESSIOND_OT_follow,
           SESSIOND_OT_request_lock, SESSIOND_OT_give_lock, SESSIOND_OT_refuse_lock,
           SESSIOND_OT_release_lock,
           SESSIOND_OT_kick, SESSIOND_OT_save, SESSIOND_OT_backups, SESSIOND_PT_session,
           SESSIOND_PT_users, SESSIOND_PT_locks, SESSIOND_PT_tasks, SESSIOND_PT_chat, SESSIOND_PT_not_shared,
           SESSIOND_PT_admin)


def _load_settings():
    """The last connection settings; 0.1 (try again) while there is no
    window manager yet."""
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return 0.1
    paths.load_settings(wm.sessiond)
    return None


@bpy.app.handlers.persistent
def _on_depsgraph(*_args):
    """Blender changed something: the next tick scans for local changes."""
    s = api.active()
    if s is not None and not s.bridge.applying:
        s.bridge.local_dirty = True


@bpy.app.handlers.persistent
def _on_undo(*_args):
    """Undo or redo restored an earlier local state: make it agree with the
    session (api.Session.after_undo)."""
    s = api.active()
    if s is not None and getattr(s, "joined", False):
        try:
            s.after_undo()
        except Exception as e:      # never into Blender's undo; say it
            s.bridge.message(sentence("internal", "after undo: %s" % e))


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
    if _load_settings() is not None:
        bpy.app.timers.register(_load_settings, first_interval=0.0)
    bpy.app.handlers.load_pre.append(_on_load_pre)
    bpy.app.handlers.depsgraph_update_post.append(_on_depsgraph)
    bpy.app.handlers.undo_post.append(_on_undo)
    bpy.app.handlers.redo_post.append(_on_undo)
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
    for handlers in (bpy.app.handlers.undo_post, bpy.app.handlers.redo_post):
        if _on_undo in handlers:
            handlers.remove(_on_undo)
    del bpy.types.WindowManager.sessiond
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
