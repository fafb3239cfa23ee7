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
  never deletes the shared scene.
"""


def after_undo(session):
    b, c = session.bridge, session.client
    if not b.active or not c.synced or not getattr(session, "joined", True):
        return
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
