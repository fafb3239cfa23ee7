"""The browser page (GET /), driven in a real headless Chromium through the
DevTools protocol (browser.py), against the real server, next to scripted
clients that speak the protocol directly.

What a user sees is what is asserted: the page shows a node a client
creates (within a second), chat typed in the page reaches a client, moving
a task card changes the task for a client, an admin's save shows up in the
backup list, the page reconnects by itself with a delta resume and says so,
errors are shown in words, and a page from another origin cannot open a
WebSocket to the server (protocol 1.1 Origin rule). The last scenario
leaves a populated page as a screenshot next to the server binary
(build/web-screenshot.png). Thumbnails of image blobs are checked against
a stand-in server (FakeServer) that answers blob.get as protocol 1.1
says, and as a 1.0 server does (bad_request), with a text frame between the binary
ones; the screenshot scenario shows a real blob's thumbnail. The restore
button is checked against the stand-in server too, until the real one has
admin.restore.

Every wait polls the DOM against a deadline; nothing sleeps for a fixed time.
Skipped when chromium is not installed.
"""

import asyncio
import functools
import hashlib
import http
import http.client
import http.server
import json
import os
import struct
import sys
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, ServerTestCase, binary_path   # noqa: E402
from support import backup_files, create_node, must   # noqa: E402
import browser                                    # noqa: E402

PW = "studio-pw"
ADMIN = "admin-pw"
SESSION = "shot"


def js(v):
    return json.dumps(v)


