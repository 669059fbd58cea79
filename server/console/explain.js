// Explain for a person: a context typed as fields (the attribute names apps
// actually send are offered as quick-add buttons, learned by the server from
// recent evaluations) or as JSON, evaluated against the live rules or the
// unsaved draft on the page, with the evaluator's trace as readable lines.
// Also the trace's wording, which the playground shares.
import { api, enc, get } from './api.js';
import { ErrorLine, html, show, useEffect, useState } from './lib.js';

/** 1 → "1st", 2 → "2nd", 11 → "11th". */
const ordinal = (n) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;

/** A bucket (thousandths of a percent) as a percentage with 3 decimals: 37214 → "37.214". */
export const percent = (bucket) => (bucket / 1000).toFixed(3);

const OPS = {
  in: 'in',
  starts_with: 'starts with',
  ends_with: 'ends with',
  contains: 'contains',
  matches: 'matches',
  lt: '<',
  lte: '≤',
  gt: '>',
  gte: '≥',
  semver_eq: 'is version',
  semver_lt: 'is a version before',
  semver_gt: 'is a version after',
  before: 'is before',
  after: 'is after',
  in_segment: 'in segment',
};

const MEMBERSHIP = {
  included: 'is listed as included',
  excluded: 'is listed as excluded',
  rule: 'matches segment rule',
  not_included: 'is neither listed nor matched by a rule',
  unknown_segment: 'cannot be checked: no such segment here',
  no_key: 'cannot be checked: the context has no key',
};

/** A context value as a person reads it: strings bare, lists in brackets. */
function plain(value) {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map(plain).join(', ')}]`;
  return JSON.stringify(value);
}

const Code = ({ children }) => html`<code>${children}</code>`;

function Clause({ clause }) {
  const verdict = clause.matched ? html`<span class="match">match</span>` : html`<span class="nomatch">no match</span>`;
  if (clause.op === 'in_segment') {
    const key = clause.missing ? null : plain(clause.value);
    const each = clause.segments.map(
      (s, i) => html`${i ? '; ' : ''}<em>${s.segment}</em>: ${key ? html`<${Code}>${key}<//> ` : ''}${MEMBERSHIP[s.membership]}${s.rule_index != null ? ` ${s.rule_index + 1}` : ''}`,
    );
    return html`<li>${clause.negate ? 'not ' : ''}in segment ${each} → ${verdict}</li>`;
  }
  if (clause.missing) {
    return html`<li><${Code}>${clause.attribute}<//> is missing → ${verdict}</li>`;
  }
  const op = `${clause.negate ? 'not ' : ''}${OPS[clause.op] ?? clause.op}`;
  const values = clause.values ?? [];
  const list = op === 'in' || op === 'not in' || values.length > 1 ? `[${values.map(plain).join(', ')}]` : values.map(plain).join('');
  return html`<li><${Code}>${clause.attribute}<//> is ${plain(clause.value)}, ${op} ${list} → ${verdict}</li>`;
}

/** The line for a rollout: the bucket against the range that picked the variation. */
export function bucketLine(step, variations) {
  const picked = step.thresholds.find((t) => t.variation === step.variation) ?? step.thresholds[0];
  const bucket = step.bucket ?? 0;
  const value = show(variations?.[step.variation]);
  if (picked.from > 0 && picked.to < 100000) {
    return `bucket ${percent(bucket)} ≥ ${percent(picked.from)} and < ${percent(picked.to)} → ${value}`;
  }
  if (picked.from > 0) return `bucket ${percent(bucket)} ≥ ${percent(picked.from)} → ${value}`;
  return `bucket ${percent(bucket)} < ${percent(picked.to)} → ${value}`;
}

