// Editors for the parts of the flag format (docs/flag-format.md): clauses
// with every operator, rules, and what a rule or the fallthrough serves (a
// variation, or a percentage rollout with `bucket_by` and `salt`, or a
// named cohort's rollout, shown read-only: docs/cohorts.md).
import { html, show, toPercent, toWeight, useEffect, useState } from './lib.js';

/** Every operator of the flag format, with the values it takes. */
export const OPERATORS = [
  { op: 'in', label: 'is one of', values: 'typed', ci: true },
  { op: 'starts_with', label: 'starts with', values: 'string', ci: true },
  { op: 'ends_with', label: 'ends with', values: 'string', ci: true },
  { op: 'contains', label: 'contains', values: 'string', ci: true },
  { op: 'matches', label: 'matches regex', values: 'string', ci: true },
  { op: 'lt', label: '< (number)', values: 'number' },
  { op: 'lte', label: '≤ (number)', values: 'number' },
  { op: 'gt', label: '> (number)', values: 'number' },
  { op: 'gte', label: '≥ (number)', values: 'number' },
  { op: 'semver_eq', label: 'semver =', values: 'string' },
  { op: 'semver_lt', label: 'semver <', values: 'string' },
  { op: 'semver_gt', label: 'semver >', values: 'string' },
  { op: 'before', label: 'before (time)', values: 'time' },
  { op: 'after', label: 'after (time)', values: 'time' },
  { op: 'in_segment', label: 'is in segment', values: 'segment' },
];
const opInfo = (op) => OPERATORS.find((o) => o.op === op) ?? { op, label: op, values: 'string' };

export const COMMON_ATTRIBUTES = ['key', 'game', 'country', 'appVersion', 'table_id', 'groups', 'email', 'plan'];

/** Clause values → editable text (one per line). */
function valuesText(values) {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n');
}

/** Editable text → clause values for `kind` (`typed`: the chosen JSON type). */
function parseValues(text, kind, type) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const asNumber = (l) => (l !== '' && Number.isFinite(Number(l)) ? Number(l) : l); // bad numbers go to the server, which names the value
  if (kind === 'number' || (kind === 'typed' && type === 'number')) return lines.map(asNumber);
  if (kind === 'typed' && type === 'boolean') return lines.map((l) => (l === 'true' ? true : l === 'false' ? false : l));
  if (kind === 'time') return lines.map((l) => (/^-?\d+$/.test(l) ? Number(l) : l));
  return lines;
}

const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b);

