"""Three-way merge of node data (plain JSON, no bpy): what the add-on does
when a change of someone else arrives while this Blender holds changes it
has not sent yet.

`base` is the last state both sides agreed on (the bridge's shadow),
`local` what Blender holds now, `remote` what the server holds now. Per
property: a property only one side changed takes that side's value; one
both changed takes the local value (it is sent right after, so it is the
later change at the server too: the last writer wins per property);
dicts merge key by key, and so do lists of dicts that each have a name of
their own (a node tree's `nodes`: two artists changing two nodes of one
material both keep their change), in the remote order with local
additions after it. Lists named in SET_KEYS (a collection's or a
scene's `objects` and `children`) are sets of uuids: the members local
added are added to the remote list, those local removed are removed, so
two concurrent adds (or an add and a remove of another member) both
survive.

The order of a set's members is Blender's and is not compared (canon).
"""

SET_KEYS = frozenset(("objects", "children"))
_MISSING = object()


def same(a, b):
    """Equal, floats within single precision (Blender stores float32, so a
    value read back may differ from the JSON one in the last digits)."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def merge3(base, local, remote, key=None):
    if same(local, base):
        return remote
    if same(remote, base) or same(remote, local):
        return local
    if isinstance(local, dict) and isinstance(remote, dict):
        b = base if isinstance(base, dict) else {}
        out = {}
        for k in list(remote) + [k for k in local if k not in remote]:
            v = _merge_item(b.get(k, _MISSING), local.get(k, _MISSING), remote.get(k, _MISSING), k)
            if v is not _MISSING:
                out[k] = v
        return out
    if _named(local) and _named(remote) and (base is None or _named(base)):
        b = {x["name"]: x for x in base or ()}
        lo = {x["name"]: x for x in local}
        re = {x["name"]: x for x in remote}
        out = []
        for k in [x["name"] for x in remote] + [x["name"] for x in local if x["name"] not in re]:
            v = _merge_item(b.get(k, _MISSING), lo.get(k, _MISSING), re.get(k, _MISSING))
            if v is not _MISSING:
                out.append(v)
        return out
    if key in SET_KEYS and isinstance(local, list) and isinstance(remote, list):
        b = base if isinstance(base, list) else []
        added = [x for x in local if x not in b]
        removed = set(x for x in b if x not in local)
        out = [x for x in remote if x not in removed]
        out += [x for x in added if x not in out]
        return out
    return local


def _merge_item(bv, lv, rv, key=None):
    """One key of a dict (or one named item of a list): its merged value,
    or _MISSING when it is deleted."""
    if lv is _MISSING and bv is not _MISSING:
        return _MISSING if same(rv, bv) else rv     # deleted here; changed there: theirs
    if lv is _MISSING:
        return rv
    if rv is _MISSING:
        if bv is not _MISSING and same(lv, bv):
            return _MISSING                         # deleted there, unchanged here
        return lv
    return merge3(None if bv is _MISSING else bv, lv, rv, key)


def _named(items):
    """A list of dicts each with a name of its own (merged by name)."""
    if not isinstance(items, list):
        return False
    names = [x.get("name") if isinstance(x, dict) else None for x in items]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def canon(data):
    """`data` with its sets (SET_KEYS lists) sorted: what is compared, as
    the order of a collection's links is not shared."""
    if isinstance(data, dict):
        return {k: sorted(v) if k in SET_KEYS and isinstance(v, list) else canon(v)
                for k, v in data.items()}
    return data


def same_data(a, b):
    return a == b or canon(a) == canon(b)


def keep_members(data, base, members):
    """`data` with the set members of `base` that are in `members` (uuids
    a load could not link yet: they have not arrived) added back, so that
    their absence from Blender does not read as a removal."""
    if not isinstance(data, dict) or not isinstance(base, dict):
        return data
    out = dict(data)
    for k, v in data.items():
        b = base.get(k)
        if k in SET_KEYS and isinstance(v, list) and isinstance(b, list):
            extra = [x for x in b if x in members and x not in v]
            if extra:
                out[k] = v + extra
        elif isinstance(v, dict) and isinstance(b, dict):
            out[k] = keep_members(v, b, members)
    return out
