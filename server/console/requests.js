// Change requests (four eyes): the inbox of open requests, one request with
// its diff and reviews (approve / reject / comment; authors never approve
// their own), applying it or scheduling it (the author sets when it applies;
// the server applies it then if approved by then), the dialog that proposes
// one when a save needs approval, and the approvals setting per environment
// (admins).
import { api, get, enc } from './api.js';
import { ApplyAtField, applyAtBody, localInput, zone } from './applyat.js';
import { diff, ruleChanges } from './diff.js';
import { ConfirmDialog, ErrorLine, formatTime, html, show, useLive, useLoad, useOlderPages, useSession, useState } from './lib.js';

/** The refusals of applying, in words. */
function applyError(err) {
  if (err.status === 409 && /version|changed|base/i.test(err.message)) {
    return {
      message: `What it changes changed since this request was proposed, so it cannot apply onto it (${err.message}). Open a new request on the current version.`,
    };
  }
  return err;
}

/** What applying a request did, per subject. */
const APPLIED = {
  flag: 'Applied: the flag now serves the proposed config.',
  segment: 'Applied: the segment now has the proposed keys and rules.',
  bundle: 'Applied: the bundle now has the proposed config.',
};

/** What a request changes, linked to its page: a flag, a segment (of its environment), an app's bundle, a release plan. */
function subjectLink(r) {
  if (r.subject === 'release') return html`release plan <a href="#/releases"><code>#${r.key}</code></a>`;
  if (r.subject === 'segment') return html`segment <a href=${`#/segments/${enc(r.key)}`}><code>${r.key}</code></a>`;
  if (r.subject === 'bundle') return html`the bundle of <a href="#/bundles"><code>${r.key}</code></a>`;
  return html`flag <a href=${`#/flags/${enc(r.key)}`}><code>${r.key}</code></a>`;
}

