// app.js - the page: sign-in (and the session list for admins), then the
// session view (users, scene, tasks, chat, admin) driven by one
// SessionClient and one Model.
//
// Secrets stay in memory: passwords are never written to storage or to the
// URL, and the admin password reaches the admin API only as an
// Authorization header.

import { SessionClient, ServerError } from './client.js';
import { Model } from './model.js';
import { h, $, rerender, throttled, fmtTime, fmtBytes, safeColor, nodeName } from './dom.js';
import { SceneView } from './scene.js';
import { TaskBoard } from './tasks.js';
import { ChatView } from './chat.js';
import { AdminView } from './admin.js';

const CODE_WORDS = {
  bad_request: 'The server refused a malformed request',
  unauthenticated: 'Not signed in',
  auth_failed: 'Wrong password',
  name_taken: 'That user name is already online in this session',
  forbidden: 'Not allowed',
  not_found: 'Not found',
  exists: 'It already exists',
  conflict: 'Someone changed it first',
  too_large: 'Too large',
  rate_limited: 'Too many requests: slow down',
  unavailable: 'Not done: the server could not apply it',
  internal: 'The server failed',
};

export function errorWords(e) {
  if (e instanceof ServerError || (e && e.code)) {
    const words = CODE_WORDS[e.code] || `Error (${e.code})`;
    return e.message ? `${words}. The server said: ${e.message}` : `${words}.`;
  }
  return String((e && e.message) || e);
}

const SESSION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

class App {
  constructor() {
    this.model = new Model();
    this.client = null;
    this.creds = null;
    this.me = null;
    this.buildLogin();
    this.buildMain();
    const fromHash = decodeURIComponent(location.hash.slice(1));
    this.f.session.value = SESSION_RE.test(fromHash) ? fromHash : sessionStorage.getItem('sessiond.session') || 'default';
    this.f.user.value = sessionStorage.getItem('sessiond.user') || '';
    (this.f.user.value ? this.f.password : this.f.user).focus();
  }

