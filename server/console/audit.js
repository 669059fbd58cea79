// The audit log: who changed what, when, why, with a readable before/after
// diff. Filters by kind, key, environment and actor; new entries appear live;
// "older" pages backwards.
import { Receipt } from './receipt.js';
import { enc, get } from './api.js';
import { ErrorLine, formatTime, html, show, useEffect, useLive, useState } from './lib.js';
import { diff, ruleChanges } from './diff.js';
import { useUrlFilters } from './urlstate.js';

const PAGE = 50;

/** Each audit action in words (the raw name is the entry's `data-action`, and what the API filters by). */
const ACTIONS = {
  'flag.create': 'created the flag', 'flag.update': 'edited the flag’s details', 'flag.config': 'changed the targeting',
  'flag.on': 'turned it on', 'flag.off': 'turned it off', 'flag.archive': 'archived the flag', 'flag.restore': 'restored the flag',
  'flag.delete': 'deleted the flag', 'flag.scheduled_change': 'applied a scheduled change',
  'segment.create': 'created the segment', 'segment.update': 'edited the segment', 'segment.delete': 'deleted the segment',
  'segment.included': 'replaced the included keys', 'segment.excluded': 'replaced the excluded keys',
  'release.create': 'created a release plan', 'release.start': 'started the release plan', 'release.pause': 'paused the release plan',
  'release.resume': 'resumed the release plan', 'release.skip': 'moved the release plan to its next stage',
  'release.advance': 'the release plan reached its next stage on time', 'release.rollback': 'rolled the release plan back',
  'release.guard_tripped': 'the release plan’s guard tripped', 'release.complete': 'the release plan completed',
  'bundle.publish': 'published a bundle', 'bundle.config': 'changed the bundle settings',
  'environment.create': 'created the environment', 'token.create': 'created a token', 'token.revoke': 'revoked a token',
  'key.create': 'created an SDK key', 'key.revoke': 'revoked an SDK key', 'webhook.create': 'created a webhook', 'webhook.delete': 'deleted a webhook',
};

/**
 * An action in words. `flag.release.skip` (what entries written before a
 * plan's move became one entry call its change to the flag) reads as the
 * plan's move; an action without words reads as words too ("guard tripped").
 */
export function actionWords(action) {
  const words = ACTIONS[action] ?? ACTIONS[action.replace(/^flag\.release\./, 'release.')];
  if (words) return words;
  const [kind, ...rest] = action.split('.');
  return `${kind}: ${rest.join(' ').replaceAll('_', ' ')}`;
}

/** A long key list as "+N / −M" with a few examples, instead of 100,000 keys. */
function Value({ value, other }) {
  if (value === undefined) return html`<span class="muted">—</span>`;
  if (Array.isArray(value) && value.length > 8) {
    const theirs = new Set(Array.isArray(other) ? other : []);
    const only = value.filter((v) => !theirs.has(v));
    return html`<span>${value.length.toLocaleString()} items${only.length ? html`; ${only.length.toLocaleString()} not on the other side, e.g. <code>${only.slice(0, 5).map(show).join(', ')}</code>` : ''}</span>`;
  }
  return html`<code>${show(value)}</code>`;
}

/**
 * A plan's move is one entry, the plan's, carrying the flag's before and
 * after. Entries written before that came in pairs in one transaction (the
 * flag's `flag.release.skip` and the plan's `release.skip`): a pair shows as
 * the plan's entry with the flag's change.
 */
export function fold(entries) {
  const pairs = new Map();
  for (const e of entries) {
    if (!e.action.startsWith('flag.release.')) continue;
    const plan = entries.find((r) => r.action === e.action.slice('flag.'.length) && r.resource_key === e.resource_key
      && r.environment === e.environment && r.id > e.id && r.id - e.id <= 3 && !pairs.has(r.id));
    if (plan) pairs.set(plan.id, e);
  }
  const folded = new Set([...pairs.values()].map((e) => e.id));
  return entries.filter((e) => !folded.has(e.id)).map((e) => (pairs.has(e.id) ? { ...e, flagChange: pairs.get(e.id) } : e));
}

