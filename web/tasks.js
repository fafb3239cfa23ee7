// tasks.js - the task board: todo / doing / done columns; create, edit,
// move, assign and link a task to a node (task.create / task.update /
// task.delete). Cards move with their buttons (keyboard) or by dragging.

import { h, rerender, throttled, nodeName } from './dom.js';

const COLUMNS = [['todo', 'To do'], ['doing', 'Doing'], ['done', 'Done']];

export class TaskBoard {
  constructor(root, model, app) {
    this.model = model;
    this.app = app;
    this.board = h('div', { class: 'board', id: 'task-board' });
    this.dialog = this.buildDialog();
    root.append(
      h('div', { class: 'panel-head' }, h('h2', {}, 'Tasks'),
        h('button', { type: 'button', id: 'task-new', onclick: () => this.edit(null) }, '+ New task')),
      this.board, this.dialog);
    const render = throttled(() => this.render());
    model.on('tasks', render);
    model.on('nodes', render);
    this.render();
  }

  render() {
    const tasks = [...this.model.tasks.values()].sort((a, b) => a.id - b.id);
    rerender(this.board, () => COLUMNS.map(([status, title]) => {
      const mine = tasks.filter((t) => t.status === status);
      const col = h('section', { class: 'column', dataset: { status }, 'aria-label': `${title} (${mine.length})` },
        h('h3', {}, title, ' ', h('span', { class: 'badge' }, mine.length)),
        h('ul', {}, mine.map((t) => this.card(t))));
      col.addEventListener('dragover', (e) => { e.preventDefault(); col.classList.add('drop'); });
      col.addEventListener('dragleave', () => col.classList.remove('drop'));
      col.addEventListener('drop', (e) => {
        e.preventDefault();
        col.classList.remove('drop');
        const id = Number(e.dataTransfer.getData('text/plain'));
        if (id) this.move(id, status);
      });
      return col;
    }));
  }

  card(t) {
    const idx = COLUMNS.findIndex(([s]) => s === t.status);
    const node = t.node ? this.model.nodes.get(t.node) : null;
    const li = h('li', { class: 'card', draggable: 'true', dataset: { taskId: String(t.id) } },
      h('div', { class: 'card-title' }, t.title),
      t.description ? h('div', { class: 'card-desc' }, t.description) : null,
      h('div', { class: 'card-meta' },
        h('span', { class: 'assignee' }, t.assignee ? `@${t.assignee}` : 'unassigned'),
        t.node ? h('button', { type: 'button', class: 'link', dataset: { key: `tasknode:${t.id}` }, onclick: () => this.app.scene.select(t.node) },
          h('span', { class: 'sr-only' }, 'linked to '), `↳ ${node ? nodeName(node) : t.node}`) : null),
      h('div', { class: 'card-actions' },
        idx > 0 ? h('button', { type: 'button', class: 'move', dataset: { key: `back:${t.id}`, move: COLUMNS[idx - 1][0] },
          'aria-label': `Move "${t.title}" to ${COLUMNS[idx - 1][1]}`, onclick: () => this.move(t.id, COLUMNS[idx - 1][0]) }, `← ${COLUMNS[idx - 1][1]}`) : null,
        h('button', { type: 'button', dataset: { key: `edit:${t.id}` }, 'aria-label': `Edit "${t.title}"`, onclick: () => this.edit(t) }, 'Edit'),
        idx < COLUMNS.length - 1 ? h('button', { type: 'button', class: 'move', dataset: { key: `fwd:${t.id}`, move: COLUMNS[idx + 1][0] },
          'aria-label': `Move "${t.title}" to ${COLUMNS[idx + 1][1]}`, onclick: () => this.move(t.id, COLUMNS[idx + 1][0]) }, `${COLUMNS[idx + 1][1]} →`) : null));
    li.addEventListener('dragstart', (e) => e.dataTransfer.setData('text/plain', String(t.id)));
    return li;
  }

