"""Collection: every writable setting (visibility, colour tag, instance
offset, line art usage, ...), its objects and child collections."""

import bpy

from .common import rna_dump, rna_load

KIND = "Collection"
COLLECTION = "collections"
LINKS = ("objects", "children")


def dump_links(coll, ctx):
    """Shared objects and children only (what is not shared stays local).
    Sets of uuids: in Blender's order, but the order is not compared (see
    merge.canon), so two artists who linked the same members agree."""
    return {"objects": [u for u in (ctx.ref(o) for o in coll.objects) if u],
            "children": [u for u in (ctx.ref(c) for c in coll.children) if u]}


def load_links(coll, data, ctx):
    want = [ctx.resolve(u) for u in data.get("objects", ())]
    want = [o for o in want if o is not None]
    wanted = {o.as_pointer() for o in want}     # thousands of members: no list search
    for o in list(coll.objects):
        if o.as_pointer() not in wanted and ctx.known(o):
            coll.objects.unlink(o)
    have = {o.as_pointer() for o in coll.objects}
    for o in want:
        if o.as_pointer() not in have:
            coll.objects.link(o)
            have.add(o.as_pointer())
    kids = [ctx.resolve(u) for u in data.get("children", ())]
    kids = [c for c in kids if c is not None]
    for c in list(coll.children):
        if c not in kids and ctx.known(c):
            coll.children.unlink(c)
    for c in kids:
        if c.name not in coll.children:
            try:
                coll.children.link(c)
            except RuntimeError:
                pass    # would make a cycle


def dump(coll, ctx):
    d = rna_dump(coll, ctx)
    d.update(dump_links(coll, ctx))
    return d


def construct(data, ctx):
    return bpy.data.collections.new(data.get("name", "Collection"))


def load(coll, data, ctx):
    rna_load(coll, {k: v for k, v in data.items() if k not in LINKS}, ctx)
    load_links(coll, data, ctx)