/** One step of the evaluator's trace as a list item. */
function TraceStep({ step, rules, variations, env }) {
  const v = (i) => html`<code>${show(variations?.[i])}</code>`;
  switch (step.step) {
    case 'not_found':
      return html`<li>The flag is not in ${env}'s rules: apps get their code default.</li>`;
    case 'archived':
      return html`<li>The flag is <strong>archived</strong>: apps no longer see it and get their code default.</li>`;
    case 'off':
      return html`<li>The flag is <strong>off</strong> in ${env} → serves the off variation.</li>`;
    case 'prerequisite': {
      const found = step.on == null ? 'there is no such flag' : step.on ? `it served ${step.served}` : 'it is off';
      const met = step.met ? html`<span class="match">met</span>` : html`<span class="nomatch">not met: serves the off variation</span>`;
      return html`<li>Prerequisite <em>${step.flag}</em> must serve ${step.variation}: ${found} → ${met}</li>`;
    }
    case 'targets':
      if (step.key == null) return html`<li>The context has no key: individual targets do not apply.</li>`;
      return step.variation != null
        ? html`<li>Individual targets: <${Code}>${step.key}<//> is targeted → ${v(step.variation)}</li>`
        : html`<li>Individual targets (${step.targeted} ${step.targeted === 1 ? 'key' : 'keys'}): <${Code}>${step.key}<//> is not one of them.</li>`;
    case 'rule': {
      const rule = rules?.[step.index];
      const name = rule?.description || step.id;
      const verdict = step.matched ? html`<span class="match">matches</span>` : html`<span class="nomatch">no match</span>`;
      return html`<li class=${step.matched ? 'matched' : ''}>Rule ${step.index + 1}${name ? html` <em>${name}</em>` : null}: ${verdict}
        <ul>${step.clauses.map((c) => html`<${Clause} clause=${c} />`)}</ul></li>`;
    }
    case 'fallthrough':
      return html`<li>No rule matched: everyone else (the fallthrough) serves.</li>`;
    case 'rollout': {
      const missing = step.bucket == null ? html`<${Code}>${step.bucket_by}<//> is missing, so bucket 0 is used: ` : null;
      return html`<li>Percentage rollout by <${Code}>${step.bucket_by}<//> (salt <${Code}>${step.salt}<//>): ${missing}<strong class="bucket">${bucketLine(step, variations)}</strong></li>`;
    }
    default:
      return html`<li>${step.step}</li>`;
  }
}

/** The reason as one line, e.g. "RULE_MATCH — rule “vips”, the 2nd rule — in a rollout". */
export function reasonText(r) {
  return [
    r.kind,
    r.kind === 'RULE_MATCH' ? ` — ${r.rule_id ? `rule “${r.rule_id}”, ` : ''}the ${ordinal(r.rule_index + 1)} rule` : '',
    r.in_rollout ? ' — in a rollout' : '',
    r.prerequisite_key ? ` — prerequisite ${r.prerequisite_key}` : '',
    r.error_kind ? ` — ${r.error_kind}` : '',
  ].join('');
}

/** A typed field value as JSON: numbers and true/false as such, [a, b] as a list, else a string. */
function typed(text) {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  if (t.startsWith('[') && t.endsWith(']')) {
    return t.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean);
  }
  return text;
}
const untyped = (value) => (Array.isArray(value) ? `[${value.join(', ')}]` : typeof value === 'string' ? value : JSON.stringify(value));

const parse = (text) => {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
};

/**
 * The context as fields, kept in step with its JSON text: `key` and one row
 * per attribute, plus quick-add buttons for the names apps send (`learned`)
 * and the names the rules read (`used`).
 */
export function ContextFields({ id, label, text, onText, learned, used }) {
  const ctx = parse(text);
  const setCtx = (next) => onText(JSON.stringify(next));
  const names = ctx ? Object.keys(ctx).filter((k) => k !== 'key') : [];
  const offered = [...new Set([...(learned ?? []), ...(used ?? [])])].filter((n) => n !== 'key' && !names.includes(n));
  const focusLater = (name) => requestAnimationFrame(() => document.getElementById(`${id}-attr-${name}`)?.focus());
  return html`<div class="context-fields">
    ${ctx
      ? html`<div class="grid2">
          <div><label for=${`${id}-key`}>Context key</label>
            <input id=${`${id}-key`} value=${ctx.key ?? ''} onInput=${(e) => setCtx({ ...ctx, key: e.target.value })} /></div>
          ${names.map(
            (n) => html`<div class="attr-row"><label for=${`${id}-attr-${n}`}>${n}</label>
              <div class="row"><input id=${`${id}-attr-${n}`} value=${untyped(ctx[n])} onInput=${(e) => setCtx({ ...ctx, [n]: typed(e.target.value) })} />
              <button type="button" class="icon" aria-label=${`Remove ${n}`}
                onClick=${() => setCtx(Object.fromEntries(Object.entries(ctx).filter(([k]) => k !== n)))}>Remove</button></div></div>`,
          )}
        </div>
        ${offered.length
          ? html`<p class="quick-add" id=${`${id}-learned`}><span class="muted">Add an attribute apps send:</span>
              ${offered.map(
                (n) => html` <button type="button" class="chip" aria-label=${`Add attribute ${n}`}
                  onClick=${() => (setCtx({ ...ctx, [n]: '' }), focusLater(n))}>+ ${n}</button>`,
              )}</p>`
          : null}
        <p class="muted small">Numbers and true/false are read as such; [a, b] is a list.</p>`
      : html`<p class="muted">The JSON below is not an object: fix it to edit the fields.</p>`}
    <label for=${`${id}-context`}>${label}</label>
    <textarea id=${`${id}-context`} rows="3" value=${text} onInput=${(e) => onText(e.target.value)}></textarea>
  </div>`;
}