  async move(id, status) {
    const t = this.model.tasks.get(id);
    if (!t || t.status === status) return;
    try {
      const r = await this.app.client.request('task.update', { task: id, status });
      this.model.ownTask(r.task);
    } catch (e) { this.app.error(e); }
  }

  buildDialog() {
    const f = (id, label, input) => h('label', { for: id }, label, input);
    this.fields = {
      title: h('input', { id: 'task-title', required: true, maxlength: '200', autocomplete: 'off' }),
      description: h('textarea', { id: 'task-description', rows: '4', maxlength: '10000' }),
      status: h('select', { id: 'task-status' }, COLUMNS.map(([s, title]) => h('option', { value: s }, title))),
      assignee: h('select', { id: 'task-assignee' }),
      node: h('select', { id: 'task-node' }),
    };
    this.deleteButton = h('button', { type: 'button', class: 'danger', id: 'task-delete', onclick: () => this.remove() }, 'Delete');
    const form = h('form', { method: 'dialog', onsubmit: (e) => { e.preventDefault(); this.save(); } },
      h('h3', { id: 'task-dialog-title' }, 'Task'),
      f('task-title', 'Title', this.fields.title),
      f('task-description', 'Description', this.fields.description),
      h('div', { class: 'row' },
        f('task-status', 'Status', this.fields.status),
        f('task-assignee', 'Assigned to', this.fields.assignee)),
      f('task-node', 'Linked node', this.fields.node),
      h('div', { class: 'dialog-actions' }, this.deleteButton,
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', onclick: () => this.dialog.close() }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary', id: 'task-save' }, 'Save')));
    return h('dialog', { id: 'task-dialog', 'aria-labelledby': 'task-dialog-title' }, form);
  }

  edit(t) {
    this.editing = t;
    const users = [...this.model.users.keys()].sort();
    if (t && t.assignee && !users.includes(t.assignee)) users.push(t.assignee);
    this.fields.assignee.replaceChildren(h('option', { value: '' }, 'nobody'), ...users.map((u) => h('option', { value: u }, u)));
    const nodes = [...this.model.nodes.values()].sort((a, b) => nodeName(a).localeCompare(nodeName(b), undefined, { numeric: true })).slice(0, 2000);
    this.fields.node.replaceChildren(h('option', { value: '' }, 'none'),
      ...(t && t.node && !this.model.nodes.has(t.node) ? [h('option', { value: t.node }, `${t.node} (deleted)`)] : []),
      ...nodes.map((n) => h('option', { value: n.uuid }, `${nodeName(n)} (${n.kind})`)));
    this.fields.title.value = t ? t.title : '';
    this.fields.description.value = t ? t.description || '' : '';
    this.fields.status.value = t ? t.status : 'todo';
    this.fields.assignee.value = t && t.assignee ? t.assignee : '';
    this.fields.node.value = t && t.node ? t.node : (!t && this.app.scene.selected) || '';
    this.deleteButton.hidden = !t;
    this.dialog.querySelector('h3').textContent = t ? `Task #${t.id}` : 'New task';
    this.dialog.showModal();
    this.fields.title.focus();
  }

  async save() {
    const v = {
      title: this.fields.title.value.trim(),
      description: this.fields.description.value,
      status: this.fields.status.value,
      assignee: this.fields.assignee.value || null,
      node: this.fields.node.value || null,
    };
    if (!v.title) { this.fields.title.focus(); return; }
    try {
      const r = this.editing ? await this.app.client.request('task.update', Object.assign({ task: this.editing.id }, v))
                             : await this.app.client.request('task.create', v);
      this.model.ownTask(r.task);
      this.dialog.close();
    } catch (e) { this.app.error(e); }
  }

  async remove() {
    const t = this.editing;
    if (!t || !confirm(`Delete task "${t.title}"?`)) return;
    try {
      await this.app.client.request('task.delete', { task: t.id });
      this.model.tasks.delete(t.id);
      this.model.changed('tasks');
      this.dialog.close();
    } catch (e) { this.app.error(e); }
  }
}
