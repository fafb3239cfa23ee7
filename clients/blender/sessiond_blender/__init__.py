"""sessiond for Blender: artists share one scene through a sessiond server.

Layers (each testable alone): ws.py (WebSocket on plain sockets), client.py
(protocol and session model, no bpy), translators/ (one module per
datablock kind), bridge.py (bpy.data <-> session model), api.py (the Python
API: connect() -> Session), collab.py (snap, follow, lock requests, join
progress, errors as sentences), paths.py (where files go), ui.py (panels,
operators, the timer), presence.py (other artists' viewports, drawn with
gpu).

Outside Blender (no bpy) only ws and client are usable.
"""

bl_info = {
    "name": "sessiond",
    "author": "the sessiond authors",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D View > Sidebar > sessiond",
    "description": "Work on one scene together through a sessiond server",
    "category": "System",
}

try:
    import bpy  # noqa: F401
except ImportError:         # plain Python: the protocol client only
    bpy = None

from .client import Error  # noqa: E402

__all__ = ["Error"]

if bpy is not None:
    from .api import Session, active, connect, not_shared  # noqa: F401

    __all__ += ["Session", "active", "connect", "not_shared"]

    def register():
        import sys
        # Installed as a 4.2+ extension the package is
        # bl_ext.<repository>.sessiond_blender: scripts still import it by
        # its own name.
        sys.modules.setdefault("sessiond_blender", sys.modules[__name__])
        from . import ui
        ui.register()

    def unregister():
        from . import ui
        ui.unregister()
