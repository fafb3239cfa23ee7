// admin.js - for admins: save now (admin.save), the backups
// (admin.backups), kick a user (admin.kick), and restore a backup when the
// server offers admin.restore (the button stays hidden otherwise).

import { h, rerender, fmtBytes, fmtTime } from './dom.js';

export class AdminView {
  constructor(root, model, app) {
    this.root = root;
    this.model = model;
    this.app = app;
    this.canRestore = false;
    this.saveButton = h('button', { type: 'button', id: 'admin-save', class: 'primary', onclick: () => this.save() }, 'Save now');
    this.refreshButton = h('button', { type: 'button', id: 'admin-refresh', onclick: () => this.refresh() }, 'Refresh');
    this.status = h('p', { class: 'muted small', id: 'admin-status', role: 'status' });
    this.list = h('table', { id: 'backup-list', class: 'backups' });
    root.append(
      h('div', { class: 'panel-head' }, h('h2', {}, 'Admin')),
      h('div', { class: 'row' }, this.saveButton, this.refreshButton),
      this.status,
      h('h3', {}, 'Backups'),
      h('div', { class: 'backup-scroll' }, this.list));
  }

  // Called once joined as admin: learn whether restore exists, list backups.
  async start() {
    this.root.hidden = false;
    this.canRestore = await this.probeRestore();
    await this.refresh();
  }

  // admin.restore is newer than protocol 1.0: a server without it answers
  // "unknown request type". An empty backup name is refused by one that
  // has it, before it does anything.
  async probeRestore() {
    try {
      await this.app.client.request('admin.restore', { backup: '' });
      return true;
    } catch (e) {
      return !(e.code === 'bad_request' && /unknown request type/.test(e.message));
    }
  }

  async refresh() {
    try {
      const r = await this.app.client.request('admin.backups');
      this.render(r.backups || []);
    } catch (e) { this.app.error(e); }
  }

  render(backups) {
    rerender(this.list, () => [
      h('caption', { class: 'sr-only' }, 'Backups, newest first'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Reason'),
        h('th', { scope: 'col' }, 'Size'), this.canRestore ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Restore')) : null)),
      h('tbody', {}, backups.length ? backups.map((b) => h('tr', { dataset: { file: b.file } },
        h('td', { title: b.file }, fmtTime(b.created_at)),
        h('td', {}, b.reason || ''),
        h('td', { class: 'num' }, fmtBytes(b.bytes)),
        this.canRestore ? h('td', {}, h('button', { type: 'button', class: 'small', dataset: { key: `restore:${b.file}` },
          'aria-label': `Restore the backup of ${fmtTime(b.created_at)}`, onclick: () => this.restore(b) }, 'Restore')) : null))
        : h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No backups yet.'))),
    ]);
  }

  async save() {
    this.saveButton.disabled = true;
    this.status.textContent = 'Saving…';
    try {
      const r = await this.app.client.request('admin.save');
      this.status.textContent = `Saved ${r.backup} (${fmtBytes(r.bytes)}, ${r.ms} ms).`;
      await this.refresh();
    } catch (e) {
      this.status.textContent = '';
      this.app.error(e);
    } finally { this.saveButton.disabled = false; }
  }

  async kick(user) {
    if (!confirm(`Remove ${user} from the session?`)) return;
    try {
      await this.app.client.request('admin.kick', { user });
      this.app.notice(`${user} was removed from the session.`);
    } catch (e) { this.app.error(e); }
  }

  async restore(b) {
    if (!confirm(`Restore the backup of ${fmtTime(b.created_at)} (${b.reason})? Everyone is reconnected to the restored session.`)) return;
    try {
      await this.app.client.request('admin.restore', { backup: b.file });
      this.app.notice(`Restored ${b.file}.`);
    } catch (e) { this.app.error(e); }
  }
}
