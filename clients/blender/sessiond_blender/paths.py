"""Where the add-on writes: only under the user's own directories.

Installed as a Blender 4.2+ extension (package bl_ext.<repository>.<id>),
the blob cache and the saved connection settings live under
bpy.utils.extension_path_user(package); as a legacy add-on, the cache is
under $XDG_CACHE_HOME (or ~/.cache) and the settings under Blender's user
config directory.
"""

import json
import os
import tempfile

import bpy

PACKAGE = __package__ or "sessiond_blender"
SETTINGS = ("host", "port", "session", "user", "color", "tls")


def _extension_dir(sub):
    f = getattr(bpy.utils, "extension_path_user", None)
    if f is None or not PACKAGE.startswith("bl_ext."):
        return None
    return f(PACKAGE, path=sub, create=True)


def cache_dir():
    d = _extension_dir("cache")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.access(os.path.dirname(base) or "/", os.W_OK):
        base = tempfile.gettempdir()
    return os.path.join(base, "sessiond_blender")


def config_dir():
    return _extension_dir("") or bpy.utils.user_resource("CONFIG", path="sessiond_blender",
                                                         create=True)


def settings_file():
    return os.path.join(config_dir(), "settings.json")


def save_settings(st):
    """The connection settings (never the passwords) for the next start."""
    data = {k: getattr(st, k) for k in SETTINGS}
    data["color"] = list(data["color"])
    try:
        path = settings_file()
        with open(path + ".tmp", "w") as f:
            json.dump(data, f)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def load_settings(st):
    try:
        with open(settings_file()) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return
    for k in SETTINGS:
        if k in data:
            try:
                setattr(st, k, data[k])
            except (TypeError, ValueError, AttributeError):
                pass
