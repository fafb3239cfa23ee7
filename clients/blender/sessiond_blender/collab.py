"""Working with the others: snap to a colleague's view or frame, follow
them, negotiate locks (request, give, refuse, an admin's release), the join's
progress, and server errors as sentences.

Lock negotiation travels in presence data (documented in the add-on's
README): `lock_requests` lists [{"node", "id"}]: the uuids this user asks their
holders for, each with a number new for every request; `lock_refusals`
lists [{"node", "user", "id"}]: requests this user turned down. A
holder gives a lock by unlocking the node; the requester, seeing it free,
takes it by selecting the object (locks follow the selection).

Used by api.Session (one Collab per session); bpy is used only where a
viewport or the scene is touched.
"""

import bpy

# Server error codes as the first words of a sentence an artist can read.
_CODES = {
    "auth_failed": "The server refused the password",
    "unauthenticated": "The server has not accepted this connection yet",
    "name_taken": "Someone is already connected under this user name",
    "forbidden": "The server does not allow this",
    "not_found": "The server does not know this",
    "exists": "This already exists in the session",
    "conflict": "Someone changed this at the same time",
    "too_large": "This is too large for the server",
    "rate_limited": "Too many changes at once; the server slowed this connection down",
    "unavailable": "The server cannot do this right now",
    "internal": "The server failed",
    "bad_request": "The server did not understand a request",
    "timeout": "The server did not answer in time",
    "unsupported": "The server is too old for this",
    "bad_blob": "A file arrived damaged",
}


# A refused request of the panel's (or the API's), said before the reason.
# Node changes, locks that follow the selection and files are said by the
# bridge; an error that answers no request too.
_REFUSED = {
    "chat.send": "Your message was not sent",
    "chat.history": "Older messages could not be fetched",
    "task.create": "The task was not created",
    "task.update": "The task was not changed",
    "admin.kick": "Nobody was kicked",
    "admin.save": "The session was not saved",
    "admin.backups": "The backups could not be listed",
    "presence": "Your view and selection were not shared",
}


def sentence(code, message=""):
    """An error as one sentence: what it means, then the server's words."""
    head = _CODES.get(code, "The server refused a request")
    message = (message or "").strip()
    if not message:
        return head + "."
    return "%s (%s)." % (head, message.rstrip("."))


def _view3d():
    """(space, region_3d) of the first 3D viewport, or (None, None)."""
    if bpy.app.background:
        return None, None
    try:
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    space = area.spaces.active
                    return space, space.region_3d
    except (AttributeError, ReferenceError):
        pass
    return None, None


def _eye(perspective, distance):
    """How far the view matrix's origin is from the view's centre: the
    distance in perspective, none in an orthographic view (Blender 3.4's
    view matrix is the centre's there)."""
    return 0.0 if perspective == "ORTHO" else distance


def _same(a, b, eps=1e-4):
    return a is not None and b is not None and len(a) == len(b) and \
        all(abs(x - y) <= eps for x, y in zip(a, b))