/** The attribute names learned in `env` (an empty list when unavailable). */
export function useLearned(env) {
  const [names, setNames] = useState([]);
  useEffect(() => {
    get(`/environments/${enc(env)}/attributes`).then((d) => setNames(d.attributes), () => setNames([]));
  }, [env]);
  return names;
}

/** The context a link asked to explain (`#/flags/KEY?explain={…}`), if any. */
const linkedContext = () => new URLSearchParams(location.hash.split('?')[1] ?? '').get('explain');

/**
 * The explain box of a flag page. `draft` is the config being edited on the
 * page and `dirty` whether it differs from the saved one.
 */
export function Explain({ flag, env, draft, dirty }) {
  const linked = linkedContext();
  const [text, setText] = useState(linked ?? '{"key": "u-42", "game": "omaha", "table_id": 1017}');
  const [useDraft, setUseDraft] = useState(false);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const learned = useLearned(env);
  const used = (draft?.rules ?? []).flatMap((r) => r.clauses.map((c) => c.attribute)).filter(Boolean);
  const drafting = useDraft && dirty;
  async function explain() {
    setError(null);
    const context = parse(text);
    if (!context) return setError({ message: 'The context must be a JSON object, e.g. {"key": "u-42"}.' });
    try {
      const body = drafting ? { context, config: draft } : { context };
      const { data } = await api('POST', `/flags/${enc(flag.key)}/environments/${enc(env)}/evaluate`, { body });
      setResult({ ...data, rules: drafting ? draft.rules : flag.environments?.[env]?.rules });
    } catch (err) {
      setResult(null);
      setError(err);
    }
  }
  useEffect(() => {
    if (linked) explain();
  }, []);
  const r = result?.reason;
  return html`<form class="card explain" onSubmit=${(e) => (e.preventDefault(), explain())} aria-labelledby="explain-title">
    <h2 id="explain-title">Explain</h2>
    <p class="muted">What would a given player or request get in ${env}, and why?</p>
    <${ContextFields} id="explain" label=${`Context (JSON) in ${env}`} text=${text} onText=${setText} learned=${learned} used=${used} />
    <div class="check"><input type="checkbox" id="explain-draft" checked=${useDraft} disabled=${!dirty}
        aria-describedby="explain-draft-hint" onChange=${(e) => setUseDraft(e.target.checked)} />
      <label for="explain-draft">Try my unsaved draft</label>
      <span class="muted" id="explain-draft-hint">${dirty ? ' Explains the edits on this page without saving them.' : ' (no unsaved edits)'}</span></div>
    <div class="actions left"><button type="submit">Explain</button></div>
    <${ErrorLine} error=${error} />
    ${result
      ? html`<div aria-live="polite">
          <dl class="result" id="explain-result">
            <dt>Value</dt><dd><code>${show(result.value)}</code>${result.variation != null ? html` (variation ${result.variation})` : null}
              ${result.draft ? html` <span class="chip">unsaved draft</span>` : null}</dd>
            <dt>Reason</dt><dd><strong>${r.kind}</strong>${reasonText(r).slice(r.kind.length)}</dd>
          </dl>
          <h3 id="explain-trace-title">How it was decided</h3>
          <ol class="trace" id="explain-trace" aria-labelledby="explain-trace-title">
            ${result.trace.steps.map((s) => html`<${TraceStep} step=${s} rules=${result.rules} variations=${flag.variations} env=${env} />`)}
          </ol>
        </div>`
      : null}
  </form>`;
}
