// Cohorts (docs/cohorts.md): each named cohort with its share per
// environment and what references it (flag rollouts, routing flags, bundle
// canaries), "new cohort", and setting the share in the chosen
// environment, which moves every reference at once.
import { api, enc, get } from './api.js';
import { ConfirmDialog, ErrorLine, PRODUCTION, html, toPercent, toWeight, useLive, useLoad, useSession, useState } from './lib.js';

function NewCohort({ onClose, onDone }) {
  const [form, setForm] = useState({ key: '', name: '', bucket_by: '' });
  const [error, setError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  async function submit(e) {
    e.preventDefault();
    const body = { key: form.key.trim(), name: form.name.trim() };
    if (form.bucket_by.trim()) body.bucket_by = form.bucket_by.trim();
    try {
      await api('POST', '/cohorts', { body });
      onDone();
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-cohort-title">
    <h2 id="new-cohort-title">New cohort</h2>
    <div class="grid2">
      <div><label for="nc-key">Key</label><input id="nc-key" required maxlength="100" value=${form.key} onInput=${set('key')} placeholder="green-release" /></div>
      <div><label for="nc-name">Name</label><input id="nc-name" value=${form.name} onInput=${set('name')} placeholder="Green release" /></div>
    </div>
    <label for="nc-bucket">Bucket by (default: the targeting key)</label>
    <input id="nc-bucket" value=${form.bucket_by} onInput=${set('bucket_by')} placeholder="key" />
    <${ErrorLine} error=${error} />
    <div class="actions"><button type="button" onClick=${onClose}>Cancel</button><button type="submit" class="primary">Create cohort</button></div>
  </form>`;
}

function where(r) {
  const name = r.kind === 'flag' ? html`<a href=${`#/flags/${enc(r.key)}`}>${r.key}</a>` : html`<a href="#/bundles">${r.key}</a>`;
  return html`<li data-reference=${`${r.kind}:${r.key}`}>${r.kind === 'flag' ? 'flag' : 'bundle canary'} ${name}
    <span class="muted">(${r.environment}, ${r.at})</span></li>`;
}

/** The share in `env`, editable; production asks for a comment first. */
function Share({ cohort, env, onDone }) {
  const { readOnly } = useSession();
  const current = toPercent(cohort.weights[env] ?? 0);
  const [value, setValue] = useState(String(current));
  const [asking, setAsking] = useState(false);
  const [moved, setMoved] = useState(null);
  const [error, setError] = useState(null);
  const id = `share-${cohort.key}`;
  const here = cohort.references.filter((r) => r.environment === env);
  async function save(comment = '') {
    setError(null);
    try {
      const { data } = await api('PUT', `/cohorts/${enc(cohort.key)}/environments/${enc(env)}`, {
        body: { weight: toWeight(value) },
        version: cohort.version,
        comment,
      });
      setAsking(false);
      setMoved(data.moved);
      onDone();
    } catch (err) {
      setAsking(false);
      setError(err.status === 409 ? { message: 'Not saved: this cohort changed meanwhile (shown now). Try again.' } : err);
    }
  }
  function submit(e) {
    e.preventDefault();
    if (env === PRODUCTION) setAsking(true);
    else save();
  }
  return html`<form class="share" onSubmit=${submit}>
    <label for=${id}>Share in ${env} (%)</label>
    <input id=${id} type="number" min="0" max="100" step="0.001" required disabled=${readOnly} value=${value} onInput=${(e) => setValue(e.target.value)} />
    <button type="submit" class="primary" disabled=${readOnly || Number(value) === current}>Set share</button>
    <${ErrorLine} error=${error} />
    ${moved ? html`<p class="muted" role="status">Moved ${moved.length} ${moved.length === 1 ? 'reference' : 'references'} with it.</p>` : null}
    ${asking
      ? html`<${ConfirmDialog}
          title=${`Set ${cohort.key} to ${value}% in production?`}
          confirmLabel="Set share in production"
          needComment=${true}
          onConfirm=${(comment) => save(comment)}
          onCancel=${() => setAsking(false)}>
          <p>${here.length === 0
            ? 'Nothing references this cohort in production yet.'
            : `These move together, for the same users: ${here.map((r) => `${r.kind} ${r.key}`).join(', ')}.`}
            ${Number(value) > current ? ' Everyone already inside stays inside.' : ' Users leave the cohort, and everything above with them.'}</p>
        <//>`
      : null}
  </form>`;
}

export function CohortsPage() {
  const { env, environments, readOnly } = useSession();
  const [creating, setCreating] = useState(false);
  const [list, error, reload] = useLoad(() => get('/cohorts'), []);
  useLive((entries) => {
    if (entries.some((e) => ['cohort', 'flag', 'bundle'].includes(e.resource_kind))) reload();
  });
  const envs = environments.map((e) => e.key);
  return html`<section>
    <div class="title-row"><h1>Cohorts</h1>
      <button type="button" class="primary" disabled=${readOnly} onClick=${() => setCreating(true)}>New cohort</button></div>
    <p class="muted">One share of users per environment that flag rollouts, routing flags and bundle canaries reference: setting it moves all of them for the same people.</p>
    ${creating ? html`<${NewCohort} onClose=${() => setCreating(false)} onDone=${() => (setCreating(false), reload())} />` : null}
    <${ErrorLine} error=${error} />
    <table>
      <thead><tr><th scope="col">Cohort</th>${envs.map((e) => html`<th scope="col" class="num">${e}</th>`)}
        <th scope="col">Referenced by</th><th scope="col">Share in ${env}</th></tr></thead>
      <tbody>
        ${(list?.cohorts ?? []).map(
          (c) => html`<tr data-cohort=${c.key}>
            <td>${c.name || c.key}<br /><code class="key">${c.key}</code>
              <br /><span class="muted">salt <code>${c.salt}</code>, by <code>${c.bucket_by}</code></span></td>
            ${envs.map((e) => html`<td class="num" data-env=${e}>${toPercent(c.weights[e] ?? 0)}%</td>`)}
            <td>${c.references.length === 0 ? html`<span class="muted">nothing</span>` : html`<ul class="plain">${c.references.map(where)}</ul>`}</td>
            <td><${Share} key=${`${c.key}-${env}`} cohort=${c} env=${env} onDone=${reload} /></td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${list && list.cohorts.length === 0 ? html`<p class="muted">No cohorts yet.</p>` : null}
  </section>`;
}
