// "Copy to <env>…" on a flag's page: the flag's rules, rollout, targets and
// prerequisites as saved in this environment copied to another, with the
// segments the rules use. The dialog shows the server's plan (what would
// change there, field by field) and applies exactly that plan: the server
// refuses, naming what moved, if the target or the source changed since.
import { api, enc } from './api.js';
import { ConfirmDialog, ErrorLine, html, show, useEffect, useSession, useState } from './lib.js';

/** The parts a promotion may copy, in the API's names; the first four are the default. */
export const PARTS = [
  ['rules', 'Rules (and the segments they use)'],
  ['fallthrough', 'Everyone else (default rule or rollout)'],
  ['targets', 'Individual targets'],
  ['prerequisites', 'Prerequisites'],
  ['on', 'On / off'],
  ['off_variation', 'When off, serve'],
];
const DEFAULT_PARTS = ['rules', 'fallthrough', 'targets', 'prerequisites'];

const text = (v) => (v === null || v === undefined ? '(none)' : typeof v === 'string' ? show(v) : JSON.stringify(v));

/** The plan as lines: one block per flag or segment that would change. */
function PlanView({ plan }) {
  const items = plan.items.filter((i) => i.action !== 'unchanged');
  if (items.length === 0) return html`<p id="promote-nothing">Nothing to copy: ${plan.environment} already has these settings.</p>`;
  return html`<div class="promote-plan" id="promote-plan">
    ${items.map(
      (item) => html`<div class="promote-item">
        <h3>${item.kind} <code>${item.key}</code>: ${item.action === 'create' ? 'created' : 'changed'}</h3>
        <table class="diff"><thead><tr><th scope="col">Field</th><th scope="col">Now</th><th scope="col">After</th></tr></thead>
          <tbody>${item.changes.map(
            (c) => html`<tr><td><code>${c.path}</code></td><td class="before"><code>${text(c.old)}</code></td><td class="after"><code>${text(c.new)}</code></td></tr>`,
          )}</tbody></table>
      </div>`,
    )}
  </div>`;
}

function PromoteDialog({ flag, from, to, dirty, onDone, onCancel }) {
  const [parts, setParts] = useState(DEFAULT_PARTS);
  const [shown, setShown] = useState(null);
  const [error, setError] = useState(null);
  const body = { from, flags: [flag.key], parts };
  useEffect(() => {
    let current = true;
    setShown(null);
    setError(null);
    api('POST', `/environments/${enc(to.key)}/promote/plan`, { body }).then(
      ({ data }) => current && setShown(data),
      (err) => current && setError(err),
    );
    return () => {
      current = false;
    };
  }, [parts.join(',')]);
  const changes = shown ? shown.plan.items.some((i) => i.action !== 'unchanged') : false;

  async function confirm(comment) {
    if (!shown) return;
    if (!changes) return onCancel();
    setError(null);
    try {
      const plan = shown.plan.items.map(({ kind, key, action, version }) => ({ kind, key, action, version }));
      const done = await api('POST', `/environments/${enc(to.key)}/promote/apply`, {
        body: { ...body, plan, from_segments: shown.from_segments },
        comment,
      });
      onDone(done.data?.change_requests ?? [], done.data?.written ?? []);
    } catch (err) {
      setError(err.code === 'frozen' ? { message: `${err.message} — ${to.name || to.key} is in a freeze window.` } : err);
    }
  }
  const toggle = (part) => (e) => setParts(e.target.checked ? PARTS.map(([p]) => p).filter((p) => p === part || parts.includes(p)) : parts.filter((p) => p !== part));
  return html`<${ConfirmDialog}
    title=${`Copy ${from} to ${to.name || to.key}`}
    confirmLabel=${changes || !shown ? `Copy to ${to.name || to.key}` : 'Close'}
    onConfirm=${confirm}
    onCancel=${onCancel}>
    <fieldset><legend>Copy</legend>
      ${PARTS.map(
        ([part, label]) => html`<div class="check"><input type="checkbox" id=${`promote-${part}`} checked=${parts.includes(part)}
          disabled=${parts.length === 1 && parts.includes(part)} onChange=${toggle(part)} />
          <label for=${`promote-${part}`}>${label}</label></div>`,
      )}
    </fieldset>
    ${dirty ? html`<p class="notice">Your unsaved edits in ${from} are not copied: what is saved is.</p>` : null}
    <div aria-live="polite">${shown ? html`<${PlanView} plan=${shown.plan} />` : error ? null : html`<p class="muted">Working out the changes…</p>`}</div>
    <${ErrorLine} error=${error} />
  <//>`;
}

/** One "Copy to <env>…" button per other environment, and the dialog. */
export function PromoteButtons({ flag, env, dirty, onCopied }) {
  const { environments, readOnly } = useSession();
  const [to, setTo] = useState(null);
  const [done, setDone] = useState(null);
  if (flag.archived) return null;
  const others = environments.filter((e) => e.key !== env);
  if (others.length === 0) return null;
  return html`<div class="actions left promote">
    ${others.map(
      (e) => html`<button type="button" id=${`copy-to-${e.key}`} disabled=${readOnly} onClick=${() => (setDone(null), setTo(e))}>Copy to ${e.name || e.key}…</button>`,
    )}
    ${done
      ? done.requests.length > 0
        ? html`<span class="ok" role="status" id="promote-done">${done.written.length > 0
            ? `Written in ${done.env} now: ${done.written.map((w) => `${w.kind} ${w.key} (${w.action === 'create' ? 'created' : w.fields.join(', ')})`).join('; ')}. `
            : ''}${done.env} requires approval: proposed as ${done.requests.map(
            (r, i) => html`${i > 0 ? ', ' : ''}<a href=${`#/requests/${r.id}`}>change request #${r.id}</a>`,
          )}; it applies once approved.</span>`
        : html`<span class="ok" role="status" id="promote-done">Copied to ${done.env}.</span>`
      : null}
    ${to
      ? html`<${PromoteDialog} flag=${flag} from=${env} to=${to} dirty=${dirty}
          onCancel=${() => setTo(null)}
          onDone=${(requests, written) => {
            setDone({ env: to.name || to.key, requests, written });
            setTo(null);
            onCopied();
          }} />`
      : null}
  </div>`;
}