  // -- messages -----------------------------------------------------------
  say(text, kind) {
    const item = h('li', { class: kind }, h('span', {}, text),
      h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
    this.messages.prepend(item);
    while (this.messages.children.length > 4) this.messages.lastChild.remove();
    if (kind !== 'error') setTimeout(() => item.remove(), 8000);
  }
  error(e) { this.say(errorWords(e), 'error'); }
  notice(text) { this.say(text, 'notice'); }

  // -- sign-in ------------------------------------------------------------
  buildLogin() {
    const field = (id, label, attrs, hint) => h('label', { for: id }, label, h('input', Object.assign({ id }, attrs)), hint ? h('span', { class: 'hint' }, hint) : null);
    this.login = $('#login');
    this.loginError = h('p', { id: 'login-error', class: 'error', role: 'alert' });
    this.sessionsBox = h('div', { id: 'session-list' });
    this.f = {};
    const form = h('form', { id: 'login-form', onsubmit: (e) => { e.preventDefault(); this.join(); } },
      h('h1', {}, 'sessiond'),
      h('p', { class: 'muted' }, 'Follow a session live: who is in it, the scene, the tasks and the chat.'),
      field('login-session', 'Session', { required: true, pattern: SESSION_RE.source.slice(1, -1), autocomplete: 'off', spellcheck: false }),
      field('login-user', 'Your name', { required: true, maxlength: '64', autocomplete: 'username' }),
      field('login-password', 'Server password', { type: 'password', autocomplete: 'current-password' }, 'Leave empty when the server has none.'),
      field('login-admin', 'Admin password', { type: 'password', autocomplete: 'off' }, 'Optional: lists the sessions and makes you an admin.'),
      this.loginError,
      h('div', { class: 'row' },
        h('button', { type: 'button', id: 'login-list', onclick: () => this.listSessions() }, 'List sessions'),
        h('span', { class: 'spacer' }),
        h('button', { type: 'submit', class: 'primary', id: 'login-join' }, 'Join')),
      this.sessionsBox);
    [this.f.session, this.f.user, this.f.password, this.f.admin] = form.querySelectorAll('input');
    this.login.append(form);
  }

  async listSessions() {
    const token = this.f.admin.value;
    this.loginError.textContent = '';
    if (!token) {
      this.loginError.textContent = 'The session list needs the admin password; without it, type a session name.';
      this.f.admin.focus();
      return;
    }
    let r;
    try {
      r = await fetch('/api/sessions', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
    } catch (e) {
      this.loginError.textContent = `Cannot reach the server: ${e.message}`;
      return;
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      this.loginError.textContent = r.status === 403 ? 'Wrong admin password.'
        : r.status === 404 ? 'This server has no admin API (ADMIN_PASSWORD is not set).'
        : `The server answered ${r.status}: ${body.error || ''}`;
      return;
    }
    const sessions = (body.sessions || []).sort((a, b) => a.session.localeCompare(b.session));
    rerender(this.sessionsBox, () => h('table', { class: 'sessions' },
      h('caption', {}, `${sessions.length} session${sessions.length === 1 ? '' : 's'}`),
      h('thead', {}, h('tr', {}, ['Session', 'Online', 'Nodes', 'Tasks', 'Size', 'Last save', ''].map((t) => h('th', { scope: 'col' }, t)))),
      // A session nobody has used for a while is closed ("loaded": false):
      // the API then reports its size only.
      h('tbody', {}, sessions.map((s) => h('tr', { dataset: { row: s.session } },
        h('td', {}, s.session), h('td', { class: 'num' }, s.users_online ?? 0), h('td', { class: 'num' }, s.nodes ?? '–'),
        h('td', { class: 'num' }, s.tasks ?? '–'), h('td', { class: 'num' }, fmtBytes(s.db_bytes)),
        h('td', {}, s.failed ? 'could not be opened' : s.last_save ? fmtTime(s.last_save.time) : s.loaded === false ? 'not open' : 'never'),
        h('td', {}, h('button', { type: 'button', dataset: { session: s.session }, onclick: () => { this.f.session.value = s.session; this.join(); } }, 'Join')))))));
  }

  join() {
    const session = this.f.session.value.trim();
    const user = this.f.user.value.trim();
    if (!SESSION_RE.test(session)) { this.loginError.textContent = 'A session name is 1 to 64 letters, digits, _ . or -, starting with a letter or digit.'; return; }
    if (!user) { this.loginError.textContent = 'Type your name.'; this.f.user.focus(); return; }
    sessionStorage.setItem('sessiond.session', session);
    sessionStorage.setItem('sessiond.user', user);
    this.loginError.textContent = '';
    this.start({ session, user, password: this.f.password.value, admin_password: this.f.admin.value });
  }

  start(creds) {
    if (this.client) this.client.stop();
    this.creds = creds;
    this.model.reset();
    this.model.changed('nodes', 'tasks', 'users', 'chat', 'session');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const c = new SessionClient({
      url: `${proto}//${location.host}/s/${encodeURIComponent(creds.session)}`,
      hello: { user: creds.user, password: creds.password, admin_password: creds.admin_password, color: colorFor(creds.user) },
    });
    this.client = c;
    this.joinedOnce = false;
    c.on((ev) => { if (c === this.client) this.onClient(ev); });
    this.setStatus('connecting', `Joining ${creds.session}…`);
    c.start();
  }

  leave() {
    if (this.client) this.client.stop();
    this.client = null;
    this.showLogin('');
  }

  showLogin(error) {
    this.main.hidden = true;
    this.login.hidden = false;
    this.loginError.textContent = error;
    document.title = 'sessiond';
    this.f.user.focus();
  }

  // -- protocol events ----------------------------------------------------
  onClient(ev) {
    switch (ev.kind) {
      case 'connecting':
        if (ev.resume) this.setStatus('connecting', `Connection lost: ${this.lostWords}. Reconnecting (attempt ${ev.attempt})…`);
        return;
      case 'welcome': {
        const w = ev.welcome;
        const again = this.joinedOnce;
        const since = this.model.session.seq;
        this.me = { name: w.user, role: w.role };
        this.model.welcome(w);
        if (again) {
          this.notice(w.resume === 'delta'
            ? `Reconnected: delta resume, only the changes after seq ${since} were sent.`
            : 'Reconnected: full resync (the session was reset or restored, or too much changed).');
        }
        this.lastResume = w.resume;
        return;
      }
      case 'sync':
        this.model.sync(ev.frame);
        return;
      case 'synced':
        this.model.setSeq(ev.seq);
        this.showMain();
        this.model.changed('nodes');   // thumbnails wait for the join to end
        this.joinedOnce = true;
        this.setStatus('online', this.lastResume === 'delta' ? 'Connected (resumed)' : 'Connected');
        this.announce();
        return;
      case 'event':
        this.model.event(ev.event);
        if (ev.event.type === 'session' && ev.event.reset) this.notice('An admin reset or restored the session: reloading it.');
        return;
      case 'error':
        if (ev.error.re === 'hello') this.helloError = ev.error;
        else this.error(ev.error);
        return;
      case 'closed':
        if (this.client && this.client.stopped) return;
        if (ev.final) {
          const why = this.helloError ? errorWords(this.helloError) : `Disconnected: ${ev.words}.`;
          this.helloError = null;
          this.setStatus('offline', why);
          this.showLogin(why);
          return;
        }
        if (!this.joinedOnce && ev.code === 1006 && ev.delay >= 2000) {
          this.setStatus('offline', `Cannot connect: ${ev.words}. Retrying in ${Math.round(ev.delay / 1000)} s…`);
          return;
        }
        this.lostWords = ev.words;
        this.setStatus('offline', `Connection lost: ${ev.words}. Reconnecting in ${(ev.delay / 1000).toFixed(1)} s…`);
        return;
      default:
    }
  }

  // Tells the others this user follows from a browser; the server does not
  // echo presence to its sender, so the page shows its own too.
  announce() {
    const data = { mode: 'web', client: 'browser' };
    this.client.request('presence', { data }).catch(() => {});
    this.model.event({ type: 'presence', user: this.me.name, data });
  }

  setStatus(state, text) {
    this.statusDot.className = `dot ${state}`;
    this.statusText.textContent = text;
    this.renderHeader();
  }

  // -- session view -------------------------------------------------------
  buildMain() {
    this.main = $('#main');
    this.messages = $('#messages');
    this.statusDot = h('span', { class: 'dot', 'aria-hidden': 'true' });
    this.statusText = h('span', { id: 'conn-status' });
    this.headerInfo = h('span', { class: 'muted', id: 'session-info' });
    $('#status').append(this.statusDot, this.statusText);
    $('#header-info').append(this.headerInfo,
      h('button', { type: 'button', id: 'leave', onclick: () => this.leave() }, 'Leave'));
    this.usersList = h('ul', { id: 'user-list', class: 'users', 'aria-label': 'Users' });
    $('#users').append(h('div', { class: 'panel-head' }, h('h2', {}, 'People'), h('span', { class: 'muted', id: 'users-count' })), this.usersList);
    this.scene = new SceneView($('#scene'), this.model, this);
    this.tasks = new TaskBoard($('#tasks'), this.model, this);
    this.chat = new ChatView($('#chat'), this.model, this);
    this.admin = new AdminView($('#admin'), this.model, this);
    this.model.on('users', throttled(() => this.renderUsers()));
    this.model.on('session', throttled(() => this.renderHeader()));
  }

  showMain() {
    if (this.main.hidden) {
      this.login.hidden = true;
      this.main.hidden = false;
      history.replaceState(null, '', `#${encodeURIComponent(this.creds.session)}`);
    }
    document.title = `${this.creds.session} · sessiond`;
    $('#admin').hidden = this.me.role !== 'admin';
    if (this.me.role === 'admin') this.admin.start();
    this.renderUsers();
    this.renderHeader();
  }

  renderHeader() {
    const s = this.model.session;
    if (!this.me) return;
    this.headerInfo.textContent = `${s.name || this.creds.session} · ${this.me.name}${this.me.role === 'admin' ? ' (admin)' : ''} · seq ${s.seq}`;
  }

  renderUsers() {
    const users = [...this.model.users.values()];
    const online = users.filter((u) => u.online).sort((a, b) => a.name.localeCompare(b.name));
    const offline = users.filter((u) => !u.online).sort((a, b) => (b.last_seen || 0) - (a.last_seen || 0));
    $('#users-count').textContent = `${online.length} online`;
    rerender(this.usersList, () => [
      online.map((u) => this.userItem(u)),
      offline.length ? h('li', { class: 'offline-group' }, h('details', {},
        h('summary', { dataset: { key: 'offline' } }, `${offline.length} offline`),
        h('ul', {}, offline.map((u) => h('li', { class: 'user offline' },
          h('span', { class: 'swatch', style: `background:${safeColor(u.color)}` }),
          h('span', { class: 'name' }, u.name), h('span', { class: 'muted small' }, u.last_seen ? `seen ${fmtTime(u.last_seen)}` : '')))))) : null,
    ]);
  }

  userItem(u) {
    const p = u.presence || {};
    const frame = p.frame ?? p.frame_current;
    const sel = Array.isArray(p.selection) ? p.selection : Array.isArray(p.selected) ? p.selected : [];
    const isMe = this.me && u.name === this.me.name;
    const selItems = sel.slice(0, 6).map((uuid) => {
      const n = this.model.nodes.get(uuid);
      return h('button', { type: 'button', class: 'link chip', dataset: { key: `sel:${u.name}:${uuid}` }, onclick: () => this.scene.select(uuid) }, n ? nodeName(n) : uuid);
    });
    return h('li', { class: 'user', dataset: { user: u.name } },
      h('div', { class: 'user-line' },
        h('span', { class: 'swatch', style: `background:${safeColor(u.color)}`, title: `colour ${u.color || 'none'}` }),
        h('span', { class: 'name' }, u.name), isMe ? h('span', { class: 'badge' }, 'you') : null,
        u.role === 'admin' ? h('span', { class: 'badge admin' }, 'admin') : null,
        this.me && this.me.role === 'admin' && !isMe ? h('button', { type: 'button', class: 'small danger kick', dataset: { key: `kick:${u.name}` },
          'aria-label': `Kick ${u.name}`, onclick: () => this.admin.kick(u.name) }, 'Kick') : null),
      h('dl', { class: 'presence' },
        p.mode !== undefined ? [h('dt', {}, 'mode'), h('dd', { class: 'mode' }, String(p.mode))] : null,
        frame !== undefined ? [h('dt', {}, 'frame'), h('dd', { class: 'frame' }, String(frame))] : null,
        sel.length ? [h('dt', {}, 'selected'), h('dd', { class: 'selection' }, selItems, sel.length > 6 ? ` +${sel.length - 6}` : '')] : null));
  }
}

// A stable colour per name, so the page's user is recognisable elsewhere.
function colorFor(name) {
  let x = 0;
  for (const ch of name) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  const hue = x % 360;
  const f = (n) => {
    const k = (n + hue / 30) % 12;
    const c = 0.55 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

window.sessiondApp = new App();
