// Segments (cohorts) of the chosen environment: the list with sizes and
// whether a flag uses them, "new segment", and one segment's page: its
// rules, its key lists (bulk upload of 100,000 keys from a file or pasted
// text) and the flags that use it. Where the environment requires
// approvals, a refused edit of its keys or rules is offered as a change
// request.
import { api, enc, get } from './api.js';
import { ConfirmDialog, ErrorLine, html, pointAt, useLive, useLoad, useSession, useState } from './lib.js';
import { AttributeList, ClauseList, newClause } from './rules.js';
import { FreezeBanner } from './freeze.js';
import { ProposeDialog, ProposedNotice } from './requests.js';

function NewSegment({ env, onClose }) {
  const [form, setForm] = useState({ key: '', name: '', description: '' });
  const [error, setError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  async function submit(e) {
    e.preventDefault();
    try {
      const { data } = await api('POST', `/environments/${enc(env)}/segments`, { body: { ...form, key: form.key.trim() } });
      location.hash = `#/segments/${enc(data.key)}`;
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-segment-title">
    <h2 id="new-segment-title">New segment in ${env}</h2>
    <div class="grid2">
      <div><label for="ns-key">Key</label><input id="ns-key" required maxlength="100" value=${form.key} onInput=${set('key')} placeholder="vip" /></div>
      <div><label for="ns-name">Name</label><input id="ns-name" value=${form.name} onInput=${set('name')} placeholder="VIP players" /></div>
    </div>
    <label for="ns-description">Description</label><input id="ns-description" value=${form.description} onInput=${set('description')} />
    <${ErrorLine} error=${error} />
    <div class="actions"><button type="button" onClick=${onClose}>Cancel</button><button type="submit" class="primary">Create segment</button></div>
  </form>`;
}

export function SegmentsPage() {
  const { env, readOnly } = useSession();
  const [creating, setCreating] = useState(false);
  const [list, error, reload] = useLoad(() => get(`/environments/${enc(env)}/segments`), [env]);
  useLive((entries) => {
    if (entries.some((e) => e.environment === env || e.resource_kind === 'flag')) reload();
  });
  return html`<section>
    <div class="title-row"><h1>Segments in ${env}</h1>
      <button type="button" class="primary" disabled=${readOnly} onClick=${() => setCreating(true)}>New segment</button></div>
    ${creating ? html`<${NewSegment} env=${env} onClose=${() => setCreating(false)} />` : null}
    <${ErrorLine} error=${error} />
    <table>
      <thead><tr><th scope="col">Segment</th><th scope="col">Included keys</th><th scope="col">Excluded keys</th>
        <th scope="col">Rules</th><th scope="col">Used by a flag</th></tr></thead>
      <tbody>
        ${(list?.segments ?? []).map(
          (s) => html`<tr data-segment=${s.key}>
            <td><a href=${`#/segments/${enc(s.key)}`}>${s.name || s.key}</a><br /><code class="key">${s.key}</code></td>
            <td class="num">${s.included_count.toLocaleString()}</td><td class="num">${s.excluded_count.toLocaleString()}</td>
            <td class="num">${s.rule_count}</td><td>${s.in_use ? 'yes' : 'no'}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${list && list.segments.length === 0 ? html`<p class="muted">No segments in ${env} yet.</p>` : null}
  </section>`;
}

/** Replaces a key list from a file or pasted text (one key per line). */
function KeyUpload({ env, segment, which, onDone, onNeedsApproval }) {
  const { readOnly } = useSession();
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);
  const id = `upload-${which}`;
  /** `how`: replace the list with the text's keys, add them to it, or remove them from it. */
  async function send(body, how = 'replace') {
    setBusy(true);
    setError(null);
    setMessage(null);
    const current = segment[which];
    const typed = [...new Set(body.split('\n').map((l) => l.trim()).filter((l) => l !== ''))];
    let list = typed;
    if (how === 'add') list = [...new Set([...current, ...typed])];
    if (how === 'remove') {
      const gone = new Set(typed);
      list = current.filter((k) => !gone.has(k));
    }
    try {
      const { data } = await api('PUT', `/environments/${enc(env)}/segments/${enc(segment.key)}/${which}`, {
        ...(how === 'replace' ? { text: body } : { body: list }),
        version: segment.version,
      });
      const count = which === 'included' ? data.included_count : data.excluded_count;
      const change = count - current.length;
      const verb = { replace: 'Replaced', add: `Added ${Math.max(0, change).toLocaleString()}`, remove: `Removed ${Math.max(0, -change).toLocaleString()}` }[how];
      setMessage(`${verb}: ${count.toLocaleString()} ${which} keys.`);
      setText('');
      onDone();
    } catch (err) {
      if (err.code === 'approval_required') {
        // The list this send would have written, with the segment's other keys and rules.
        const { included, excluded, rules } = segment;
        onNeedsApproval({ message: err.message, config: { included, excluded, rules, [which]: list }, where: which, keep: () => setText('') });
        return;
      }
      setError(err.status === 409 ? { message: 'The segment changed meanwhile: nothing was replaced. It has been reloaded; try again.' } : err);
      if (err.status === 409) onDone();
    } finally {
      setBusy(false);
    }
  }
  return html`<div class="upload">
    <label for=${`${id}-file`}>Replace the ${which} keys from a file (one key per line)</label>
    <input type="file" id=${`${id}-file`} accept=".txt,.csv,text/plain" disabled=${readOnly || busy}
      onChange=${async (e) => {
        const file = e.target.files[0];
        if (file) await send(await file.text());
        e.target.value = '';
      }} />
    <label for=${`${id}-text`}>…or paste keys (one per line) to add, remove or replace</label>
    <textarea id=${`${id}-text`} rows="3" disabled=${readOnly || busy} value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
    <div class="actions left">
      <button type="button" disabled=${readOnly || busy || !text.trim()} onClick=${() => send(text, 'add')}>Add the pasted ${which} keys</button>
      <button type="button" disabled=${readOnly || busy || !text.trim()} onClick=${() => send(text, 'remove')}>Remove the pasted ${which} keys</button>
      <button type="button" disabled=${readOnly || busy || !text.trim()} onClick=${() => send(text)}>
      Replace ${which} keys with the pasted list</button></div>
    ${message ? html`<p class="ok" role="status">${message}</p>` : null}
    <${ErrorLine} error=${error} />
  </div>`;
}

function KeyPreview({ keys, which }) {
  const shown = keys.slice(0, 20);
  return html`<p><strong>${keys.length.toLocaleString()}</strong> ${which} keys${keys.length ? ': ' : '.'}
    ${shown.map((k) => html`<code class="key">${k}</code> `)}${keys.length > shown.length ? html`<span class="muted">and ${(keys.length - shown.length).toLocaleString()} more</span>` : null}</p>`;
}

/** Flags whose rules in `env` test membership of `key`. */
function usedBy(flags, env, key) {
  return flags.filter((f) =>
    (f.environments?.[env]?.rules ?? []).some((r) => r.clauses.some((c) => c.op === 'in_segment' && c.values.includes(key))),
  );
}

export function SegmentPage({ segmentKey }) {
  const { env, readOnly } = useSession();
  const [segment, error, reload] = useLoad(() => get(`/environments/${enc(env)}/segments/${enc(segmentKey)}`), [env, segmentKey]);
  const [flags, , reloadFlags] = useLoad(() => get('/flags'), []);
  const [draft, setDraft] = useState(null);
  const [saveError, setSaveError] = useState(null);
  const [deleting, setDeleting] = useState(false);
  // A save refused with 409 approval_required: offer a change request.
  const [needsApproval, setNeedsApproval] = useState(null);
  const [proposed, setProposed] = useState(null);
  useLive((entries) => {
    if (entries.some((e) => e.resource_kind === 'segment' && e.resource_key === segmentKey && !draft)) reload();
    if (entries.some((e) => e.resource_kind === 'flag' || e.resource_kind === 'release')) reloadFlags();
  });
  if (error && !segment) return html`<section><h1>${segmentKey}</h1><${ErrorLine} error=${error} /></section>`;
  if (!segment) return html`<p class="muted">Loading…</p>`;
  const edit = draft ?? { name: segment.name, description: segment.description, rules: segment.rules };
  const set = (patch) => setDraft({ ...edit, ...patch });
  async function save(e) {
    e.preventDefault();
    setSaveError(null);
    setProposed(null);
    try {
      await api('PATCH', `/environments/${enc(env)}/segments/${enc(segmentKey)}`, { body: edit, version: segment.version });
      setDraft(null);
      pointAt(null);
      reload();
    } catch (err) {
      if (err.code === 'approval_required') {
        const renamed = edit.name !== segment.name || edit.description !== segment.description;
        setNeedsApproval({
          message: err.message,
          config: { included: segment.included, excluded: segment.excluded, rules: edit.rules },
          note: renamed ? 'A request carries the keys and rules only: the name and description stay as they are (saved on their own, they need no approval).' : null,
          where: 'definition',
          keep: () => setDraft(null),
        });
      } else if (err.status === 409) {
        setSaveError({ message: 'Not saved: someone changed this segment since you opened it. Reload the latest version and redo your edit.' });
      } else {
        setSaveError(err);
        pointAt(err.field);
      }
    }
  }
  const users = usedBy(flags?.flags ?? [], env, segmentKey);
  // The proposed request, beside the part of the page it came from.
  const notice = (where) => (proposed?.where === where ? html`<${ProposedNotice} request=${proposed.request} />` : null);
  return html`<section>
    <p class="crumbs"><a href="#/segments">Segments</a> ›</p>
    <div class="title-row"><h1>${segment.name || segment.key}</h1><code class="key">${segment.key}</code>
      <span class="muted">${env}, version ${segment.version}</span></div>
    <${FreezeBanner} env=${env} />
    <div class="card"><h2>Used by</h2>
      ${users.length
        ? html`<ul>${users.map((f) => html`<li><a href=${`#/flags/${enc(f.key)}`}>${f.name || f.key}</a></li>`)}</ul>`
        : html`<p class="muted">No flag rule in ${env} uses this segment.</p>`}
      <div class="actions left">
        <button type="button" disabled=${readOnly || users.length > 0} onClick=${() => setDeleting(true)}
          title=${users.length > 0 ? 'A flag uses it: remove it from those rules first' : ''}>Delete segment</button>
      </div>
      ${deleting
        ? html`<${ConfirmDialog} title=${`Delete segment “${segment.name || segment.key}” in ${env}?`} confirmLabel="Delete segment"
            needComment=${false} onCancel=${() => setDeleting(false)}
            onConfirm=${async (comment) => {
              try {
                await api('DELETE', `/environments/${enc(env)}/segments/${enc(segmentKey)}`, { comment });
                location.hash = '#/segments';
              } catch (err) {
                setDeleting(false);
                setSaveError(err);
              }
            }}>
            <p>Its ${segment.included.length.toLocaleString()} included keys and its rules are removed.</p>
          <//>`
        : null}
    </div>
    <form class="card" onSubmit=${save}>
      <h2>Definition</h2>
      <p class="muted">A context is in the segment when its key is included; otherwise not when excluded; otherwise when it matches every condition of any rule.</p>
      <${AttributeList} />
      <fieldset disabled=${readOnly} class="plain">
        <div class="grid2">
          <div><label for="sg-name">Name</label><input id="sg-name" value=${edit.name} onInput=${(e) => set({ name: e.target.value })} /></div>
          <div><label for="sg-description">Description</label><input id="sg-description" value=${edit.description} onInput=${(e) => set({ description: e.target.value })} /></div>
        </div>
        <h3>Rules</h3>
        <ol class="rules">
          ${edit.rules.map(
            (rule, i) => html`<li class="rule card" data-field=${`rules[${i}]`}>
              <div class="rule-head"><h3>Rule ${i + 1}</h3>
                <div><label for=${`sr${i}-id`} class="inline">Id</label>
                  <input id=${`sr${i}-id`} class="short" value=${rule.id} onInput=${(e) => set({ rules: edit.rules.map((r, j) => (j === i ? { ...r, id: e.target.value } : r)) })} /></div>
                <button type="button" class="icon" onClick=${() => set({ rules: edit.rules.filter((_, j) => j !== i) })} aria-label=${`Remove rule ${i + 1}`}>Remove</button>
              </div>
              <${ClauseList} clauses=${rule.clauses} id=${`sr${i}`} field=${`rules[${i}].clauses`} segments=${[]} allowSegment=${false}
                onChange=${(clauses) => set({ rules: edit.rules.map((r, j) => (j === i ? { ...r, clauses } : r)) })} />
            </li>`,
          )}
        </ol>
        <button type="button" onClick=${() => set({ rules: [...edit.rules, { id: `rule-${edit.rules.length + 1}`, clauses: [newClause()] }] })}>Add rule</button>
        <${ErrorLine} error=${saveError} />
        ${notice('definition')}
        <div class="actions">
          <button type="button" disabled=${!draft} onClick=${() => (setDraft(null), setSaveError(null), reload())}>Discard / reload</button>
          <button type="submit" class="primary" disabled=${!draft}>Save segment</button>
        </div>
      </fieldset>
    </form>
    <div class="card"><h2>Included keys</h2><${KeyPreview} keys=${segment.included} which="included" />
      <${KeyUpload} env=${env} segment=${segment} which="included" onDone=${reload} onNeedsApproval=${setNeedsApproval} />
      ${notice('included')}</div>
    <div class="card"><h2>Excluded keys</h2><${KeyPreview} keys=${segment.excluded} which="excluded" />
      <${KeyUpload} env=${env} segment=${segment} which="excluded" onDone=${reload} onNeedsApproval=${setNeedsApproval} />
      ${notice('excluded')}</div>
    ${needsApproval
      ? html`<${ProposeDialog} subject="segment" subjectKey=${segmentKey} env=${env} config=${needsApproval.config} baseVersion=${segment.version}
          message=${needsApproval.message} note=${needsApproval.note}
          onCancel=${() => setNeedsApproval(null)}
          onProposed=${(request) => {
            // The edit now lives in the request: the page shows the segment as it is.
            needsApproval.keep();
            setNeedsApproval(null);
            setProposed({ request, where: needsApproval.where });
          }} />`
      : null}
  </section>`;
}