export function RequestsPage() {
  const { me, environments } = useSession();
  const [state, setState] = useState('open');
  const [data, error, reload] = useLoad(() => get(`/change-requests?state=${enc(state)}`), [state]);
  useLive((entries) => entries.some((e) => e.resource_kind === 'change_request') && reload());
  // Older than the newest 500, on request.
  const older = useOlderPages(state, data, async (before) => {
    const page = await get(`/change-requests?state=${enc(state)}&before_id=${before}`);
    return { rows: page.change_requests, next_before_id: page.next_before_id };
  });
  const requests = [...(data?.change_requests ?? []), ...older.rows];
  return html`<section>
    <h1>Change requests</h1>
    <p class="muted">In an environment that needs approvals, a change to a flag, a segment or a bundle, or a release plan's start, resume or skip, becomes a request that other people approve before it applies. A request with a time applies then if approved by then, and expires otherwise. Turning a flag off never waits.</p>
    <label for="request-state">Show</label>
    <select id="request-state" value=${state} onChange=${(e) => setState(e.target.value)}>
      <option value="open">Open</option><option value="applied">Applied</option><option value="rejected">Rejected</option>
      <option value="expired">Expired</option><option value="failed">Failed</option>
    </select>
    <${ErrorLine} error=${error} />
    ${requests.length === 0
      ? html`<p class="muted" id="no-requests">No ${state} change requests.</p>`
      : html`<table class="list" aria-label="Change requests">
          <thead><tr><th scope="col">Request</th><th scope="col">Changes</th><th scope="col">Environment</th><th scope="col">Author</th><th scope="col">Proposed</th><th scope="col">Applies</th></tr></thead>
          <tbody>${requests.map(
            (r) => html`<tr data-request=${r.id}>
              <th scope="row"><a href=${`#/requests/${r.id}`}>#${r.id}${r.comment ? `: ${r.comment}` : ''}</a></th>
              <td>${r.subject} <code>${r.key}</code></td><td>${r.environment}</td><td>${r.author}</td><td>${formatTime(r.created_at)}</td>
              <td>${r.apply_at ? html`<time datetime=${new Date(r.apply_at).toISOString()}>${formatTime(r.apply_at)}</time>` : 'by hand'}</td>
            </tr>`,
          )}</tbody>
        </table>`}
    ${older.next ? html`<button type="button" id="older-requests" onClick=${older.more}>Show older requests</button>` : null}
    <${ErrorLine} error=${older.error} />
    ${me.role === 'admin' ? html`<${ApprovalSettings} environments=${environments} />` : null}
  </section>`;
}

function ApprovalRow({ env }) {
  const [required, setRequired] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  useLoad(() => get(`/environments/${enc(env.key)}/approvals`).then((d) => setRequired(String(d.required))), [env.key]);
  async function save(e) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      await api('PUT', `/environments/${enc(env.key)}/approvals`, { body: { required: Number(required) } });
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="inline" onSubmit=${save}>
    <label for=${`approvals-${env.key}`}>${env.name || env.key}: approvals needed</label>
    <input id=${`approvals-${env.key}`} type="number" min="0" max="10" required value=${required ?? ''}
      onInput=${(e) => (setSaved(false), setRequired(e.target.value))} />
    <button type="submit">Save</button>
    ${saved ? html`<span class="ok" role="status">Saved.</span>` : null}
    <${ErrorLine} error=${error} />
  </form>`;
}

function ApprovalSettings({ environments }) {
  return html`<div class="card">
    <h2>Approvals per environment</h2>
    <p class="muted">0 means changes apply directly. Above 0, a change to a flag's targeting there needs that many approvals from people other than its author.</p>
    ${environments.map((env) => html`<${ApprovalRow} key=${env.key} env=${env} />`)}
  </div>`;
}

/** The proposed config against the flag's current one: sentences for rules, then field rows. */
export function ConfigDiff({ before, after }) {
  const rows = diff(before, after).filter((r) => r.path !== 'version' && !r.path.startsWith('version'));
  const sentences = ruleChanges(before, after);
  return html`<div class="request-diff">
    ${sentences.length ? html`<ul class="rule-changes">${sentences.map((t) => html`<li>${t}</li>`)}</ul>` : null}
    ${rows.length === 0
      ? html`<p class="muted">No difference from the current config.</p>`
      : html`<table class="diff">
          <thead><tr><th scope="col">Field</th><th scope="col">Now</th><th scope="col">Proposed</th></tr></thead>
          <tbody>${rows.slice(0, 200).map(
            (r) => html`<tr><th scope="row"><code>${r.path}</code></th><td class="before">${show(r.before)}</td><td class="after">${show(r.after)}</td></tr>`,
          )}</tbody>
        </table>`}
  </div>`;
}

export function RequestPage({ id }) {
  const { me, readOnly } = useSession();
  const [view, loadError, reload] = useLoad(() => get(`/change-requests/${enc(id)}`), [id]);
  const [comment, setComment] = useState('');
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  useLive((entries) => entries.some((e) => (e.resource_kind === 'change_request' && e.resource_key === String(id)) || (view && e.resource_key === view.key)) && reload());
  if (loadError) return html`<section><h1>Change request ${id}</h1><${ErrorLine} error=${loadError} /></section>`;
  if (!view) return html`<p class="muted">Loading…</p>`;
  const own = view.author === me.actor;
  const open = view.state === 'open';
  const stale = view.current_version != null && view.current_version !== view.base_version;
  const approvals = view.approved_by.length;
  const scheduled = view.apply_at != null;
  const ready = approvals >= view.approvals_required && !stale && !scheduled;

  async function act(what, verdict) {
    setError(null);
    setDone(null);
    try {
      if (what === 'apply') {
        await api('POST', `/change-requests/${enc(id)}/apply`);
        setDone(APPLIED[view.subject] ?? 'Applied.');
      } else {
        await api('POST', `/change-requests/${enc(id)}/reviews`, { body: { verdict, comment: comment.trim() } });
        setComment('');
        setDone({ approve: 'Approved.', reject: 'Rejected: the request is closed.', comment: 'Comment added.' }[verdict]);
      }
      reload();
    } catch (err) {
      setError(what === 'apply' ? applyError(err) : err);
    }
  }

  return html`<section class="change-request">
    <p class="crumbs"><a href="#/requests">Change requests</a> ›</p>
    <h1>Change request #${view.id}</h1>
    <p><span class="request-state" id="request-state-text">${view.state}</span> · ${subjectLink(view)} in <strong>${view.environment}</strong> ·
      proposed by <strong>${view.author}</strong> ${formatTime(view.created_at)} · revision ${view.revision}
      ${view.settled_by ? html` · ${view.state} by <strong>${view.settled_by}</strong>` : null}</p>
    ${view.comment ? html`<p class="comment">“${view.comment}”</p>` : null}
    ${scheduled && open
      ? html`<p id="request-schedule">Scheduled: applies at <time datetime=${new Date(view.apply_at).toISOString()}>${formatTime(view.apply_at)}</time> if approved by then; otherwise it expires.</p>`
      : null}
    ${view.failure ? html`<p class="notice" role="status" id="request-failure">${view.state === 'expired' ? 'Expired' : 'Not applied'}: ${view.failure}</p>` : null}
    ${open && own && !readOnly ? html`<${ScheduleForm} id=${id} applyAt=${view.apply_at} onSaved=${(text) => (setDone(text), reload())} />` : null}
    <p id="approval-count">${approvals} of ${view.approvals_required} approval${view.approvals_required === 1 ? '' : 's'}${approvals ? ` (${view.approved_by.join(', ')})` : ''}.</p>
    ${open && stale
      ? html`<p class="notice" role="status" id="stale-base">What it changes changed since this request was proposed (version ${view.base_version} then, ${view.current_version} now): it can no longer apply. Open a new request on the current version.</p>`
      : null}
    <h2>The change</h2>
    ${view.subject === 'release'
      ? html`<p id="release-step"><strong>${view.config?.command}</strong> the plan (now ${view.current?.state ?? 'gone'}${view.current?.stage != null ? `, stage ${view.current.stage + 1}` : ''}).</p>`
      : html`<${ConfigDiff} before=${view.current} after=${view.config} />`}
    <h2>Reviews</h2>
    ${view.reviews.length === 0
      ? html`<p class="muted">No reviews yet.</p>`
      : html`<ul class="reviews">${view.reviews.map(
          (r) => html`<li><strong>${r.reviewer}</strong> ${{ approve: 'approved', reject: 'rejected', comment: 'commented' }[r.verdict] ?? r.verdict} revision ${r.revision}, ${formatTime(r.at)}${r.comment ? html`: “${r.comment}”` : null}</li>`,
        )}</ul>`}
    ${open && !readOnly
      ? html`<form class="card" onSubmit=${(e) => (e.preventDefault(), act('review', 'comment'))} aria-labelledby="review-title">
          <h2 id="review-title">Respond</h2>
          <label for="review-comment">Comment</label>
          <textarea id="review-comment" rows="3" value=${comment} onInput=${(e) => setComment(e.target.value)}></textarea>
          ${own ? html`<p class="muted" id="own-request">You proposed this request: someone else must approve it.</p>` : null}
          <div class="actions">
            <button type="submit" disabled=${!comment.trim()}>Comment</button>
            <button type="button" onClick=${() => act('review', 'reject')}>Reject</button>
            <button type="button" class="primary" disabled=${own} aria-describedby=${own ? 'own-request' : null}
              onClick=${() => act('review', 'approve')}>Approve</button>
            <button type="button" class="primary" disabled=${!ready}
              onClick=${() => act('apply')}>Apply</button>
          </div>
          ${scheduled ? html`<p class="muted">The server applies it at its time.</p>` : null}
          ${!ready && !stale && !scheduled ? html`<p class="muted">Apply needs ${view.approvals_required} approval${view.approvals_required === 1 ? '' : 's'} of this revision.</p>` : null}
        </form>`
      : null}
    <${ErrorLine} error=${error} />
    ${done ? html`<p class="ok" role="status">${done}</p>` : null}
  </section>`;
}

/** The author sets when the request applies, or clears the time (a new revision: approvals are asked again). */
function ScheduleForm({ id, applyAt, onSaved }) {
  const [at, setAt] = useState(applyAt ? localInput(applyAt) : '');
  const [error, setError] = useState(null);
  async function save(clear) {
    setError(null);
    let body = {};
    if (!clear) {
      const when = new Date(at);
      if (!at || Number.isNaN(when.getTime())) return setError({ message: 'Choose when to apply it.', field: 'apply_at' });
      body = { apply_at: when.toISOString() };
    }
    try {
      await api('PUT', `/change-requests/${enc(id)}`, { body });
      onSaved(clear ? 'It now applies by hand once approved; approvals are asked again.' : 'Scheduled; approvals are asked again.');
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="card inline" aria-labelledby="schedule-title" onSubmit=${(e) => (e.preventDefault(), save(false))}>
    <h2 id="schedule-title">When it applies</h2>
    <label for="request-at">Apply at (${zone()})</label>
    <input id="request-at" type="datetime-local" value=${at} onInput=${(e) => setAt(e.target.value)} />
    <button type="submit">Schedule</button>
    ${applyAt ? html`<button type="button" onClick=${() => save(true)}>Apply by hand instead</button>` : null}
    <p class="muted">Changing the time is a new revision: approvals given so far no longer count.</p>
    <${ErrorLine} error=${error} />
  </form>`;
}

/** What a request proposes for, in words: "flag `x`", "segment `x`", "the bundle of `x`". */
function subjectWords(subject, key) {
  if (subject === 'segment') return html`segment <code>${key}</code>`;
  if (subject === 'bundle') return html`the bundle of <code>${key}</code>`;
  return html`<code>${key}</code>`;
}

/**
 * After a save answered 409 `approval_required`: propose the same change as
 * a request, by hand or at a time. `subject` is `flag` (the default; `config`
 * its whole config), `segment` (`config`: its `included`, `excluded` and
 * `rules`) or `bundle` (`config`: its whole bundle config, or `publish`:
 * what a publish takes); `subjectKey` (or `flagKey`) names it. `note` says
 * what the request leaves out; `comment` starts the comment field;
 * `baseVersion` is the version the page showed (409 if it moved since).
 */
export function ProposeDialog({ subject = 'flag', subjectKey, flagKey, env, config, publish, baseVersion, message, note, comment, onProposed, onCancel }) {
  const key = subjectKey ?? flagKey;
  const [error, setError] = useState(null);
  const [at, setAt] = useState('');
  const named = { flag: 'flag', segment: 'segment', bundle: 'app' }[subject];
  return html`<${ConfirmDialog} title="Propose a change request" confirmLabel="Propose" needComment initialComment=${comment} onCancel=${onCancel}
    onConfirm=${async (text) => {
      setError(null);
      try {
        const what = publish ? { publish } : { config };
        // Against the version the page showed: if it moved meanwhile, the
        // server refuses rather than open a request that would undo it.
        const base = baseVersion != null ? { base_version: baseVersion } : {};
        const body = { [named]: key, environment: env, ...what, ...base, comment: text, ...applyAtBody(at) };
        const { data } = await api('POST', '/change-requests', { body });
        onProposed(data);
      } catch (err) {
        setError(err);
      }
    }}>
    <p>${message}</p>
    <p>Your change to ${subjectWords(subject, key)} in <strong>${env}</strong> can go to review instead: once other people approve it, anyone with the editor role applies it.</p>
    ${note ? html`<p class="muted">${note}</p>` : null}
    <${ApplyAtField} value=${at} onInput=${setAt} />
    <${ErrorLine} error=${error} />
  <//>`;
}

/** "Proposed as change request #N", linked. */
export function ProposedNotice({ request }) {
  return html`<p class="ok proposed" role="status">Proposed as <a href=${`#/requests/${request.id}`}>change request #${request.id}</a>: it applies once approved.</p>`;
}