export function Entry({ entry: raw }) {
  // A plan's move shows the flag's before/after: what people want to see.
  const entry = raw.flagChange ? { ...raw, before: raw.flagChange.before, after: raw.flagChange.after } : raw;
  const [open, setOpen] = useState(false);
  const rows = open ? diff(entry.before, entry.after) : [];
  // A plan's move says at once what the flag now serves; other entries on "Show changes".
  const move = entry.resource_kind === 'release' && entry.after?.environments;
  const sentences = open || move ? ruleChanges(entry.before, entry.after) : [];
  const shown = rows.slice(0, 200);
  return html`<li class="entry" data-entry=${entry.id}>
    <div class="entry-head">
      <time datetime=${new Date(entry.at).toISOString()}>${formatTime(entry.at)}</time>
      <strong class="actor">${entry.actor}</strong>
      <span class="action" data-action=${entry.action}>${actionWords(entry.action)}</span>
      <span><code>${entry.resource_kind}</code> ${entry.resource_kind === 'flag' || entry.resource_kind === 'release'
        ? html`<a href=${`#/flags/${enc(entry.resource_key)}`}>${entry.resource_key}</a>`
        : entry.resource_kind === 'segment' && entry.environment
          ? html`<a href=${`#/segments/${enc(entry.resource_key)}`}>${entry.resource_key}</a>`
          : entry.resource_key}</span>
      ${entry.environment ? html`<span class="chip">${entry.environment}</span>` : null}
      ${entry.before || entry.after
        ? html`<button type="button" class="link" aria-expanded=${open} onClick=${() => setOpen(!open)}>${open ? 'Hide changes' : 'Show changes'}</button>`
        : null}
    </div>
    ${entry.comment ? html`<p class="comment">“${entry.comment}”</p>` : null}
    ${entry.change_version && entry.environment ? html`<${Receipt} env=${entry.environment} version=${entry.change_version} />` : null}
    ${sentences.length ? html`<ul class="rule-changes">${sentences.map((t) => html`<li>${t}</li>`)}</ul>` : null}
    ${open
      ? rows.length === 0
        ? html`<p class="muted">No difference in the stored document.</p>`
        : html`<table class="diff">
            <thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
            <tbody>${shown.map((r) => html`<tr><th scope="row"><code>${r.path}</code></th>
              <td class="before"><${Value} value=${r.before} other=${r.after} /></td>
              <td class="after"><${Value} value=${r.after} other=${r.before} /></td></tr>`)}</tbody>
          </table>${rows.length > shown.length ? html`<p class="muted">…and ${rows.length - shown.length} more changed fields.</p>` : null}`
      : null}
  </li>`;
}

export function AuditPage() {
  // In the URL (`#/audit?actor=ana&from=2026-12-01`): a filtered log can be shared, and Back undoes a filter.
  const [filters, setFilters] = useUrlFilters({ resource_kind: '', resource_key: '', environment: '', actor: '', from: '', to: '' });
  const [entries, setEntries] = useState([]);
  const [more, setMore] = useState(false);
  const [error, setError] = useState(null);
  const query = (extra) => {
    const p = new URLSearchParams({ limit: PAGE, ...extra });
    for (const [k, v] of Object.entries(filters)) {
      if (!v.trim()) continue;
      // Dates are days in the browser's time zone; "to" includes its whole day.
      if (k === 'from') p.set(k, String(new Date(`${v}T00:00`).getTime()));
      else if (k === 'to') p.set(k, String(new Date(`${v}T00:00`).getTime() + 86_400_000));
      else p.set(k, v.trim());
    }
    return `/audit?${p}`;
  };
  async function load() {
    try {
      const page = await get(query({}));
      setEntries(page.entries);
      setMore(page.entries.length === PAGE);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }
  useEffect(() => {
    load();
  }, [JSON.stringify(filters)]);
  useLive(async (fresh) => {
    const newest = entries[0]?.id ?? 0;
    if (fresh.some((e) => e.id > newest)) {
      const page = await get(query({ after_id: newest })).catch(() => null);
      if (page) setEntries((old) => [...page.entries, ...old]);
    }
  });
  async function older() {
    const last = entries[entries.length - 1];
    const page = await get(query({ before_id: last.id }));
    setEntries([...entries, ...page.entries]);
    setMore(page.entries.length === PAGE);
  }
  const set = (k) => (e) => setFilters({ [k]: e.target.value });
  return html`<section>
    <h1>Audit log</h1>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <div><label for="au-kind">Kind</label>
        <select id="au-kind" value=${filters.resource_kind} onChange=${set('resource_kind')}>
          <option value="">any</option>
          ${['flag', 'segment', 'release', 'bundle', 'environment', 'token', 'key', 'webhook'].map((k) => html`<option value=${k}>${k}</option>`)}
        </select></div>
      <div><label for="au-key">Key</label><input id="au-key" value=${filters.resource_key} onChange=${set('resource_key')} /></div>
      <div><label for="au-env">Environment</label><input id="au-env" value=${filters.environment} onChange=${set('environment')} /></div>
      <div><label for="au-actor">Who (part of the name)</label><input id="au-actor" value=${filters.actor} onChange=${set('actor')} /></div>
      <div><label for="au-from">From (day)</label><input id="au-from" type="date" value=${filters.from} onChange=${set('from')} /></div>
      <div><label for="au-to">To (day, included)</label><input id="au-to" type="date" value=${filters.to} onChange=${set('to')} /></div>
    </form>
    <${ErrorLine} error=${error} />
    <ol class="audit" aria-live="polite">${fold(entries).map((e) => html`<${Entry} key=${e.id} entry=${e} />`)}</ol>
    ${entries.length === 0 && !error ? html`<p class="muted">No entries.</p>` : null}
    ${more ? html`<div class="actions left"><button type="button" onClick=${older}>Older entries</button></div>` : null}
  </section>`;
}
