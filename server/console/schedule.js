// A flag's scheduled changes in one environment: the list (pending first,
// then what was applied, cancelled or failed), a form to schedule turning
// the flag on or off at a time in the browser's zone, and cancel.
import { api, enc, get } from './api.js';
import { ErrorLine, formatTime, html, useEffect, useLive, useSession, useState } from './lib.js';

const WHAT = (c) => (c.on === true ? 'turn it on' : c.on === false ? 'turn it off' : 'replace its targeting');

/** The browser's zone, said beside the time field: the time typed is in it. */
const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

export function ScheduledChanges({ flagKey, env }) {
  const { readOnly } = useSession();
  const [changes, setChanges] = useState(null);
  const [form, setForm] = useState({ on: 'true', at: '', comment: '' });
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const load = () => get(`/flags/${enc(flagKey)}/environments/${enc(env)}/scheduled-changes`).then(
    (d) => setChanges(d.changes), (err) => (setChanges([]), setError(err)),
  );
  useEffect(() => {
    load();
  }, [flagKey, env]);
  useLive((entries) => {
    if (entries.some((e) => e.resource_key === flagKey)) load();
  });
  async function schedule(e) {
    e.preventDefault();
    setError(null);
    setDone(null);
    if (!form.at) return setError({ message: 'Choose when to apply it.', field: 'at' });
    const at = new Date(form.at);
    if (Number.isNaN(at.getTime())) return setError({ message: 'The time is not valid.', field: 'at' });
    try {
      await api('POST', `/flags/${enc(flagKey)}/environments/${enc(env)}/scheduled-changes`, {
        body: { at: at.toISOString(), change: { on: form.on === 'true' } }, comment: form.comment,
      });
      setForm({ ...form, at: '', comment: '' });
      setDone('Scheduled.');
      await load();
    } catch (err) {
      setError(err);
    }
  }
  async function cancel(c) {
    setError(null);
    setDone(null);
    try {
      await api('DELETE', `/scheduled-changes/${c.id}`);
      setDone(`Cancelled the change of ${formatTime(c.at)}.`);
      await load();
    } catch (err) {
      setError(err);
    }
  }
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const sorted = [...(changes ?? [])].sort((a, b) => (a.state === 'pending') !== (b.state === 'pending') ? (a.state === 'pending' ? -1 : 1) : a.at - b.at);
  return html`<div class="scheduled">
    <h2 id="scheduled-title">Scheduled changes in ${env}</h2>
    ${changes === null
      ? html`<p class="muted">Loading…</p>`
      : sorted.length === 0
        ? html`<p class="muted">Nothing scheduled.</p>`
        : html`<table class="list" aria-labelledby="scheduled-title">
            <thead><tr><th scope="col">When</th><th scope="col">Change</th><th scope="col">State</th><th scope="col">By</th><th scope="col">Comment</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>${sorted.map((c) => html`<tr data-change=${c.id}>
              <td><time datetime=${new Date(c.at).toISOString()}>${formatTime(c.at)}</time></td>
              <td>${WHAT(c.change)}</td>
              <td>${c.state}${c.error ? html` <span class="error">${c.error}</span>` : null}</td>
              <td>${c.created_by}</td>
              <td>${c.comment}</td>
              <td>${c.state === 'pending'
                ? html`<button type="button" disabled=${readOnly} onClick=${() => cancel(c)} aria-label=${`Cancel the change of ${formatTime(c.at)}`}>Cancel</button>`
                : null}</td>
            </tr>`)}</tbody>
          </table>`}
    <form class="card" onSubmit=${schedule} aria-labelledby="schedule-title">
      <h3 id="schedule-title">Schedule a change</h3>
      <fieldset class="plain" disabled=${readOnly}>
        <div class="grid2">
          <div><label for="sc-on">Change</label>
            <select id="sc-on" value=${form.on} onChange=${set('on')}>
              <option value="true">Turn it on</option><option value="false">Turn it off</option>
            </select></div>
          <div data-field="at"><label for="sc-at">When (${zone()})</label>
            <input id="sc-at" type="datetime-local" value=${form.at} onInput=${set('at')} /></div>
        </div>
        <label for="sc-comment">Comment for the audit log (optional)</label>
        <input id="sc-comment" value=${form.comment} onInput=${set('comment')} />
        <${ErrorLine} error=${error} />
        <div class="actions">${done ? html`<span class="ok" role="status">${done}</span>` : null}
          <button type="submit" class="primary">Schedule</button></div>
      </fieldset>
    </form>
  </div>`;
}
