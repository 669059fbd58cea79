// Flags: every flag with its on/off state and usage per environment, search
// and tag filters and the sort order (kept in the URL), one-click toggles
// (production asks for confirmation and a comment, recorded in the audit
// log), and "new flag".
import { Receipt } from './receipt.js';
import { api, enc, get } from './api.js';
import {
  ConfirmDialog, ErrorLine, PRODUCTION, html, parseVariations, useEffect, useLive, useLoad, useRef, useSession, useState,
} from './lib.js';
import { useUrlFilters } from './urlstate.js';
import { Evaluations, LastEvaluated, StaleChip, useUsage } from './usage.js';

/** A one-line summary of a flag's config in one environment. */
export function summary(config) {
  if (!config) return '';
  const parts = [];
  const targets = (config.targets ?? []).reduce((n, t) => n + t.values.length, 0);
  if (targets) parts.push(`${targets} target${targets === 1 ? '' : 's'}`);
  if (config.rules?.length) parts.push(`${config.rules.length} rule${config.rules.length === 1 ? '' : 's'}`);
  if (config.fallthrough?.rollout) parts.push('rollout');
  return parts.join(' · ');
}

/**
 * The on/off switch of one flag in one environment. In production it asks
 * first. `onDone` gets the new config and the flag's new version.
 */
export function Toggle({ flag, env, config, onDone, onError }) {
  const { readOnly } = useSession();
  const [asking, setAsking] = useState(false);
  // The change just made, to show how far it got.
  const [made, setMade] = useState(null);
  const on = !!config?.on;
  const id = `toggle-${flag.key}-${env}`;

  async function apply(comment) {
    try {
      const { data, version } = await api('POST', `/flags/${enc(flag.key)}/environments/${enc(env)}/toggle`, {
        body: { on: !on, comment: comment || undefined },
      });
      setAsking(false);
      onDone?.(data, version);
      const { entries } = await get(`/audit?resource_kind=flag&resource_key=${enc(flag.key)}&environment=${enc(env)}&limit=1`);
      if (entries[0]?.change_version) setMade(entries[0].change_version);
    } catch (e) {
      setAsking(false);
      onError?.(e);
    }
  }

  return html`<span class="toggle">
    <input type="checkbox" role="switch" id=${id} checked=${on} disabled=${readOnly || flag.archived}
      onClick=${(e) => {
        e.preventDefault();
        if (env === PRODUCTION) setAsking(true);
        else apply('');
      }} />
    <label for=${id}><span class="sr-only">${flag.key} in ${env}: </span>${on ? 'On' : 'Off'}${flag.archived
      ? html` <span class="chip warn">archived: not served</span>` : null}</label>
    ${asking
      ? html`<${ConfirmDialog}
          title=${`Turn ${on ? 'off' : 'on'} “${flag.name || flag.key}” in production?`}
          confirmLabel=${on ? 'Turn off in production' : 'Turn on in production'}
          needComment=${true}
          onConfirm=${apply}
          onCancel=${() => setAsking(false)}>
          <p>This changes what every production user gets, within a second.</p>
        <//>`
      : null}
    ${made ? html`<${Receipt} env=${env} version=${made} live=${true} />` : null}
  </span>`;
}

function NewFlag({ onCreated, onClose }) {
  const [form, setForm] = useState({ key: '', name: '', description: '', tags: '', kind: 'boolean', variations: '', client_side: false });
  const [error, setError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const keyField = useRef(null);
  useEffect(() => keyField.current?.focus(), []);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    let variations;
    try {
      variations = parseVariations(form.kind, form.variations);
    } catch (err) {
      return setError({ message: err.message, field: 'variations' });
    }
    try {
      const { data } = await api('POST', '/flags', {
        body: {
          key: form.key.trim(),
          name: form.name.trim(),
          description: form.description,
          tags: form.tags.split(',').map((t) => t.trim()).filter(Boolean),
          variations,
          client_side: form.client_side,
        },
      });
      onCreated(data);
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-flag-title">
    <h2 id="new-flag-title">New flag</h2>
    <p class="muted">A new flag is off in every environment (it ships dark).</p>
    <div class="grid2">
      <div><label for="nf-key">Key</label><input id="nf-key" required maxlength="100" ref=${keyField} value=${form.key} onInput=${set('key')} placeholder="new-lobby" /></div>
      <div><label for="nf-name">Name</label><input id="nf-name" value=${form.name} onInput=${set('name')} placeholder="New lobby" /></div>
    </div>
    <label for="nf-description">Description</label>
    <input id="nf-description" value=${form.description} onInput=${set('description')} />
    <label for="nf-tags">Tags (comma-separated)</label>
    <input id="nf-tags" value=${form.tags} onInput=${set('tags')} placeholder="lobby, q3" />
    <label for="nf-kind">Variation type</label>
    <select id="nf-kind" value=${form.kind} onChange=${set('kind')}>
      <option value="boolean">Boolean (false, true)</option>
      <option value="string">String</option>
      <option value="number">Number</option>
      <option value="json">JSON object</option>
    </select>
    ${form.kind !== 'boolean'
      ? html`<label for="nf-variations">Variations (one per line${form.kind === 'string' ? '' : ', as JSON'})</label>
          <textarea id="nf-variations" rows="3" value=${form.variations} onInput=${set('variations')}></textarea>`
      : null}
    <div class="check"><input type="checkbox" id="nf-client" checked=${form.client_side} onChange=${set('client_side')} />
      <label for="nf-client">Visible to browsers (client-side)</label></div>
    <${ErrorLine} error=${error} />
    <div class="actions">
      <button type="button" onClick=${onClose}>Cancel</button>
      <button type="submit" class="primary">Create flag</button>
    </div>
  </form>`;
}

