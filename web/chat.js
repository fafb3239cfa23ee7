// chat.js - the session's chat: messages (the sync carries the latest),
// "load older" through chat.history before=, and a box to send.

import { h, rerender, throttled, fmtTime, safeColor } from './dom.js';

export class ChatView {
  constructor(root, model, app) {
    this.model = model;
    this.app = app;
    this.older = h('button', { type: 'button', id: 'chat-older', onclick: () => this.loadOlder() }, 'Load older messages');
    this.list = h('ol', { id: 'chat-list', class: 'chat-list', 'aria-live': 'polite', 'aria-label': 'Chat messages' });
    this.input = h('input', { id: 'chat-input', autocomplete: 'off', maxlength: '4000', placeholder: 'Message', 'aria-label': 'Chat message' });
    this.send = h('button', { type: 'submit', id: 'chat-send' }, 'Send');
    root.append(
      h('div', { class: 'panel-head' }, h('h2', {}, 'Chat')),
      h('div', { class: 'chat-scroll' }, this.older, this.list),
      h('form', { class: 'chat-form', onsubmit: (e) => { e.preventDefault(); this.submit(); } }, this.input, this.send));
    this.scroller = root.querySelector('.chat-scroll');
    model.on('chat', throttled(() => this.render()));
    model.on('users', throttled(() => this.render()));
  }

  render() {
    const s = this.scroller;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 40;
    this.older.hidden = this.model.olderExhausted || !this.model.chat.length;
    rerender(this.list, () => this.model.chat.map((m) => {
      const u = this.model.users.get(m.user);
      return h('li', { class: 'msg', dataset: { id: String(m.id) } },
        h('span', { class: 'who', style: `color:${safeColor(u && u.color)}` }, m.user),
        h('time', { class: 'muted small' }, fmtTime(m.ts)),
        h('div', { class: 'text' }, m.text));
    }));
    if (atBottom) s.scrollTop = s.scrollHeight;
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    this.send.disabled = true;
    try {
      const r = await this.app.client.request('chat.send', { text });
      this.input.value = '';
      this.model.ownChat(r.message);
      this.scroller.scrollTop = this.scroller.scrollHeight;
    } catch (e) { this.app.error(e); } finally { this.send.disabled = false; this.input.focus(); }
  }

  async loadOlder() {
    const first = this.model.chat[0];
    const fields = { limit: 50 };
    if (first) fields.before = first.id;
    try {
      const height = this.scroller.scrollHeight;
      const r = await this.app.client.request('chat.history', fields);
      if (r.messages.length < fields.limit) this.model.olderExhausted = true;
      this.model.addChat(r.messages);
      this.render();
      this.scroller.scrollTop += this.scroller.scrollHeight - height;
      if (this.model.olderExhausted) this.app.notice('That is the whole chat history.');
    } catch (e) { this.app.error(e); }
  }
}