class Collab:
    def __init__(self, session):
        self.s = session
        # The view of this Blender when it has no 3D viewport (scripts,
        # background mode): sent as presence and set by snap_view.
        self.view = None
        self.following = None
        self._followed = None       # the view last applied while following
        self.requests = {}          # uuid I asked for -> request number
        self.refusals = []          # [{"node", "user", "id"}] I refused
        self._next_request = 1

    # -- snap and follow ------------------------------------------------------
    def user_view(self, name):
        """{view_matrix, lens, perspective, frame} from name's presence."""
        u = self.s.client.users.get(name)
        meta = (u or {}).get("metadata") or {}
        return {k: meta[k] for k in ("view_matrix", "lens", "perspective", "view_distance",
                                     "frame") if k in meta} or None

    def local(self):
        """This Blender's view: the first 3D viewport's, else the stored one."""
        space, r3d = _view3d()
        if r3d is None:
            return dict(self.view) if self.view else None
        # From location, rotation and distance: view_matrix itself is only
        # brought up to date when the viewport is drawn.
        from mathutils import Matrix, Vector
        rot = r3d.view_rotation
        pos = r3d.view_location + rot @ Vector((0.0, 0.0, _eye(r3d.view_perspective,
                                                               r3d.view_distance)))
        m = Matrix.Translation(pos) @ rot.to_matrix().to_4x4()
        return {"view_matrix": [v for row in m for v in row], "lens": space.lens,
                "perspective": r3d.view_perspective, "view_distance": r3d.view_distance}

    def set_view(self, view_matrix, lens=50.0, perspective="PERSP", view_distance=10.0):
        """Set the stored view (no viewport): what presence sends."""
        self.view = {"view_matrix": [float(v) for v in view_matrix], "lens": float(lens),
                     "perspective": perspective, "view_distance": float(view_distance)}

    def snap_view(self, name):
        """This viewport (or the stored view) takes name's view matrix, lens
        and perspective. Returns the view applied, or None."""
        v = self.user_view(name)
        if not v or "view_matrix" not in v:
            return None
        v = {k: v[k] for k in v if k != "frame"}
        space, r3d = _view3d()
        if r3d is None:
            self.view = dict(v)
        else:
            from mathutils import Matrix, Vector
            m = v["view_matrix"]
            loc, rot, _ = Matrix([m[0:4], m[4:8], m[8:12], m[12:16]]).decompose()
            persp = v.get("perspective", "PERSP")
            r3d.view_perspective = "PERSP" if persp == "CAMERA" else persp
            if "lens" in v:
                space.lens = v["lens"]
            dist = float(v.get("view_distance", r3d.view_distance))
            r3d.view_distance = dist
            r3d.view_rotation = rot
            r3d.view_location = loc - rot @ Vector((0.0, 0.0, _eye(r3d.view_perspective, dist)))
        self._followed = self.local()
        return v

    def snap_time(self, name):
        """The current frame takes name's; returns it (or None)."""
        v = self.user_view(name) or {}
        if "frame" not in v:
            return None
        scene = bpy.context.scene
        if scene.frame_current != v["frame"]:
            scene.frame_set(v["frame"])
        return v["frame"]

    def follow(self, name):
        """Keep snapping view and time to name (None: stop)."""
        self.following = name
        self._followed = None
        if name:
            self._step_follow()

    def _step_follow(self):
        name = self.following
        if not name:
            return
        u = self.s.client.users.get(name)
        if u is None or not u.get("online"):
            self.following = None
            self.s.bridge.message("%s left: no longer following" % name)
            return
        mine = self.local()
        if self._followed is not None and mine is not None and \
                not _same(mine.get("view_matrix"), self._followed.get("view_matrix")):
            # The artist moved the view: following stops.
            self.following = None
            self.s.bridge.message("stopped following %s" % name)
            return
        theirs = self.user_view(name) or {}
        if "view_matrix" in theirs and (mine is None or not _same(
                mine.get("view_matrix"), theirs["view_matrix"])
                or mine.get("lens") != theirs.get("lens")):
            self.snap_view(name)
        elif self._followed is None:
            # Already on their view: moving away from this one stops it.
            self._followed = mine
        self.snap_time(name)

    # -- locks ------------------------------------------------------------------
    def _name(self, u):
        n = self.s.client.nodes.get(u) or {}
        return (n.get("data") or {}).get("name") or u

    def locks(self, show="all"):
        """[(uuid, name, kind, owner)] of shared objects: "mine" (held by me),
        "others" (held by someone else), "free", or "all"."""
        c = self.s.client
        out = []
        for u, n in c.nodes.items():
            if n.get("kind") != "Object":
                continue
            owner = n.get("owner")
            if show == "mine" and owner != c.user or show == "free" and owner \
                    or show == "others" and (not owner or owner == c.user):
                continue
            out.append((u, self._name(u), n.get("kind"), owner))
        out.sort(key=lambda t: (t[3] or "", t[1]))
        return out

    def request_lock(self, u):
        """Ask the holder of node u to give it; False when it is free or mine."""
        owner = (self.s.client.nodes.get(u) or {}).get("owner")
        if not owner or owner == self.s.client.user:
            return False
        self.requests[u] = self._next_request
        self._next_request += 1
        return True

    def incoming(self):
        """[(user, uuid)]: requests for locks I hold, not refused yet."""
        c = self.s.client
        refused = {(r["user"], r["node"], r["id"]) for r in self.refusals}
        return [(name, u) for name, u, k in self._asked()
                if (c.nodes.get(u) or {}).get("owner") == c.user and (name, u, k) not in refused]

    def _asked(self):
        """(user, uuid, id) of every online colleague's request."""
        c = self.s.client
        out = []
        for name, user in sorted(c.users.items()):
            if name == c.user or not user.get("online"):
                continue
            for r in (user.get("metadata") or {}).get("lock_requests", ()):
                if isinstance(r, dict) and isinstance(r.get("node"), str):
                    out.append((name, r["node"], r.get("id")))
        return out

    def give(self, u, user):
        """Give node u to user: deselect and unlock it; they take it."""
        ob = self.s.bridge.ids.get(u)
        if isinstance(ob, bpy.types.Object):
            try:
                ob.select_set(False)
            except (RuntimeError, ReferenceError):
                pass
        self.s.bridge.sync_selection()      # unlocks it and its data
        self.s.bridge.message("gave %s to %s" % (self._name(u), user))

    def refuse(self, u, user):
        for name, v, k in self._asked():
            if (name, v) == (user, u):
                self.refusals.append({"node": u, "user": user, "id": k})
        del self.refusals[:-50]

    def release(self, u):
        """Admin: take the lock away from whoever holds it."""
        return self.s.client.request("node.unlock", uuid=u, force=True)

    def _step_locks(self):
        c, b = self.s.client, self.s.bridge
        for u, k in list(self.requests.items()):
            n = c.nodes.get(u)
            if n is None:
                self.requests.pop(u, None)
                continue
            owner = n.get("owner")
            if owner == c.user:
                self.requests.pop(u, None)
                b.message("you now hold %s" % self._name(u))
            elif not owner:
                ob = b.ids.get(u)
                if isinstance(ob, bpy.types.Object):
                    try:
                        ob.select_set(True)
                    except (RuntimeError, ReferenceError):
                        self.requests.pop(u, None)
                else:
                    self.requests.pop(u, None)
            else:
                meta = (c.users.get(owner) or {}).get("metadata") or {}
                if any(isinstance(r, dict) and r.get("node") == u and r.get("user") == c.user
                       and r.get("id") == k for r in meta.get("lock_refusals", ())):
                    self.requests.pop(u, None)
                    b.message("%s keeps %s for now (request refused)" % (owner, self._name(u)))
        # Refusals of requests that were withdrawn are dropped.
        asked = set(self._asked())
        self.refusals = [r for r in self.refusals if (r["user"], r["node"], r["id"]) in asked]
        self._guard_active()

    def _guard_active(self):
        """An object someone else holds does not stay the active object."""
        c = self.s.client
        try:
            vl = bpy.context.view_layer
            ob = vl.objects.active
        except AttributeError:
            return
        if ob is None:
            return
        u = self.s.bridge.ids and ob.get("sessiond_uuid")
        owner = (c.nodes.get(u) or {}).get("owner") if u else None
        if owner and owner != c.user:
            vl.objects.active = None
            self.s.bridge.message("%s is being edited by %s: it cannot be made active"
                                  % (ob.name, owner))

    def say_errors(self, events):
        """The server's refusals of the requests in _REFUSED, and of an
        admin's release, as sentences in the panel's messages."""
        for e in events:
            if e[0] != "error" or e[3] is None:
                continue
            r = e[3]
            what = _REFUSED.get(r.type)
            if r.type == "node.unlock" and r.fields.get("force"):
                what = "%s was not released" % self._name(r.fields.get("uuid"))
            if what:
                self.s.bridge.message("%s: %s" % (what, sentence(e[1], e[2])))

    def presence(self, data):
        """Add the view (stored one when no viewport) and lock fields."""
        v = self.local()
        if v:
            data.update(v)
        data["lock_requests"] = [{"node": u, "id": k} for u, k in sorted(self.requests.items())]
        data["lock_refusals"] = list(self.refusals)
        return data

    def step(self):
        self._step_locks()
        self._step_follow()

    # -- progress ---------------------------------------------------------------
    def progress(self):
        """The join's progress: {phase, nodes, total, blob_bytes, blobs_left}.
        phase: "connecting", "receiving" (total not known yet), "asking"
        (synced, waiting for the artist's answer to join_question()),
        "applying", "done"."""
        s, c = self.s, self.s.client
        blobs_left = len(getattr(c, "_downloads", ())) + (1 if c._download_req is not None
                                                            or c._download is not None else 0)
        out = {"blob_bytes": c.blob_bytes_received, "blobs_left": blobs_left}
        if not c.synced and c.status == "syncing":
            out.update(phase="receiving", nodes=c.sync_progress[0], total=None)
        elif not c.synced:
            out.update(phase="connecting", nodes=0, total=None)
        elif getattr(s, "asking", False):
            out.update(phase="asking", nodes=len(c.nodes), total=len(c.nodes))
        else:
            total = len(c.nodes)
            done = getattr(s, "joined", True)
            # Not in yet: nodes not built yet, still to apply, put off by
            # their translator, or waiting for a file.
            b = s.bridge
            left = 0
            if not done:
                later = b.dirty | b.retry
                for us in b.parked_blob.values():
                    later |= us
                left = sum(1 for u in c.nodes if u not in b.ids or u in later)
            out.update(phase="done" if done else "applying",
                       nodes=max(0, total - left), total=total)
        return out

    def join_question(self):
        """The Connect confirmation, once the session is synced (None
        before): what joining will do to the local scene."""
        c = self.s.client
        if not c.synced:
            return None
        if not c.initialized and not c.nodes:
            return "You are first: your scene will be uploaded to session '%s'" % c.session
        n = sum(1 for v in c.nodes.values() if v.get("kind") == "Object")
        return "Your local scene will be replaced by session '%s' (%d object%s)" % (
            c.session, n, "" if n == 1 else "s")

    def progress_text(self):
        p = self.progress()
        mb = p["blob_bytes"] / 1e6
        files = (", %.1f MB of files%s" % (mb, (" (%d to come)" % p["blobs_left"])
                                           if p["blobs_left"] else "")) if p["blob_bytes"] or \
            p["blobs_left"] else ""
        if p["phase"] == "receiving":
            return "receiving the scene: %d objects and data so far%s" % (p["nodes"], files)
        if p["phase"] == "applying":
            return "joining: %d of %d received%s" % (p["nodes"], p["total"], files)
        return None
