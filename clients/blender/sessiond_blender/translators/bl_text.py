"""Text datablocks (bpy.data.texts: scripts and notes): the text itself
and whether it runs as a module at start-up (`use_module`: only where the
user allowed auto-run, as Blender itself decides)."""

import bpy

KIND = "Text"
COLLECTION = "texts"


def dump(text, ctx):
    return {"name": text.name, "body": text.as_string(), "use_module": text.use_module}


def construct(data, ctx):
    return bpy.data.texts.new(data.get("name", "Text"))


def load(text, data, ctx):
    if text.name != data.get("name", text.name):
        text.name = data["name"]
    if text.as_string() != data.get("body", ""):
        text.from_string(data.get("body", ""))
    if text.use_module != bool(data.get("use_module")):
        text.use_module = bool(data.get("use_module"))