def png(width, height, pixel):
    """A small RGB PNG; pixel(x, y) -> (r, g, b)."""
    rows = b"".join(b"\0" + bytes(c for x in range(width) for c in pixel(x, y))
                    for y in range(height))

    def chunk(kind, data):
        return (struct.pack("!I", len(data)) + kind + data
                + struct.pack("!I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class OtherOrigin:
    """A plain HTTP server on another port: another origin."""

    def __init__(self):
        handler = functools.partial(self.Handler)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>elsewhere</title><p>another site</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# A WebSocket opened from the page's own JavaScript: "open" (and a hello
# sent) or how it failed.
TRY_WS = """new Promise((resolve) => {
  const ws = new WebSocket(%s);
  const t = setTimeout(() => resolve('timeout'), 8000);
  ws.onopen = () => {
    ws.send(JSON.stringify({type: 'hello', id: 1, user: 'intruder', password: %s}));
  };
  ws.onmessage = (m) => { clearTimeout(t); resolve('open: ' + m.data.slice(0, 60)); ws.close(); };
  ws.onerror = () => { clearTimeout(t); resolve('error'); };
})"""


class FakeServer:
    """Serves the page's files from web/ and answers its WebSocket like a
    server with what the real one does not have yet:

    - blobs: one Image node whose blob is `image`; blob.get gets its ok,
      then the bytes in two binary frames with a text frame between them
      (protocol 1.1 section 11), or, with blobs=False, bad_request as a 1.0
      server answers;
    - admin.restore (role admin): refuses an empty backup name as a server
      that has it does, and records what it is asked to restore."""

    BACKUP = {"file": "snapshot_20260101_101010.db", "bytes": 81920,
              "created_at": 1767262210.0, "reason": "auto-save"}

    def __init__(self, image=b"", blobs=True):
        self.image = image
        self.hash = hashlib.sha256(image).hexdigest()
        self.blobs = blobs
        self.gets = 0
        self.restored = []

    async def start(self):
        import websockets.server
        self.server = await websockets.server.serve(
            self.session, "127.0.0.1", 0, process_request=self.files)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def files(self, path, headers):
        if path.startswith("/s/"):
            return None                                   # the WebSocket
        name = "index.html" if path.split("#")[0] == "/" else path[len("/web/"):]
        types = {"html": "text/html", "css": "text/css", "js": "text/javascript"}
        try:
            with open(os.path.join(REPO, "web", os.path.basename(name)), "rb") as f:
                body = f.read()
        except OSError:
            return (http.HTTPStatus.NOT_FOUND, [], b"no such file")
        return (http.HTTPStatus.OK, [("content-type", types[name.rsplit(".", 1)[-1]])], body)

    async def session(self, ws, path=None):
        async for raw in ws:
            m = json.loads(raw)
            if m["type"] == "hello":
                role = "admin" if m.get("admin_password") else "user"
                await ws.send(json.dumps({"type": "welcome", "re": m["id"], "session": "img", "user": m["user"],
                                          "role": role, "epoch": "e1", "seq": 1, "initialized": True,
                                          "resume": "full", "server": {"name": "fake", "version": "0",
                                                                       "max_message_bytes": 1 << 20}}))
                node = {"uuid": "img-1", "kind": "Image", "deps": [], "owner": None, "version": 1, "seq": 1,
                        "data": {"name": "albedo.png", "mime_type": "image/png"}, "updated_by": "x",
                        "updated_at": 1.0}
                if self.blobs:
                    node["blobs"] = [self.hash]
                else:
                    node["blobs"] = ["0" * 64]   # named by a node, but the server cannot serve it
                await ws.send(json.dumps({"type": "sync", "nodes": [node], "tasks": [], "chat": [],
                                          "users": [{"name": m["user"], "role": "user", "online": True}]}))
                await ws.send(json.dumps({"type": "synced", "seq": 1}))
            elif m["type"] == "blob.get":
                self.gets += 1
                if not self.blobs:
                    await ws.send(json.dumps({"type": "error", "re": m["id"], "code": "bad_request",
                                              "message": 'type: unknown request type "blob.get"'}))
                    continue
                await ws.send(json.dumps({"type": "ok", "re": m["id"], "hash": self.hash,
                                          "size": len(self.image)}))
                half = len(self.image) // 2
                await ws.send(self.image[:half])
                await ws.send(json.dumps({"type": "presence", "user": "x", "data": {}}))
                await ws.send(self.image[half:])
            elif m["type"] == "admin.backups":
                await ws.send(json.dumps({"type": "ok", "re": m["id"], "backups": [self.BACKUP]}))
            elif m["type"] == "admin.restore":
                if not m.get("backup"):
                    await ws.send(json.dumps({"type": "error", "re": m["id"], "code": "bad_request",
                                              "message": "admin.restore: backup must be a backup file name"}))
                else:
                    self.restored.append(m["backup"])
                    await ws.send(json.dumps({"type": "ok", "re": m["id"], "epoch": "e2", "seq": 2}))
            elif "id" in m:
                await ws.send(json.dumps({"type": "ok", "re": m["id"]}))

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


@unittest.skipUnless(browser.chromium_path(), "chromium is not installed")
class StandInServerTest(unittest.IsolatedAsyncioTestCase):
    """Thumbnails and restore against a stand-in server (see FakeServer)."""

    async def asyncSetUp(self):
        self.browser = await browser.Browser().start()

    async def asyncTearDown(self):
        await self.browser.close()

    async def open(self, fake, admin=False):
        page = await self.browser.new_page(f"http://127.0.0.1:{fake.port}/#img")
        await page.wait_for("!!document.querySelector('#login-user')", 10)
        await page.type_into("#login-user", "lead")
        if admin:
            await page.type_into("#login-admin", ADMIN)
        await page.click("#login-join")
        await page.wait_for("document.querySelector('#conn-status').textContent.startsWith('Connected')", 10)
        return page

    async def test_image_blob_shown_as_thumbnail(self):
        fake = await FakeServer(png(64, 48, lambda x, y: (255, 4 * x, 5 * y))).start()
        try:
            page = await self.open(fake)
            await page.wait_for("document.querySelector('[data-uuid=\"img-1\"] img')?.naturalWidth === 64", 5,
                                "the thumbnail")
            await page.click('[data-uuid="img-1"]')
            await page.wait_for("document.querySelector('#node-detail img.thumb-large')?.naturalHeight === 48", 5)
            self.assertEqual(fake.gets, 1)     # fetched once, shown twice
            self.assertEqual(page.console_errors(), [])
        finally:
            await fake.close()

    async def test_server_without_blobs(self):
        fake = await FakeServer(png(8, 8, lambda x, y: (0, 0, 0)), blobs=False).start()
        try:
            page = await self.open(fake)
            await page.wait_for("document.querySelector('#messages').textContent.includes('does not serve blobs')", 5)
            await page.wait_for("!!document.querySelector('[data-uuid=\"img-1\"] .thumb-none') && "
                                "!document.querySelector('[data-uuid=\"img-1\"] img')", 5)
            self.assertEqual(page.console_errors(), [])
        finally:
            await fake.close()


    async def test_restore_offered_when_the_server_has_it(self):
        fake = await FakeServer().start()
        try:
            page = await self.open(fake, admin=True)
            button = f'#backup-list tr[data-file="{FakeServer.BACKUP["file"]}"] button'
            await page.wait_for(f"!!document.querySelector('{button}')", 5, "the restore button")
            await page.eval("window.confirm = () => true")
            await page.click(button)
            await page.wait_for("document.querySelector('#messages').textContent.includes('Restored')", 5)
            self.assertEqual(fake.restored, [FakeServer.BACKUP["file"]])
        finally:
            await fake.close()


@unittest.skipUnless(browser.chromium_path(), "chromium is not installed")
class WebPageTest(ServerTestCase):
    server_args = ("--server-password", PW, "--admin-password", ADMIN)

    async def asyncSetUp(self):
        self.browser = await browser.Browser().start()

    async def asyncTearDown(self):
        await self.browser.close()
        await super().asyncTearDown()

    async def open_page(self, srv, user, session=SESSION, admin=False, password=PW):
        """A page signed in to `session` as `user` (typed like a user)."""
        page = await self.browser.new_page(f"http://127.0.0.1:{srv.port}/#{session}")
        await page.wait_for("!!document.querySelector('#login-user')", 10, "the sign-in form")
        self.assertEqual(await page.eval("document.querySelector('#login-session').value"), session)
        await page.type_into("#login-user", user)
        if password:
            await page.type_into("#login-password", password)
        if admin:
            await page.type_into("#login-admin", ADMIN)
        await page.click("#login-join")
        return page

    async def joined_page(self, srv, user, **kw):
        page = await self.open_page(srv, user, **kw)
        await page.wait_for("!document.querySelector('#main').hidden && "
                            "document.querySelector('#conn-status').textContent.startsWith('Connected')",
                            10, "the session view, connected")
        return page

    def assertNoPageErrors(self, page):
        self.assertEqual(page.console_errors(), [])

    # ------------------------------------------------------------------
    async def test_headers_of_the_page(self):
        srv = self.server()
        status, headers, body = srv.http_get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(headers["cache-control"], "no-cache")
        csp = headers["content-security-policy"]
        self.assertIn("script-src 'self';", csp)
        self.assertIn(f"connect-src 'self' ws://127.0.0.1:{srv.port} wss://127.0.0.1:{srv.port};", csp)
        self.assertIn(b'<script type="module" src="/web/app.js">', body)
        status, headers, _ = srv.http_get("/web/app.js")
        self.assertEqual((status, headers["content-type"]), (200, "text/javascript; charset=utf-8"))
        # The other routes are untouched.
        self.assertEqual(srv.http_get("/healthz")[0], 200)
        self.assertEqual(srv.http_get("/web/nope.js")[0], 404)

    async def test_node_from_a_client_shows_within_a_second(self):
        srv = self.server()
        page = await self.joined_page(srv, "lead")
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW, color="#d04a02")

        t0 = time.monotonic()
        await create_node(bob, "cube-1", kind="Mesh", data={"name": "Cube", "verts": 8})
        await page.wait_for("!!document.querySelector('[data-uuid=\"cube-1\"]')", 1.0,
                            "the new node in the scene tree")
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 1.0)
        self.assertEqual(await page.eval(
            "document.querySelector('[data-uuid=\"cube-1\"]').closest('details').dataset.kind"), "Mesh")

        # Its data as JSON on click; later changes and the lock show live.
        await page.click('[data-uuid="cube-1"]')
        await page.wait_for("document.querySelector('#node-json') && "
                            "JSON.parse(document.querySelector('#node-json').textContent).verts === 8",
                            5, "the node's data")
        await must(bob, "node.update", uuid="cube-1", patch={"verts": 24})
        await must(bob, "node.lock", uuid="cube-1")
        await page.wait_for("JSON.parse(document.querySelector('#node-json').textContent).verts === 24 && "
                            "document.querySelector('#node-detail').textContent.includes('bob')",
                            5, "the patched data and bob's lock")

        # Presence: mode, frame and selection of bob, live.
        await bob.send({"type": "presence", "data": {"mode": "EDIT", "frame": 42, "selection": ["cube-1"]}})
        user = 'document.querySelector(\'[data-user="bob"]\')'
        await page.wait_for(f"{user} && {user}.querySelector('.mode').textContent === 'EDIT' && "
                            f"{user}.querySelector('.frame').textContent === '42' && "
                            f"{user}.querySelector('.selection').textContent.includes('Cube')",
                            5, "bob's presence")
        self.assertEqual(await page.eval(f"getComputedStyle({user}.querySelector('.swatch')).backgroundColor"),
                         "rgb(208, 74, 2)")

        # Search narrows the tree.
        await create_node(bob, "lamp-1", kind="Light", data={"name": "Key light"})
        await page.wait_for("!!document.querySelector('[data-uuid=\"lamp-1\"]')", 5)
        await page.type_into("#scene-search", "key")
        await page.wait_for("!document.querySelector('[data-uuid=\"cube-1\"]') && "
                            "!!document.querySelector('[data-uuid=\"lamp-1\"]')", 5, "the search result")
        self.assertNoPageErrors(page)

    async def test_chat_typed_in_the_page_reaches_a_client(self):
        srv = self.server(args=self.server_args + ("--chat-history", "3"))
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        for i in range(5):
            await must(bob, "chat.send", text=f"early {i}")
        page = await self.joined_page(srv, "lead")
        await page.wait_for("document.querySelectorAll('#chat-list .msg').length === 3", 5)

        await page.type_into("#chat-input", "Looks good from here")
        await page.press_enter()
        ev = await bob.next_event("chat")
        self.assertEqual(ev["message"]["text"], "Looks good from here")
        self.assertEqual(ev["message"]["user"], "lead")
        await page.wait_for("document.querySelector('#chat-input').value === '' && "
                            "[...document.querySelectorAll('#chat-list .text')].some(e => e.textContent === 'Looks good from here')",
                            5, "the sent message in the page")

        # A client's message appears; "load older" fetches the rest.
        await must(bob, "chat.send", text="thanks")
        await page.wait_for("[...document.querySelectorAll('#chat-list .text')].some(e => e.textContent === 'thanks')", 5)
        await page.click("#chat-older")
        await page.wait_for("document.querySelectorAll('#chat-list .msg').length === 7", 5, "older messages")
        texts = await page.eval("[...document.querySelectorAll('#chat-list .text')].map(e => e.textContent)")
        self.assertEqual(texts, [f"early {i}" for i in range(5)] + ["Looks good from here", "thanks"])
        self.assertNoPageErrors(page)

    async def test_moving_a_card_changes_the_task_for_a_client(self):
        srv = self.server()
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        await create_node(bob, "arm", kind="Armature", data={"name": "Arm rig"})
        t = (await must(bob, "task.create", title="Rig the arm"))["task"]
        page = await self.joined_page(srv, "lead")
        card = f'[data-task-id="{t["id"]}"]'
        await page.wait_for(f"document.querySelector('{card}')?.closest('.column').dataset.status === 'todo'", 5)

        await page.click(f'{card} button.move[data-move="doing"]')
        ev = await bob.next_event("task")
        self.assertEqual((ev["op"], ev["task"]["id"], ev["task"]["status"]), ("update", t["id"], "doing"))
        await page.wait_for(f"document.querySelector('{card}').closest('.column').dataset.status === 'doing'", 5)

        # Edit in the dialog: assign and link to a node.
        await page.click(f'{card} button[aria-label^="Edit"]')
        await page.wait_for("document.querySelector('#task-dialog').open", 5)
        await page.eval("document.querySelector('#task-assignee').value = 'bob';"
                        "document.querySelector('#task-node').value = 'arm'")
        await page.click("#task-save")
        ev = await bob.next_event("task")
        self.assertEqual((ev["task"]["assignee"], ev["task"]["node"], ev["task"]["status"]),
                         ("bob", "arm", "doing"))
        await page.wait_for(f"document.querySelector('{card}').textContent.includes('@bob') && "
                            f"document.querySelector('{card}').textContent.includes('Arm rig')", 5)

        # A new task from the page.
        await page.click("#task-new")
        await page.wait_for("document.querySelector('#task-dialog').open", 5)
        await page.type_into("#task-title", "Fix the UVs")
        await page.press_enter()
        ev = await bob.next_event("task")
        self.assertEqual((ev["op"], ev["task"]["title"], ev["task"]["status"], ev["task"]["created_by"]),
                         ("create", "Fix the UVs", "todo", "lead"))
        self.assertNoPageErrors(page)

    async def test_keyboard_only(self):
        """Sign in, move a card and send chat with the keyboard alone."""
        srv = self.server()
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        t = (await must(bob, "task.create", title="Paint the hull"))["task"]
        page = await self.browser.new_page(f"http://127.0.0.1:{srv.port}/#{SESSION}")
        await page.wait_for("document.activeElement?.id === 'login-user'", 10, "focus in the name field")
        await page.send("Input.insertText", {"text": "kim"})
        await page.press("Tab")
        self.assertEqual(await page.focused(), "login-password")
        await page.send("Input.insertText", {"text": PW})
        await page.press("Enter")
        await page.wait_for("document.querySelector('#conn-status').textContent.startsWith('Connected')", 10)

        # Tab from the board's "New task" button reaches the card's buttons.
        await page.eval("document.querySelector('#task-new').focus()")
        fwd = f"fwd:{t['id']}"
        for _ in range(5):
            await page.press("Tab")
            if await page.focused() == fwd:
                break
        self.assertEqual(await page.focused(), fwd)
        await page.press(" ")
        ev = await bob.next_event("task")
        self.assertEqual(ev["task"]["status"], "doing")
        # The card moved; the focus stayed on its forward button.
        await page.wait_for(f"document.querySelector('[data-task-id=\"{t['id']}\"]')"
                            ".closest('.column').dataset.status === 'doing'", 5)
        self.assertEqual(await page.focused(), fwd)

        await page.eval("document.querySelector('#chat-input').focus()")
        await page.send("Input.insertText", {"text": "by keyboard"})
        await page.press("Enter")
        self.assertEqual((await bob.next_event("chat"))["message"]["text"], "by keyboard")
        self.assertNoPageErrors(page)

    async def test_admin_saves_and_the_backup_is_listed(self):
        # Sessions nobody uses are closed after a second (and listed as such).
        srv = self.server(args=self.server_args + ("--session-idle-close", "1"))
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        carol, *_ = await self.joined(srv, "carol", session="other", password=PW)
        await carol.close()

        def other_closed():
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            try:
                conn.request("GET", "/api/sessions", headers={"Authorization": f"Bearer {ADMIN}"})
                listed = json.loads(conn.getresponse().read())["sessions"]
            finally:
                conn.close()
            return any(x["session"] == "other" and x.get("loaded") is False for x in listed)
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(other_closed):
            self.assertLess(time.monotonic(), deadline, "session 'other' was not closed when idle")
            await asyncio.sleep(0.1)
        # The admin password lists the sessions; one of them is joined from the list.
        page = await self.browser.new_page(f"http://127.0.0.1:{srv.port}/")
        await page.wait_for("!!document.querySelector('#login-user')", 10)
        await page.type_into("#login-user", "boss")
        await page.type_into("#login-password", PW)
        await page.type_into("#login-admin", ADMIN)
        await page.click("#login-list")
        await page.wait_for("document.querySelectorAll('#session-list button[data-session]').length === 2", 5,
                            "both sessions in the list")
        self.assertIn("not open", await page.eval(
            "document.querySelector('#session-list tr[data-row=\"other\"]').textContent"))
        await page.click(f'#session-list button[data-session="{SESSION}"]')
        await page.wait_for("!document.querySelector('#admin').hidden && "
                            "document.querySelector('#backup-list').textContent.includes('No backups')", 5)
        self.assertEqual(backup_files(srv, SESSION), [])

        await page.click("#admin-save")
        rows = "document.querySelectorAll('#backup-list tr[data-file]')"
        await page.wait_for(f"{rows}.length === 1", 10, "the backup in the list")
        self.assertEqual(await page.eval(f"{rows}[0].children[1].textContent"), "admin")
        listed = await page.eval(f"{rows}[0].dataset.file")
        # The server offers admin.restore: each backup has a restore button.
        self.assertTrue(await page.eval("!!document.querySelector('#backup-list button')"))
        # The admin password is in no URL, no storage, no log line.
        stored = await page.eval("location.href + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"
                                 " + document.cookie")
        self.assertNotIn(ADMIN, stored)
        self.assertNotIn(PW, stored)
        with srv.cond:
            self.assertEqual([l for l in srv.lines if ADMIN in l or PW in l], [])
        self.assertEqual(backup_files(srv, SESSION), [listed])
        self.assertIn(listed, await page.eval("document.querySelector('#admin-status').textContent"))

        # Kick: bob's connection closes with 4403 and the page sees him leave.
        await page.eval("window.confirm = () => true")
        await page.click('[data-user="bob"] button.kick')
        self.assertEqual(await bob.closed(), 4403)
        await page.wait_for("!document.querySelector('[data-user=\"bob\"]')", 5, "bob gone from the online list")
        self.assertNoPageErrors(page)

    async def test_restore_from_the_page(self):
        """An admin restores a backup from the page; clients resync to it."""
        srv = self.server()
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW, admin_password=ADMIN)
        probe = await bob.request("admin.restore", backup="")
        # How the page finds out: an empty name is refused as not_found.
        self.assertEqual(probe.get("code"), "not_found", probe)
        await create_node(bob, "kept", data={"name": "In the backup"})
        backup = (await must(bob, "admin.save"))["backup"]
        await create_node(bob, "later", data={"name": "After the backup"})
        await bob.close()

        page = await self.joined_page(srv, "boss", admin=True)
        await page.wait_for("!!document.querySelector('[data-uuid=\"later\"]')", 5)
        button = f'#backup-list tr[data-file="{backup}"] button'
        await page.wait_for(f"!!document.querySelector('{button}')", 5, "the restore button")
        await page.eval("window.confirm = () => true")
        await page.click(button)
        # The restore closes every connection (4205); the page comes back
        # with a full sync of the restored session.
        await page.wait_for("document.querySelector('#messages').textContent.includes('full resync') && "
                            "!document.querySelector('[data-uuid=\"later\"]') && "
                            "!!document.querySelector('[data-uuid=\"kept\"]') && "
                            "document.querySelector('#conn-status').textContent.startsWith('Connected')", 20,
                            "the restored session in the page")
        self.assertNoPageErrors(page)

    async def test_reconnects_with_delta_resume_and_says_so(self):
        srv = self.server()
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        await create_node(bob, "n1", data={"name": "Before"})
        page = await self.joined_page(srv, "lead")
        await page.wait_for("!!document.querySelector('[data-uuid=\"n1\"]')", 5)
        await bob.close()

        srv.stop()          # the page's socket closes (1001); same port again
        await page.wait_for("document.querySelector('#conn-status').textContent.includes('shutting down')", 5,
                            "the page saying the connection was lost")
        srv.start()
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        await create_node(bob, "n2", data={"name": "After"})
        await page.wait_for("document.querySelector('#messages').textContent.includes('delta resume')", 15,
                            "the reconnect notice")
        await page.wait_for("!!document.querySelector('[data-uuid=\"n2\"]') && "
                            "!!document.querySelector('[data-uuid=\"n1\"]') && "
                            "document.querySelector('#conn-status').textContent.startsWith('Connected')", 5)

    async def test_reset_gives_a_full_resync(self):
        srv = self.server()
        boss, *_ = await self.joined(srv, "boss", session=SESSION, password=PW, admin_password=ADMIN)
        await create_node(boss, "old", data={"name": "Old"})
        page = await self.joined_page(srv, "lead")
        await page.wait_for("!!document.querySelector('[data-uuid=\"old\"]')", 5)
        await must(boss, "admin.reset")
        await page.wait_for("document.querySelector('#messages').textContent.includes('full resync') && "
                            "!document.querySelector('[data-uuid=\"old\"]') && "
                            "document.querySelector('#conn-status').textContent.startsWith('Connected')", 15,
                            "the page resynced after the reset")

    async def test_errors_in_words(self):
        srv = self.server()
        page = await self.open_page(srv, "lead", password="wrong")
        await page.wait_for("document.querySelector('#login-error').textContent.includes('Wrong password')", 5)
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW)
        await page.eval("document.querySelector('#login-password').value = %s" % js(PW))
        await page.eval("document.querySelector('#login-user').value = 'bob'")
        await page.click("#login-join")
        await page.wait_for("document.querySelector('#login-error').textContent.includes('already online')", 5)
        # The session list needs the admin password, and says so.
        await page.click("#login-list")
        await page.wait_for("document.querySelector('#login-error').textContent.includes('admin password')", 5)
        await page.type_into("#login-admin", "nope")
        await page.click("#login-list")
        await page.wait_for("document.querySelector('#login-error').textContent.includes('Wrong admin password')", 5)
        await bob.close()

    async def test_page_from_another_origin_cannot_connect(self):
        srv = self.server()
        url = js(f"ws://127.0.0.1:{srv.port}/s/{SESSION}")
        # The control: from the server's own page the same script connects.
        page = await self.browser.new_page(f"http://127.0.0.1:{srv.port}/")
        own = await page.eval(TRY_WS % (url, js(PW)))
        self.assertTrue(own.startswith("open"), own)

        other = OtherOrigin()
        try:
            page = await self.browser.new_page(f"http://127.0.0.1:{other.port}/")
            got = await page.eval(TRY_WS % (url, js(PW)), timeout=20)
        finally:
            other.close()
        self.assertEqual(got, "error", "a page from another origin opened a WebSocket to the server")

    async def test_screenshot_of_a_busy_session(self):
        srv = self.server()
        alice, *_ = await self.joined(srv, "alice", session=SESSION, password=PW, color="#e0529c")
        bob, *_ = await self.joined(srv, "bob", session=SESSION, password=PW, color="#2f9e44")
        await create_node(alice, "scene", kind="Scene", data={"name": "Shot 010", "frame_start": 1, "frame_end": 240})
        await create_node(alice, "cam", kind="Camera", data={"name": "Camera", "lens": 35}, deps=["scene"])
        await create_node(alice, "mat-skin", kind="Material", data={"name": "Skin", "roughness": 0.45})
        await create_node(alice, "mat-metal", kind="Material", data={"name": "Brushed metal", "metallic": 1.0})
        await create_node(alice, "mesh-robot", kind="Mesh", data={"name": "Robot body", "vertices": 48210, "faces": 47996},
                          deps=["mat-metal"])
        await create_node(alice, "mesh-head", kind="Mesh", data={"name": "Robot head", "vertices": 9120, "faces": 9002},
                          deps=["mat-metal", "mat-skin"])
        await create_node(alice, "obj-robot", kind="Object",
                          data={"name": "Robot", "location": [0, 0, 1.2], "rotation": [0, 0, 90], "scale": [1, 1, 1],
                                "parent": None, "modifiers": ["Subdivision", "Armature"]},
                          deps=["mesh-robot", "mesh-head", "scene"])
        await create_node(alice, "obj-lamp", kind="Object", data={"name": "Key light", "location": [4, -3, 6]}, deps=["scene"])
        await self.image_node(bob)
        await must(alice, "node.lock", uuid="obj-robot")
        await must(bob, "node.lock", uuid="cam")
        for title, status, who, node in [("Block out the robot", "done", "alice", "obj-robot"),
                                         ("Retopo the head", "doing", "alice", "mesh-head"),
                                         ("Camera move for 010", "doing", "bob", "cam"),
                                         ("Skin shader pass", "todo", "bob", "mat-skin"),
                                         ("Light the close-up", "todo", None, None)]:
            await must(alice, "task.create", title=title, status=status, assignee=who, node=node,
                       description="" if status != "doing" else "Keep the silhouette from the animatic.")
        for who, text in [(alice, "Pushed the new head topology, please check the jaw."),
                          (bob, "Looks clean. Moving the camera 10 frames later."),
                          (alice, "OK, I lock the robot while I fix the weights.")]:
            await must(who, "chat.send", text=text)
        await alice.send({"type": "presence", "data": {"mode": "EDIT_MESH", "frame": 112, "selection": ["obj-robot"]}})
        await bob.send({"type": "presence", "data": {"mode": "OBJECT", "frame": 96, "selection": ["cam", "obj-lamp"]}})

        page = await self.joined_page(srv, "lead", admin=True)
        await page.click("#admin-save")
        await page.wait_for("document.querySelectorAll('#backup-list tr[data-file]').length === 1", 10)
        await page.click('[data-uuid="obj-robot"]')
        await page.wait_for("document.querySelector('[data-user=\"bob\"] .frame')?.textContent === '96' && "
                            "document.querySelector('[data-user=\"alice\"] .frame')?.textContent === '112' && "
                            "document.querySelector('#node-json')?.textContent.includes('Subdivision') && "
                            "document.querySelectorAll('.card').length === 5", 5, "the populated page")
        await page.wait_for("!!document.querySelector('img.thumb-small')?.complete && "
                            "document.querySelector('img.thumb-small').naturalWidth === 64", 5, "the thumbnail")

        # Every control has a name a screen reader can read.
        unnamed = await page.eval("""[...document.querySelectorAll('button, input, select, textarea')]
            .filter(e => !e.closest('[hidden]') && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !e.textContent.trim()).map(e => e.outerHTML.slice(0, 80))""")
        self.assertEqual(unnamed, [])

        out = os.path.join(os.path.dirname(os.path.abspath(binary_path())), "web-screenshot.png")
        size = await page.screenshot(out)
        self.assertGreater(size, 20000)
        self.assertNoPageErrors(page)

    async def image_node(self, c):
        """An Image node whose blob (protocol 1.1) is a 64x64 PNG."""
        data = png(64, 64, lambda x, y: (40 + 3 * x, 90 + 2 * y, 200 - x))
        h = hashlib.sha256(data).hexdigest()
        r = await must(c, "blob.put", hash=h, size=len(data))
        if not r.get("have"):
            await c.send_binary(data)
            await must(c, "blob.end", hash=h)
        await create_node(c, "img-skin", kind="Image",
                          data={"name": "skin_albedo.png", "mime_type": "image/png", "size": [64, 64]},
                          blobs=[h])


if __name__ == "__main__":
    if not browser.chromium_path():
        print("chromium is not installed: the browser page tests are skipped")
        sys.exit(77)     # meson: skipped
    unittest.main()