export function ClauseEditor({ clause, onChange, onRemove, id, field, segments, allowSegment = true }) {
  const info = opInfo(clause.op);
  const initialType = typeof clause.values[0] === 'number' ? 'number' : typeof clause.values[0] === 'boolean' ? 'boolean' : 'string';
  const [type, setType] = useState(initialType);
  const [text, setText] = useState(valuesText(clause.values));
  // Keep the typed text unless the values were changed from outside (a reload).
  useEffect(() => {
    if (!sameJson(parseValues(text, info.values, type), clause.values)) setText(valuesText(clause.values));
  }, [clause.values]);
  const update = (patch) => onChange({ ...clause, ...patch });
  const ops = allowSegment ? OPERATORS : OPERATORS.filter((o) => o.op !== 'in_segment');

  function setOp(op) {
    const next = opInfo(op);
    const patch = { op };
    if (!next.ci) patch.case_insensitive = false;
    if (op === 'in_segment') patch.attribute = '';
    else if (!clause.attribute) patch.attribute = 'key';
    patch.values = next.values === 'segment' ? [] : parseValues(text, next.values, type);
    update(patch);
  }

  return html`<div class="clause" data-field=${field}>
    ${info.values !== 'segment'
      ? html`<div><label for=${`${id}-attr`}>Attribute</label>
          <input id=${`${id}-attr`} list="attributes" value=${clause.attribute} data-field=${`${field}.attribute`}
            onInput=${(e) => update({ attribute: e.target.value })} /></div>`
      : html`<div class="muted seg-note">The context's key</div>`}
    <div><label for=${`${id}-op`}>Operator</label>
      <select id=${`${id}-op`} value=${clause.op} onChange=${(e) => setOp(e.target.value)}>
        ${ops.map((o) => html`<option value=${o.op}>${o.label}</option>`)}
      </select></div>
    ${info.values === 'segment'
      ? html`<fieldset class="segments" data-field=${`${field}.values`}>
          <legend>Segments</legend>
          ${segments.length === 0 ? html`<p class="muted">No segments in this environment yet.</p>` : null}
          ${segments.map(
            (s) => html`<div class="check"><input type="checkbox" id=${`${id}-seg-${s.key}`} checked=${clause.values.includes(s.key)}
                onChange=${(e) => update({ values: e.target.checked ? [...clause.values, s.key] : clause.values.filter((v) => v !== s.key) })} />
              <label for=${`${id}-seg-${s.key}`}>${s.name || s.key} <span class="muted">(${s.included_count.toLocaleString()} keys)</span></label></div>`,
          )}
          ${clause.values.filter((v) => !segments.some((s) => s.key === v)).map((v) => html`<p class="error">Unknown segment ${show(v)}</p>`)}
        </fieldset>`
      : html`<div class="values">
          <label for=${`${id}-values`}>Values (one per line${info.values === 'time' ? '; RFC 3339 or Unix ms' : ''})</label>
          <textarea id=${`${id}-values`} rows=${Math.min(4, Math.max(1, text.split('\n').length))} value=${text}
            data-field=${`${field}.values`}
            onInput=${(e) => {
              setText(e.target.value);
              update({ values: parseValues(e.target.value, info.values, type) });
            }}></textarea>
          ${info.values === 'typed'
            ? html`<label for=${`${id}-type`} class="inline">as</label>
                <select id=${`${id}-type`} value=${type} onChange=${(e) => {
                  setType(e.target.value);
                  update({ values: parseValues(text, 'typed', e.target.value) });
                }}>
                  <option value="string">text</option><option value="number">numbers</option><option value="boolean">booleans</option>
                </select>`
            : null}
        </div>`}
    <div class="flags-col">
      <div class="check"><input type="checkbox" id=${`${id}-negate`} checked=${clause.negate}
        onChange=${(e) => update({ negate: e.target.checked })} /><label for=${`${id}-negate`}>Not</label></div>
      ${info.ci
        ? html`<div class="check"><input type="checkbox" id=${`${id}-ci`} checked=${clause.case_insensitive}
            onChange=${(e) => update({ case_insensitive: e.target.checked })} /><label for=${`${id}-ci`}>Ignore case</label></div>`
        : null}
    </div>
    <button type="button" class="icon" onClick=${onRemove} aria-label="Remove this condition">Remove</button>
  </div>`;
}

export const newClause = () => ({ attribute: 'key', op: 'in', values: [], negate: false, case_insensitive: false });

/** The clauses of one rule ("all must match"). */
export function ClauseList({ clauses, onChange, id, field, segments, allowSegment }) {
  return html`<div class="clauses">
    ${clauses.map(
      (c, i) => html`${i > 0 ? html`<div class="and">and</div>` : null}
        <${ClauseEditor} clause=${c} id=${`${id}-c${i}`} field=${`${field}[${i}]`} segments=${segments} allowSegment=${allowSegment}
          onChange=${(next) => onChange(clauses.map((x, j) => (j === i ? next : x)))}
          onRemove=${() => onChange(clauses.filter((_, j) => j !== i))} />`,
    )}
    <button type="button" onClick=${() => onChange([...clauses, newClause()])}>Add condition</button>
  </div>`;
}

/** A share typed in a percent input, kept within 0..100 (the input shows the kept value). */
function typedShare(input) {
  const n = Number(input.value || 0);
  if (!Number.isFinite(n)) return 0;
  const kept = Math.min(100, Math.max(0, n));
  if (kept !== n) input.value = String(kept);
  return kept;
}

/** What a rule or the fallthrough serves: one variation, or a rollout. */
export function ServeEditor({ serve, onChange, variations, id, field, legend }) {
  const isRollout = !!serve.rollout;
  const rollout = serve.rollout ?? { variations: [], bucket_by: undefined, salt: undefined };
  const weights = variations.map((_, i) => rollout.variations.find((w) => w.variation === i)?.weight ?? 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const setWeights = (list) =>
    onChange({ rollout: { ...rollout, variations: list.map((weight, variation) => ({ variation, weight })) } });
  const setRollout = (patch) => onChange({ rollout: { ...rollout, ...patch } });
  // The variation chosen before switching to a rollout, to come back to.
  const [chosen, setChosen] = useState(serve.variation ?? null);
  useEffect(() => {
    if (serve.variation !== undefined && serve.variation !== null) setChosen(serve.variation);
  }, [serve.variation]);
  /** A rollout that starts where the rule is: 100% of its current variation. */
  function toRollout() {
    const current = serve.variation ?? 0;
    onChange({ rollout: { variations: variations.map((_, variation) => ({ variation, weight: variation === current ? 100000 : 0 })) } });
  }
  /** Back to one variation: the one chosen before, else the rollout's largest share. */
  function toFixed() {
    const list = serve.rollout?.variations ?? [];
    const largest = list.reduce((best, w) => (best === null || w.weight > best.weight ? w : best), null);
    onChange({ variation: chosen ?? largest?.variation ?? 0 });
  }

  return html`<fieldset class="serve" data-field=${field}>
    <legend>${legend}</legend>
    <div class="radios">
      <span class="check"><input type="radio" name=${`${id}-mode`} id=${`${id}-fixed`} checked=${!isRollout}
        onChange=${toFixed} />
        <label for=${`${id}-fixed`}>A variation</label></span>
      <span class="check"><input type="radio" name=${`${id}-mode`} id=${`${id}-rollout`} checked=${isRollout}
        onChange=${toRollout} />
        <label for=${`${id}-rollout`}>A percentage rollout</label></span>
    </div>
    ${rollout.cohort
      ? html`<p class="cohort-owned" data-field=${`${field}.rollout`}>Cohort <a href="#/cohorts"><code>${rollout.cohort}</code></a>:
          ${toPercent(rollout.variations[0]?.weight ?? 0)}% get ${show(variations[rollout.in])}, everyone else ${show(variations[rollout.out])}.
          <span class="muted">The share is the cohort's: set it on the Cohorts page, where it moves every flag and bundle canary that references it.</span></p>`
      : !isRollout
      ? html`<label for=${`${id}-variation`}>Variation</label>
          <select id=${`${id}-variation`} value=${serve.variation ?? 0} data-field=${`${field}.variation`}
            onChange=${(e) => onChange({ variation: Number(e.target.value) })}>
            ${variations.map((v, i) => html`<option value=${i}>${i}: ${show(v)}</option>`)}
          </select>`
      : html`<div class="rollout">
          ${variations.length === 2
            ? html`<label for=${`${id}-slider`}>Share getting ${show(variations[1])}: <strong>${toPercent(weights[1])}%</strong></label>
                <input type="range" id=${`${id}-slider`} min="0" max="100" step="0.5" value=${toPercent(weights[1])}
                  onInput=${(e) => setWeights([100000 - toWeight(e.target.value), toWeight(e.target.value)])} />`
            : null}
          <div class="weights" data-field=${`${field}.rollout.variations`}>
            ${variations.map(
              (v, i) => html`<div>
                <label for=${`${id}-w${i}`}>% for ${show(v)}</label>
                <input type="number" id=${`${id}-w${i}`} min="0" max="100" step="0.001" value=${toPercent(weights[i])}
                  onInput=${(e) => {
                    const next = [...weights];
                    next[i] = toWeight(typedShare(e.target));
                    if (variations.length === 2) next[1 - i] = 100000 - next[i];
                    setWeights(next);
                  }} />
              </div>`,
            )}
          </div>
          ${total !== 100000 ? html`<p class="error" role="alert">The shares add up to ${toPercent(total)}%, not 100%.</p>` : null}
          <div class="grid2">
            <div><label for=${`${id}-bucket`}>Bucket by (attribute)</label>
              <input id=${`${id}-bucket`} list="attributes" placeholder="key" value=${rollout.bucket_by ?? ''}
                data-field=${`${field}.rollout.bucket_by`}
                onInput=${(e) => setRollout({ bucket_by: e.target.value.trim() || undefined })} /></div>
            <div><label for=${`${id}-salt`}>Salt (optional; share it to share a cohort)</label>
              <input id=${`${id}-salt`} placeholder="the flag key" value=${rollout.salt ?? ''}
                onInput=${(e) => setRollout({ salt: e.target.value.trim() || undefined })} /></div>
          </div>
          <p class="muted">Raising a share keeps everyone who already had that variation.</p>
        </div>`}
  </fieldset>`;
}

/** The attribute suggestions every attribute input uses (`list="attributes"`). */
export function AttributeList({ extra = [] }) {
  const all = [...new Set([...COMMON_ATTRIBUTES, ...extra])];
  return html`<datalist id="attributes">${all.map((a) => html`<option value=${a}></option>`)}</datalist>`;
}
