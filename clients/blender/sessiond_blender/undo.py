"""Blender's undo and redo inside a session.

An undo (or redo) restores the whole local state of an earlier step: the
artist's own edits since then, but also what the others changed since, and
before the join, a scene without the shared data. after_undo() runs from
the undo_post and redo_post handlers (Session.after_undo() for scripts) and
makes the session consistent again:

- a node someone else changed last is applied again from the session: the
  undo never sends their work back as a local edit;
- a node this artist changed last keeps what the undo restored, and the
  scan sends it as an ordinary change (the others see the undo);
- a shared datablock the undo removed comes back from the session, unless
  this artist created it after joining and nobody changed it since (undoing
  one's own new object deletes it for everyone): an undo past the join
  never deletes the shared scene;
- an undo past the join (no datablock holds a node's uuid any more) also
  brings back the local scene from before it: datablocks without a uuid,
  which would be shared as new ones. They are removed (the current scene
  takes the session's again) and the session's scene is applied in their
  place: before the join there was no session to go back to, so what the
  session holds stays.
"""

import bpy

from .bridge import UUID_PROP, local_ids


def _past_join(session):
    """When the undo went back past the join (no datablock holds a node's
    uuid), remove what it brought back of the local scene from before:
    datablocks without a uuid (the current scene takes the session's
    again instead, as when joining). Returns how many were removed."""
    c = session.client
    here = list(local_ids())
    if any(u in c.nodes for u, _m, _idb in here if u):
        return 0            # after the join
    cur = bpy.context.scene
    scenes = [u for u, n in c.nodes.items() if n.get("kind") == "Scene"]
    if scenes and cur is not None and cur.get(UUID_PROP) is None:
        cur[UUID_PROP] = scenes[0]
    back = [idb for u, _m, idb in here if u is None and idb is not cur]
    # Objects first: their data is then free to go.
    doomed = [idb for idb in back if isinstance(idb, bpy.types.Object)] + \
        [idb for idb in back if not isinstance(idb, bpy.types.Object)]
    if doomed:
        bpy.data.batch_remove(doomed)
    return len(doomed)


def after_undo(session):
    b, c = session.bridge, session.client
    if not b.active or not c.synced or not getattr(session, "joined", True):
        return
    removed = _past_join(session)
    if removed:
        b.message("Undo went back to before you joined: the session's scene is kept, "
                  "and your scene from before (%d datablocks) is not shared" % removed)
    # The undo replaced every datablock: references and fingerprints are stale.
    b.fp.clear()
    ids = b.rebuild_ids()
    me = c.user
    since = getattr(session, "joined_seq", 0)
    for u, n in c.nodes.items():
        mine = n.get("updated_by") == me
        if u not in ids:
            if mine and n.get("version", 1) == 1 and n.get("seq", 0) > since:
                continue            # my own new datablock, undone: deleted
            b.dirty.add(u)
        elif not mine:
            # Someone else's node: the session's state is loaded over what
            # the undo restored. Without its shadow (the agreed state) the
            # three-way merge does not take the undo's old values for local
            # edits to keep and send back.
            b.shadow.pop(u, None)
            b.dirty.add(u)
    b.apply()
    b.local_dirty = True
    b.scan(force=True)
