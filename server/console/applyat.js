// When a change request applies: the browser's zone, a time as a
// `datetime-local` value, and the optional "Apply at" field of the propose
// dialogs (empty: applied by hand once approved).
import { html } from './lib.js';

/** The browser's zone, said beside the time field: the time typed is in it. */
export const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A time as a `datetime-local` field's value, in the browser's zone. */
export function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

const FIELD = 'propose-at';

/**
 * The body's `apply_at` for the field's value: `{}` when empty, else
 * `{apply_at}` in RFC 3339. A time that is not in the future throws an
 * error naming the field (and focuses it): the server would refuse it too.
 */
export function applyAtBody(at) {
  if (!at) return {};
  const when = new Date(at);
  if (Number.isNaN(when.getTime()) || when.getTime() <= Date.now()) {
    document.getElementById(FIELD)?.focus();
    throw Object.assign(new Error('Choose a time in the future, or leave it empty to apply it by hand.'), { field: 'apply_at' });
  }
  return { apply_at: when.toISOString() };
}

/** The optional time field of a propose dialog. */
export function ApplyAtField({ value, onInput }) {
  return html`<label for=${FIELD}>Apply at (${zone()}, optional)</label>
    <input id=${FIELD} type="datetime-local" value=${value} onInput=${(e) => onInput(e.target.value)} aria-describedby="propose-at-help" />
    <p class="muted" id="propose-at-help">Empty: anyone with the editor role applies it by hand once approved. With a time: the server applies it then if approved by then; otherwise it expires.</p>`;
}
