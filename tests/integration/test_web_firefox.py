"""The browser page in Firefox (headless, WebDriver BiDi): sign in as an
admin, see a client's node and task, move the card, send chat, save and see
the backup listed. A smoke test of the second browser; the scenarios in
detail run in Chromium (test_web.py). Skipped when Firefox is not installed
(tools/test does not install it).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ServerTestCase   # noqa: E402
from support import create_node, must   # noqa: E402
import browser                      # noqa: E402

PW = "studio-pw"
ADMIN = "admin-pw"


@unittest.skipUnless(browser.firefox_path(), "firefox is not installed")
class FirefoxPageTest(ServerTestCase):
    server_args = ("--server-password", PW, "--admin-password", ADMIN)

    async def asyncSetUp(self):
        self.page = await browser.Firefox().start()

    async def asyncTearDown(self):
        await self.page.close()
        await super().asyncTearDown()

    async def test_page_works_in_firefox(self):
        srv = self.server()
        alice, *_ = await self.joined(srv, "alice", session="s", password=PW)
        await create_node(alice, "n1", kind="Mesh", data={"name": "Cube"})
        t = (await must(alice, "task.create", title="Task A"))["task"]
        page = self.page
        await page.goto(f"http://127.0.0.1:{srv.port}/#s")
        await page.wait_for("!!document.querySelector('#login-user')", 10)
        await page.eval("""document.querySelector('#login-user').value = 'fox';
            document.querySelector('#login-password').value = %r;
            document.querySelector('#login-admin').value = %r;
            document.querySelector('#login-join').click(); 1""" % (PW, ADMIN))
        await page.wait_for("document.querySelector('#conn-status').textContent.startsWith('Connected')", 10)
        await page.wait_for("!!document.querySelector('[data-uuid=\"n1\"]')", 5)

        await create_node(alice, "n2", kind="Light", data={"name": "Lamp"})
        await page.wait_for("!!document.querySelector('[data-uuid=\"n2\"]')", 5, "a live node")

        await page.eval(f"document.querySelector('[data-task-id=\"{t['id']}\"] button.move').click(); 1")
        self.assertEqual((await alice.next_event("task"))["task"]["status"], "doing")

        await page.eval("document.querySelector('#chat-input').value = 'from firefox';"
                        "document.querySelector('#chat-send').click(); 1")
        self.assertEqual((await alice.next_event("chat"))["message"]["text"], "from firefox")

        await page.eval("document.querySelector('#admin-save').click(); 1")
        await page.wait_for("document.querySelectorAll('#backup-list tr[data-file]').length === 1", 10)


if __name__ == "__main__":
    if not browser.firefox_path():
        print("firefox is not installed: skipped")
        sys.exit(77)
    unittest.main()
