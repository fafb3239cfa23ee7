"""Run inside Blender 4.2+ (`-- ZIP BAD_ZIP PORT SESSION CACHE`): the zip of
tools/package-addon as an extension. Blender's own validation (what
`blender --command extension validate ZIP` runs: bl_pkg's command line,
called directly since Blender as a module has no command line) accepts it
and refuses BAD_ZIP; Install from Disk (extensions.package_install_files)
installs and enables it; it connects and shares the scene."""

import contextlib
import importlib
import io
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scene_util import args, done  # noqa: E402  (only args/done: not the source tree add-on)

import bpy  # noqa: E402


def validate(path):
    """(exit status, output) of `blender --command extension validate PATH`."""
    from bl_pkg import bl_extension_cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = bl_extension_cli.cli_extension_handler(["validate", path])
        except SystemExit as e:         # argparse and fatal errors exit
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue()


def main():
    zip_path, bad_zip, port, session, cache = args()[:5]
    # The source tree must not shadow the installed copy.
    sys.path[:] = [p for p in sys.path if not p.endswith(os.path.join("clients", "blender"))]
    valid = validate(zip_path)
    invalid = validate(bad_zip)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                             enable_on_install=True)
    module = "bl_ext.user_default.sessiond_blender"
    enabled = module in bpy.context.preferences.addons
    import sessiond_blender as sb       # the extension registers this name too
    # The blob cache and the saved settings where the add-on puts them by
    # itself (no cache_dir given): under the extension's user directory.
    s = sb.connect("127.0.0.1", int(port), session, "extension-user")
    n_nodes = len(s.client.nodes)
    status = s.status
    s.disconnect()
    paths = importlib.import_module(sb.__name__ + ".paths")
    paths.save_settings(bpy.context.window_manager.sessiond)
    done("extension", valid=valid, invalid=invalid, enabled=enabled, module=sb.__name__,
         installed_from=os.path.dirname(sb.__file__), status=status, nodes=n_nodes,
         initialized=s.client.initialized, cache_dir=s.client.cache_dir,
         settings=paths.settings_file(),
         settings_saved=os.path.exists(paths.settings_file()),
         user_dir=bpy.utils.extension_path_user(sb.__name__))


try:
    main()
except Exception:
    done("error", trace=traceback.format_exc())
    sys.stdout.flush()
    os._exit(1)