/** The list's orders (`sort` in the URL): label, and a comparison of two flags given the usage in the chosen environment. */
const SORTS = {
  key: { label: 'Key (A to Z)', compare: () => 0 },
  name: { label: 'Name (A to Z)', compare: (a, b) => (a.name || a.key).localeCompare(b.name || b.key) },
  evaluated: { label: 'Last evaluated (recent first)', compare: (a, b, u) => (u.last[b.key] ?? -1) - (u.last[a.key] ?? -1) },
  evaluations: { label: 'Evaluations in 7 days (most first)', compare: (a, b, u) => (u.counts[b.key]?.week ?? -1) - (u.counts[a.key]?.week ?? -1) },
  created: { label: 'Created (newest first)', compare: (a, b) => b.created_at - a.created_at },
  updated: { label: 'Updated (newest first)', compare: (a, b) => b.updated_at - a.updated_at },
};

export function FlagsPage() {
  const { env, environments, readOnly, setEnv } = useSession();
  const [filters, setFilters] = useUrlFilters({ q: '', tag: '', archived: 'false', env: '', stale: 'false', days: '30', sort: 'key' });
  const sort = SORTS[filters.sort] ? filters.sort : 'key';
  const { q, tag } = filters;
  const archived = filters.archived === 'true';
  const setQ = (v) => setFilters({ q: v }, { replace: true });
  const setTag = (v) => setFilters({ tag: v });
  const setArchived = (v) => setFilters({ archived: String(v) });
  // The environment in a shared link wins; after that the picker writes it into the URL.
  useEffect(() => {
    if (filters.env && filters.env !== env && (environments.length === 0 || environments.some((e) => e.key === filters.env))) setEnv(filters.env);
  }, [filters.env, environments.length]);
  const seen = useRef(false);
  useEffect(() => {
    if (seen.current && filters.env !== env) setFilters({ env }, { replace: true });
    seen.current = true;
  }, [env]);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState(null);
  const [list, loadError, reload] = useLoad(() => get(`/flags?archived=${archived}`), [archived]);
  useLive((entries) => {
    if (entries.some((e) => ['flag', 'release', 'environment'].includes(e.resource_kind))) reload();
  });

  const envs = environments.length ? environments.map((e) => e.key) : [env];
  const days = /^\d+$/.test(filters.days) && Number(filters.days) >= 1 ? filters.days : '30';
  const usage = useUsage(envs, env, days, list);
  const onlyStale = filters.stale === 'true';
  const needle = q.trim().toLowerCase();
  const here = { last: usage.last[env] ?? {}, counts: usage.counts[env] ?? {} };
  const flags = (list?.flags ?? []).filter(
    (f) =>
      (!onlyStale || usage.stale[f.key]) &&
      (!tag || f.tags.includes(tag)) &&
      (!needle || f.key.toLowerCase().includes(needle) || f.name.toLowerCase().includes(needle) || f.description.toLowerCase().includes(needle)),
  ).sort((a, b) => SORTS[sort].compare(a, b, here) || a.key.localeCompare(b.key));
  const tags = [...new Set((list?.flags ?? []).flatMap((f) => f.tags))].sort();

  return html`<section>
    <div class="title-row">
      <h1>Flags</h1>
      <button type="button" class="primary" disabled=${readOnly} onClick=${() => setCreating(true)}>New flag</button>
    </div>
    ${creating
      ? html`<${NewFlag} onClose=${() => setCreating(false)} onCreated=${(f) => (location.hash = `#/flags/${enc(f.key)}`)} />`
      : null}
    <div class="filters" role="search">
      <div><label for="flag-search">Search</label>
        <input id="flag-search" type="search" value=${q} placeholder="key, name or description" onInput=${(e) => setQ(e.target.value)} /></div>
      <div><label for="flag-tag">Tag</label>
        <select id="flag-tag" value=${tag} onChange=${(e) => setTag(e.target.value)}>
          <option value="">All tags</option>
          ${tags.map((t) => html`<option value=${t}>${t}</option>`)}
        </select></div>
      <div><label for="flag-sort">Sort by</label>
        <select id="flag-sort" value=${sort} onChange=${(e) => setFilters({ sort: e.target.value })}>
          ${Object.entries(SORTS).map(([k, { label }]) => html`<option value=${k}>${k === 'evaluated' || k === 'evaluations' ? `${label}, ${env}` : label}</option>`)}
        </select></div>
      <div class="check"><input type="checkbox" id="flag-archived" checked=${archived} onChange=${(e) => setArchived(e.target.checked)} />
        <label for="flag-archived">Show archived</label></div>
      <div class="check"><input type="checkbox" id="flag-stale" checked=${onlyStale} onChange=${(e) => setFilters({ stale: String(e.target.checked) })} />
        <label for="flag-stale">Only potentially stale in ${env} (${days} days)</label></div>
    </div>
    <${ErrorLine} error=${loadError || error} />
    <div class="table-scroll"><table class="flags">
      <caption class="sr-only">Flags and their state per environment</caption>
      <thead><tr>
        <th scope="col">Flag</th><th scope="col">Tags</th>
        ${envs.map((e) => html`<th scope="col" class=${e === env ? 'current-env' : ''}>${e}</th>`)}
        <th scope="col">In ${env}</th>
      </tr></thead>
      <tbody>
        ${flags.map(
          (f) => html`<tr data-flag=${f.key} class=${f.archived ? 'archived' : ''}>
            <td><a href=${`#/flags/${enc(f.key)}`}>${f.name || f.key}</a><br /><code class="key">${f.key}</code>
              ${f.archived ? html` <span class="chip">archived</span>` : null}
              <${StaleChip} entry=${usage.stale[f.key]} days=${days} /></td>
            <td>${f.tags.map((t) => html`<button type="button" class="chip" title=${`Only flags tagged ${t}`} onClick=${() => setTag(t)}>${t}</button>`)}</td>
            ${envs.map(
              (e) => html`<td class=${e === env ? 'current-env' : ''}>
                <${Toggle} flag=${f} env=${e} config=${f.environments?.[e]} onDone=${reload} onError=${setError} />
                <${LastEvaluated} at=${usage.last[e]?.[f.key]} />
                <${Evaluations} counts=${usage.counts[e]?.[f.key]} />
              </td>`,
            )}
            <td class="muted">${summary(f.environments?.[env])}</td>
          </tr>`,
        )}
      </tbody>
    </table></div>
    ${list && flags.length === 0 ? html`<p class="muted">No flags${needle || tag || onlyStale ? ' match' : ' yet'}.</p>` : null}
  </section>`;
}
