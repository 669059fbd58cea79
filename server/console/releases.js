// Staged rollouts: the release plans of the chosen environment, each with
// its stages as a timeline (done, current, to come), when it moves next,
// and start / pause / resume / skip / roll back; and a form for a new plan
// (stages in percent, a hold per stage, bucket_by, an optional guard).
// The scheduler moves plans on the server; this page follows the audit log
// and re-reads every few seconds so countdowns stay true.
import { api, enc, get } from './api.js';
import { ApplyAtField, applyAtBody } from './applyat.js';
import {
  ConfirmDialog, ErrorLine, PRODUCTION, formatTime, html, pointAt, toPercent, useEffect, useLive, useLoad, useOlderPages,
  useSession, useState,
} from './lib.js';

const REFRESH_MS = 3000;

function describeStage(stage) {
  if (stage.segment) return `segment ${stage.segment}`;
  return `${toPercent(stage.weight)}%`;
}

function holdText(seconds) {
  if (seconds === undefined || seconds === null) return 'until skipped';
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function stateText(plan) {
  const total = plan.spec.stages.length;
  switch (plan.state) {
    case 'running':
      return `Running — stage ${plan.stage + 1} of ${total}`;
    case 'paused':
      return `Paused — stage ${plan.stage + 1} of ${total}`;
    case 'completed':
      return 'Completed';
    case 'rolled_back':
      return 'Rolled back';
    default:
      return 'Pending';
  }
}

/** The stages as an ordered list: done, current (aria-current), to come. */
function Timeline({ plan }) {
  return html`<ol class="timeline" aria-label=${`Stages of plan ${plan.id}`}>
    ${plan.spec.stages.map((stage, i) => {
      const done = plan.state === 'completed' || (plan.stage !== null && i < plan.stage);
      const current = (plan.state === 'running' || plan.state === 'paused') && i === plan.stage;
      const cls = done ? 'done' : current ? 'current' : 'todo';
      return html`<li class=${cls} aria-current=${current ? 'step' : null}>
        <strong>${describeStage(stage)}</strong>
        <span class="muted">${holdText(stage.hold_seconds)}${stage.start_at ? `, not before ${formatTime(Date.parse(stage.start_at))}` : ''}</span>
      </li>`;
    })}
  </ol>`;
}

/** What each command is called in a confirmation, and what it does. */
const COMMANDS = {
  start: { title: 'Start the plan', label: 'Start', says: 'The first stage applies now.' },
  pause: { title: 'Pause the plan', label: 'Pause', says: 'The current stage stays as it is until resumed.' },
  resume: { title: 'Resume the plan', label: 'Resume', says: 'The stage goes on where it was paused.' },
  skip: { title: 'Move the plan to its next stage', label: 'Next stage', says: 'The next stage applies now, without waiting for its time.' },
  rollback: { title: 'Roll back', label: 'Roll back', says: 'Everyone gets what the flag served before the plan, within a second.' },
};

/**
 * A plan's buttons (start, pause, resume, next stage, roll back) with their
 * confirmations: a roll back always, every command in production. Used on
 * the releases page and in the flag page's plan banner.
 */
export function PlanControls({ plan, name, onChanged }) {
  const { readOnly } = useSession();
  const [asking, setAsking] = useState(null);
  const [error, setError] = useState(null);
  // Where the environment requires approvals, a refused start, resume or
  // skip can be proposed as a change request instead.
  const [proposing, setProposing] = useState(null);
  const [proposed, setProposed] = useState(null);
  const [proposeAt, setProposeAt] = useState('');
  const [proposeError, setProposeError] = useState(null);

  async function act(command, comment) {
    setError(null);
    setProposed(null);
    try {
      await api('POST', `/releases/${plan.id}/${command}`, { version: plan.version, comment });
      setAsking(null);
      onChanged();
    } catch (e) {
      setAsking(null);
      if (e.code === 'approval_required' && ['start', 'resume', 'skip'].includes(command)) {
        setProposing({ command, message: e.message });
        return;
      }
      setError(e);
      onChanged();
    }
  }
  async function propose(comment) {
    setError(null);
    setProposeError(null);
    try {
      const body = { release: plan.id, environment: plan.environment, config: { command: proposing.command }, comment, ...applyAtBody(proposeAt) };
      const { data } = await api('POST', '/change-requests', { body });
      setProposing(null);
      setProposeAt('');
      setProposed(data);
    } catch (e) {
      // Kept open: the time or the comment can be fixed and sent again.
      setProposeError(e);
    }
  }
  const button = (command, label, cls = '') =>
    html`<button type="button" class=${cls} disabled=${readOnly}
      onClick=${() => (command === 'rollback' || plan.environment === PRODUCTION ? setAsking(command) : act(command))}>${label}</button>`;
  if (!['pending', 'running', 'paused'].includes(plan.state)) return html`<${ErrorLine} error=${error} />`;
  const what = asking ? COMMANDS[asking] : null;
  return html`<${ErrorLine} error=${error} />
    ${proposed
      ? html`<p class="ok" role="status">Proposed as <a href=${`#/requests/${proposed.id}`}>change request #${proposed.id}</a>: it applies once approved.</p>`
      : null}
    ${proposing
      ? html`<${ConfirmDialog} title="Propose a change request" confirmLabel="Propose" needComment
          onConfirm=${propose} onCancel=${() => (setProposing(null), setProposeError(null))}>
          <p>${proposing.message}</p>
          <p>“${COMMANDS[proposing.command].label}” for <strong>${name}</strong> in <strong>${plan.environment}</strong> can go to review instead: once other people approve it, it makes the same move.</p>
          <${ApplyAtField} value=${proposeAt} onInput=${setProposeAt} />
          <${ErrorLine} error=${proposeError} />
        <//>`
      : null}
    <div class="actions left">
      ${plan.state === 'pending' ? button('start', 'Start', 'primary') : null}
      ${plan.state === 'running' ? button('pause', 'Pause') : null}
      ${plan.state === 'paused' ? button('resume', 'Resume', 'primary') : null}
      ${plan.state !== 'pending' ? button('skip', 'Next stage') : null}
      ${button('rollback', plan.state === 'pending' ? 'Drop plan' : 'Roll back', 'danger')}
    </div>
    ${what
      ? html`<${ConfirmDialog}
          title=${asking === 'rollback' ? `Roll back “${name}” in ${plan.environment}?` : `${what.title} for “${name}” in ${plan.environment}?`}
          confirmLabel=${what.label}
          needComment=${plan.environment === PRODUCTION}
          onConfirm=${(comment) => act(asking, comment)}
          onCancel=${() => setAsking(null)}>
          <p>${what.says}${asking !== 'rollback' ? ' This changes what users get.' : ''}</p>
        <//>`
      : null}`;
}

/** "Running — stage 2 of 4 (5%)". */
export function planStatus(plan) {
  const stage = plan.stage !== null && plan.stage !== undefined ? plan.spec.stages[plan.stage] : null;
  return `${stateText(plan)}${stage && ['running', 'paused'].includes(plan.state) ? ` (${describeStage(stage)})` : ''}`;
}

function Plan({ plan, flags, onChanged }) {
  const flag = flags.find((f) => f.key === plan.flag_key);
  const name = flag?.name || plan.flag_key;
  const variation = (i) => JSON.stringify(flag?.variations?.[i] ?? i);
  return html`<article class="card plan" data-plan=${plan.id} aria-labelledby=${`plan-${plan.id}`}>
    <div class="title-row">
      <h2 id=${`plan-${plan.id}`}><a href=${`#/flags/${enc(plan.flag_key)}`}>${name}</a></h2>
      <span class=${`state state-${plan.state}`}>${stateText(plan)}</span>
      <span class="muted">plan ${plan.id}: ${variation(plan.spec.from_variation)} → ${variation(plan.spec.variation)}
        ${plan.spec.bucket_by ? html`, by <code>${plan.spec.bucket_by}</code>` : ''}</span>
    </div>
    <${Timeline} plan=${plan} />
    <p class="muted next">
      ${plan.state === 'running' && plan.next_at ? `Next stage ${formatTime(plan.next_at)}` : ''}
      ${plan.state === 'running' && !plan.next_at ? 'Waits for “Next stage”.' : ''}
      ${plan.state === 'paused' && plan.paused_remaining_ms !== null ? `${Math.round(plan.paused_remaining_ms / 60000)} min of this stage left when resumed` : ''}
    </p>
    ${plan.spec.guard
      ? html`<p class="muted">Guard: <code>${plan.spec.guard.event}</code>
          ${plan.spec.guard.max_rate !== undefined ? ` rate above ${plan.spec.guard.max_rate}` : ''}
          ${plan.spec.guard.max_ratio !== undefined ? ` more than ${plan.spec.guard.max_ratio}× the old variation's rate` : ''}
          ${' '}over ${plan.spec.guard.window_seconds} s → ${plan.spec.guard.action === 'pause' ? 'pause' : 'roll back'}</p>`
      : null}
    <${PlanControls} plan=${plan} name=${name} onChanged=${onChanged} />
  </article>`;
}

/** Where a new plan starts: what everyone else (the fallthrough) gets now. */
function startsFrom(flag, env, variation, from) {
  const serve = flag?.environments?.[env]?.fallthrough;
  const name = (i) => JSON.stringify(flag?.variations?.[i] ?? i);
  if (!serve) return '';
  if (serve.rollout) {
    const share = serve.rollout.variations.filter((w) => w.variation === variation).reduce((a, w) => a + w.weight, 0);
    const others = [...new Set(serve.rollout.variations.filter((w) => w.weight > 0 && w.variation !== variation).map((w) => w.variation))];
    if (others.length === 1 && (from === '' || Number(from) === others[0])) {
      return `Everyone else is in a rollout: ${toPercent(share)}% get ${name(variation)}. The plan starts from there, with the same bucketing, and takes the rest from ${name(others[0])}; its stages may not go below ${toPercent(share)}%.`;
    }
    return `Everyone else is in a rollout over several variations: choose which one the plan replaces.`;
  }
  return `Everyone else gets ${name(serve.variation)} now; the plan replaces ${name(from === '' ? serve.variation : Number(from))}.`;
}

function NewPlan({ env, flags, onCreated, onClose }) {
  const [form, setForm] = useState({
    flag: flags[0]?.key ?? '', variation: '1', stages: '1, 5, 25, 100', hold: '60', bucketBy: '', guardEvent: '',
    guardRatio: '2', guardAction: 'rollback', comment: '', from: '',
  });
  const [error, setError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const flag = flags.find((f) => f.key === form.flag);

  async function submit(e) {
    e.preventDefault();
    setError(null);
    const percents = form.stages.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const bad = percents.findIndex((p) => !/^\d+(\.\d{1,3})?$/.test(p) || Number(p) > 100);
    if (bad >= 0) {
      const message = `Stage ${bad + 1} (“${percents[bad]}”) is not a percentage from 0 to 100. Stages are percentages separated by commas, e.g. 1, 5, 25, 100.`;
      pointAt('stages');
      return setError({ message, field: `stages[${bad}].weight` });
    }
    const hold = form.hold.trim() === '' ? undefined : Math.round(Number(form.hold) * 60);
    const body = {
      variation: Number(form.variation),
      stages: percents.map((p) => ({ weight: Math.round(Number(p) * 1000), hold_seconds: hold })),
    };
    if (form.from !== '') body.from_variation = Number(form.from);
    if (form.bucketBy.trim()) body.bucket_by = form.bucketBy.trim();
    if (form.guardEvent.trim()) {
      body.guard = { event: form.guardEvent.trim(), max_ratio: Number(form.guardRatio), action: form.guardAction };
    }
    try {
      await api('POST', `/flags/${enc(form.flag)}/environments/${enc(env)}/releases`, { body, comment: form.comment });
      onCreated();
    } catch (err) {
      setError(err);
      pointAt(err.field);
    }
  }

  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-plan-title">
    <h2 id="new-plan-title">New release plan in ${env}</h2>
    <div class="grid4">
      <div><label for="plan-flag">Flag</label>
        <select id="plan-flag" value=${form.flag} onChange=${set('flag')}>
          ${flags.map((f) => html`<option value=${f.key}>${f.name || f.key}</option>`)}
        </select></div>
      <div data-field="variation"><label for="plan-variation">Release variation</label>
        <select id="plan-variation" value=${form.variation} onChange=${set('variation')}>
          ${(flag?.variations ?? []).map((v, i) => html`<option value=${String(i)}>${JSON.stringify(v)}</option>`)}
        </select></div>
      <div data-field="from_variation"><label for="plan-from">Replaces</label>
        <select id="plan-from" value=${form.from} onChange=${set('from')}>
          <option value="">What everyone else gets now</option>
          ${(flag?.variations ?? []).map((v, i) => html`<option value=${String(i)}>${JSON.stringify(v)}</option>`)}
        </select></div>
      <div data-field="stages"><label for="plan-stages">Stages (% served the new variation)</label>
        <input id="plan-stages" required value=${form.stages} onInput=${set('stages')} /></div>
      <div><label for="plan-hold">Minutes per stage (empty: wait for “Next stage”)</label>
        <input id="plan-hold" type="number" min="0" step="any" value=${form.hold} onInput=${set('hold')} /></div>
      <div><label for="plan-bucket">Bucket by (default: key)</label>
        <input id="plan-bucket" value=${form.bucketBy} onInput=${set('bucketBy')} placeholder="table_id" /></div>
      <div data-field="guard"><label for="plan-guard-event">Guard event (optional)</label>
        <input id="plan-guard-event" value=${form.guardEvent} onInput=${set('guardEvent')} placeholder="checkout_error" /></div>
      <div><label for="plan-guard-ratio">Guard: trip above × the old rate</label>
        <input id="plan-guard-ratio" type="number" min="0" step="any" value=${form.guardRatio} onInput=${set('guardRatio')} /></div>
      <div><label for="plan-guard-action">Guard action</label>
        <select id="plan-guard-action" value=${form.guardAction} onChange=${set('guardAction')}>
          <option value="rollback">Roll back</option><option value="pause">Pause</option>
        </select></div>
    </div>
    <p class="muted" id="plan-start">${startsFrom(flag, env, Number(form.variation), form.from)}</p>
    <label for="plan-comment">Comment (optional)</label>
    <input id="plan-comment" value=${form.comment} onInput=${set('comment')} />
    <${ErrorLine} error=${error} />
    <div class="actions">
      <button type="button" onClick=${onClose}>Cancel</button>
      <button type="submit" class="primary">Create plan</button>
    </div>
  </form>`;
}

export function ReleasesPage() {
  const { env, readOnly } = useSession();
  const [creating, setCreating] = useState(false);
  const [data, error, reload] = useLoad(
    async () => {
      const [plans, flags] = await Promise.all([get(`/releases?environment=${enc(env)}`), get('/flags')]);
      return { plans: plans.plans, next_before_id: plans.next_before_id, flags: flags.flags };
    },
    [env],
  );
  // Older than the newest 500, on request.
  const older = useOlderPages(env, data, async (before) => {
    const page = await get(`/releases?environment=${enc(env)}&before_id=${before}`);
    return { rows: page.plans, next_before_id: page.next_before_id };
  });
  useLive((entries) => {
    if (entries.some((e) => e.resource_kind === 'release' || e.resource_kind === 'flag')) reload();
  });
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  return html`<section>
    <div class="title-row">
      <h1>Staged rollouts in ${env}</h1>
      <button type="button" class="primary" disabled=${readOnly || !data?.flags.length} onClick=${() => setCreating(true)}>New plan</button>
    </div>
    <p class="muted">The server moves each plan to its next stage on time, and pauses or rolls it back when its guard trips.</p>
    <${ErrorLine} error=${error} />
    ${creating && data
      ? html`<${NewPlan} env=${env} flags=${data.flags} onClose=${() => setCreating(false)}
          onCreated=${() => (setCreating(false), reload())} />`
      : null}
    ${data === undefined ? html`<p class="muted">Loading…</p>` : null}
    ${data && data.plans.length === 0 ? html`<p class="muted">No release plans in ${env} yet.</p>` : null}
    ${data?.plans.concat(older.rows).map((plan) => html`<${Plan} key=${plan.id} plan=${plan} flags=${data.flags} onChanged=${reload} />`)}
    ${older.next ? html`<button type="button" id="older-plans" onClick=${older.more}>Show older plans</button>` : null}
    <${ErrorLine} error=${older.error} />
  </section>`;
}

/** The plans of one flag in one environment that are not over yet (the
 * flag's own newest 500: one is in flight at a time, and it is the newest). */
export async function activePlans(flagKey, env) {
  const { plans } = await get(`/flags/${enc(flagKey)}/environments/${enc(env)}/releases`);
  return plans.filter((p) => ['pending', 'running', 'paused'].includes(p.state));
}

/** Whether a plan is changing the flag's config now (it owns the fallthrough). */
export const owning = (plan) => plan.state === 'running' || plan.state === 'paused';

/** The flag page's banner: each plan of this flag here, its stage, a link and its controls. */
export function PlanBanner({ plans, flag, env, onChanged }) {
  if (plans.length === 0) return null;
  const variation = (i) => JSON.stringify(flag.variations?.[i] ?? i);
  return html`${plans.map(
    (plan) => html`<section class="notice plan-banner" aria-labelledby=${`plan-banner-${plan.id}`} data-plan=${plan.id}>
      <h2 id=${`plan-banner-${plan.id}`}>Release plan ${plan.id} in ${env}: ${planStatus(plan)}</h2>
      <p>${variation(plan.spec.from_variation)} → ${variation(plan.spec.variation)}.
        ${owning(plan) ? ' The plan sets what everyone else gets (the fallthrough) at each stage, so it is locked here until the plan ends.' : ' It has not started.'}
        ${' '}<a href="#/releases">All release plans in ${env}</a></p>
      <${PlanControls} plan=${plan} name=${flag.name || flag.key} onChanged=${onChanged} />
    </section>`,
  )}`;
}
