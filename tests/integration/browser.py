"""Headless Chromium driven through the DevTools protocol, for the browser
page tests (test_web.py).

Debian's `chromium` is started with a fresh profile and
--remote-debugging-port=0; the port it picked is read from the profile's
DevToolsActivePort file. Python's `websockets` speaks the protocol: one
connection to the browser, one flattened session per page (Target.*), JSON
commands with ids, events buffered per session. No npm, nothing fetched.

Page.wait_for(expr) polls Runtime.evaluate until the expression is truthy
or a deadline passes: the tests wait for what a user would see, never for
a fixed time.

Firefox (when installed) is driven through WebDriver BiDi, its own remote
protocol, with the same eval / wait_for interface (test_web_firefox.py).
"""

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time

import websockets

CHROMIUM_NAMES = ("chromium", "chromium-browser")
START_TIMEOUT = 30.0


def chromium_path():
    for name in CHROMIUM_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


class JSError(AssertionError):
    pass


class Browser:
    def __init__(self, width=1440, height=900):
        self.width = width
        self.height = height
        self.proc = None
        self.profile = None
        self.ws = None
        self.ids = itertools.count(1)
        self.waiting = {}
        self.events = {}        # sessionId -> list of events
        self.reader = None

    async def start(self):
        exe = chromium_path()
        if not exe:
            raise RuntimeError("chromium is not installed")
        self.profile = tempfile.mkdtemp(prefix="sessiond-chromium-")
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--no-default-browser-check",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-extensions", "--mute-audio",
               f"--window-size={self.width},{self.height}",
               f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
               "about:blank"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    break
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not write DevToolsActivePort")
            await asyncio.sleep(0.05)
        url = f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        self.ws = await websockets.connect(url, max_size=None, ping_interval=None)
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self.waiting.pop(msg["id"], None)
                    if fut and not fut.done():
                        fut.set_result(msg)
                else:
                    self.events.setdefault(msg.get("sessionId"), []).append(msg)
        except websockets.exceptions.ConnectionClosed:
            pass
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(RuntimeError("DevTools connection closed"))

    async def send(self, method, params=None, session=None, timeout=15.0):
        mid = next(self.ids)
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self.waiting[mid] = fut
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def new_page(self, url="about:blank"):
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        att = await self.send("Target.attachToTarget",
                              {"targetId": target["targetId"], "flatten": True})
        page = Page(self, att["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Emulation.setDeviceMetricsOverride",
                        {"width": self.width, "height": self.height,
                         "deviceScaleFactor": 1, "mobile": False})
        if url != "about:blank":
            await page.goto(url)
        return page

    async def close(self):
        try:
            if self.ws:
                try:
                    await asyncio.wait_for(self.send("Browser.close"), 5)
                except Exception:
                    pass
                await self.ws.close()
            if self.reader:
                self.reader.cancel()
        finally:
            if self.proc and self.proc.poll() is None:
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            if self.profile:
                shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def send(self, method, params=None, timeout=15.0):
        return self.browser.send(method, params, self.session, timeout)

    def events(self, method=None):
        evs = self.browser.events.get(self.session, [])
        return [e for e in evs if method is None or e.get("method") == method]

    def console_errors(self):
        """Uncaught exceptions and console.error calls so far, as text."""
        out = []
        for e in self.events("Runtime.exceptionThrown"):
            d = e["params"]["exceptionDetails"]
            out.append(d.get("exception", {}).get("description") or d.get("text"))
        for e in self.events("Runtime.consoleAPICalled"):
            if e["params"]["type"] == "error":
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in e["params"]["args"]))
        return out

    async def goto(self, url, timeout=15.0):
        self.browser.events[self.session] = []
        await self.send("Page.navigate", {"url": url})
        await self.wait_for("document.readyState === 'complete'", timeout, "page load")

    async def eval(self, expr, timeout=15.0):
        r = await self.send("Runtime.evaluate", {
            "expression": expr, "returnByValue": True, "awaitPromise": True,
            "userGesture": True}, timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise JSError(f"{expr[:120]!r}: "
                          f"{d.get('exception', {}).get('description') or d.get('text')}")
        return r["result"].get("value")

    async def wait_for(self, expr, timeout=5.0, what=None, interval=0.03):
        """Poll until expr is truthy; return its value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                v = await self.eval(expr)
                if v:
                    return v
                last = v
            except JSError as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for "
                                     f"{what or expr}; last value {last!r}; "
                                     f"page errors: {self.console_errors()}")
            await asyncio.sleep(interval)

    async def type_into(self, selector, text):
        """Focus the element and type text as keyboard input."""
        await self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", {"text": text})

    KEYS = {"Enter": (13, "\r"), "Tab": (9, None), " ": (32, " "), "Escape": (27, None)}

    async def press(self, key, shift=False):
        """A key press as the keyboard sends it (keyDown with its text, keyUp)."""
        code, text = self.KEYS[key]
        for kind in ("keyDown", "keyUp"):
            ev = {"type": kind, "key": key, "code": "Space" if key == " " else key,
                  "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code,
                  "modifiers": 8 if shift else 0}
            if kind == "keyDown" and text:
                ev["text"] = text
            await self.send("Input.dispatchKeyEvent", ev)

    async def press_enter(self):
        await self.press("Enter")

    async def focused(self):
        """id (or data-key, or tag) of the focused element."""
        return await self.eval("(() => { const e = document.activeElement;"
                               " return e ? (e.id || e.dataset.key || e.tagName) : null; })()")

    async def click(self, selector):
        """Clicks like a user: the mouse at the element's centre."""
        box = await self.eval(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) return null;
            el.scrollIntoView({{block: 'center'}});
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height) return 'hidden';
            return [r.x + r.width / 2, r.y + r.height / 2];
        }})()""")
        if not box:
            raise AssertionError(f"no element {selector!r} to click")
        if box == "hidden":
            raise AssertionError(f"element {selector!r} is not visible")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {
                "type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    async def screenshot(self, path):
        r = await self.send("Page.captureScreenshot", {"format": "png"}, timeout=30.0)
        data = base64.b64decode(r["data"])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return len(data)


# ----------------------------------------------------------------------
# Firefox, through WebDriver BiDi (Firefox's remote protocol), for a smoke
# test of the page in the second browser. Same Page-like interface: eval,
# wait_for, goto, screenshot.

FIREFOX_NAMES = ("firefox-esr", "firefox")


def firefox_path():
    for name in FIREFOX_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


class Firefox:
    def __init__(self, width=1440, height=900):
        self.width = width
        self.height = height
        self.proc = None
        self.profile = None
        self.ws = None
        self.ids = itertools.count(1)
        self.context = None

    async def start(self):
        exe = firefox_path()
        if not exe:
            raise RuntimeError("firefox is not installed")
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.profile = tempfile.mkdtemp(prefix="sessiond-firefox-")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-remote", "--profile", self.profile,
             "--remote-debugging-port", str(port),
             f"--width={self.width}", f"--height={self.height}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.ws = await websockets.connect(f"ws://127.0.0.1:{port}/session",
                                                   max_size=None, ping_interval=None)
                break
            except (OSError, websockets.exceptions.InvalidHandshake):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"firefox exited with status {self.proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError("firefox's remote protocol did not answer")
                await asyncio.sleep(0.1)
        await self.send("session.new", {"capabilities": {}})
        tree = await self.send("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]
        await self.send("browsingContext.setViewport", {
            "context": self.context, "viewport": {"width": self.width, "height": self.height}})
        return self

    async def send(self, method, params, timeout=15.0):
        mid = next(self.ids)
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))

        async def reply():
            while True:
                m = json.loads(await self.ws.recv())
                if m.get("id") == mid:
                    return m
        m = await asyncio.wait_for(reply(), timeout)
        if m.get("type") == "error":
            raise RuntimeError(f"{method}: {m.get('error')}: {m.get('message')}")
        return m["result"]

    async def goto(self, url):
        await self.send("browsingContext.navigate",
                        {"context": self.context, "url": url, "wait": "complete"})

    async def eval(self, expr, timeout=15.0):
        r = await self.send("script.evaluate", {
            "expression": expr, "target": {"context": self.context},
            "awaitPromise": True, "userActivation": True}, timeout)
        if r["type"] != "success":
            raise JSError(f"{expr[:120]!r}: {r.get('exceptionDetails', {}).get('text')}")
        return r["result"].get("value")

    async def wait_for(self, expr, timeout=5.0, what=None, interval=0.05):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                v = await self.eval(expr)
                if v:
                    return v
                last = v
            except JSError as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for "
                                     f"{what or expr}; last value {last!r}")
            await asyncio.sleep(interval)

    async def screenshot(self, path):
        r = await self.send("browsingContext.captureScreenshot", {"context": self.context},
                            timeout=30.0)
        data = base64.b64decode(r["data"])
        with open(path, "wb") as f:
            f.write(data)
        return len(data)

    async def close(self):
        try:
            if self.ws:
                try:
                    await asyncio.wait_for(self.send("session.end", {}), 5)
                except Exception:
                    pass
                await self.ws.close()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            if self.profile:
                shutil.rmtree(self.profile, ignore_errors=True)
