// What every page module imports: Preact with htm templates, the hooks, the
// console's shared state, and small formatting helpers.
import { h, render, Fragment, createContext } from './vendor/preact.js';
import { useState, useEffect, useRef, useMemo, useCallback, useContext } from './vendor/hooks.js';
import htm from './vendor/htm.js';

export const html = htm.bind(h);
export { render, Fragment, useState, useEffect, useRef, useMemo, useCallback, useContext };

/** `{ me, environments, env, setEnv, readOnly, live, navigate }`, provided by app.js. */
export const Session = createContext(null);
export const useSession = () => useContext(Session);

export const PRODUCTION = 'production';

export function formatTime(ms) {
  const d = new Date(ms);
  // With the time zone: people in several zones read the same log.
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
}

/** A JSON value as one short line. */
export function show(value) {
  return value === undefined ? '—' : JSON.stringify(value);
}

/** Percent (as typed) → thousandths of a percent; and back. */
export const toWeight = (percent) => Math.round(Number(percent) * 1000);
export const toPercent = (weight) => Math.round(weight) / 1000;

/**
 * Subscribes to live audit entries while mounted; `onEntries` gets every new
 * batch (newest first) and decides whether its view needs a refresh.
 */
export function useLive(onEntries) {
  const { live } = useSession();
  const ref = useRef(onEntries);
  ref.current = onEntries;
  useEffect(() => live.subscribe((entries) => ref.current(entries)), [live]);
}

/** Runs `load` now and whenever `deps` change; returns `[data, error, reload]`. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await load();
      if (mine === seq.current) setState({ data, error: undefined });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error }));
    }
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return [state.data, state.error, reload];
}

/**
 * The pages of a list older than its `first` (the API's `next_before_id`,
 * passed back as `before_id`), loaded one at a time on request: `{ rows,
 * next, more, error }`. They stay through reloads while `scope` (the list's
 * filter) is the same and the first page ends where it did.
 * `fetchPage(before)` reads one page as `{ rows, next_before_id }`.
 */
export function useOlderPages(scope, first, fetchPage) {
  const from = first?.next_before_id ?? null;
  const [older, setOlder] = useState({ scope: null, from: null, rows: [], next: null });
  const [error, setError] = useState(null);
  const current = older.scope === scope && older.from === from ? older : { scope, from, rows: [], next: from };
  async function more() {
    setError(null);
    try {
      const page = await fetchPage(current.next);
      setOlder({ scope, from, rows: [...current.rows, ...page.rows], next: page.next_before_id ?? null });
    } catch (err) {
      setError(err);
    }
  }
  return { rows: current.rows, next: current.next, more, error };
}

/** An error from the API as a readable line (with the field it names). */
export function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">
    ${error.message}${error.field ? html` <span class="field">(field <code>${error.field}</code>)</span>` : null}
  </p>`;
}

/** Someone's role in one environment: their role there, else their own (an admin's holds everywhere). */
export function roleIn(me, env) {
  if (me.role === 'admin') return 'admin';
  return me.env_roles?.[env] ?? me.role;
}

/** The read-only notice shown to viewers on pages with controls. */
export function ReadOnlyNote() {
  const { readOnly } = useSession();
  return readOnly ? html`<p class="muted">Read-only: you may look but not change anything in this environment.</p>` : null;
}

/** The JSON type of a flag's variations: boolean, string, number or json. */
export function variationKind(variations) {
  const t = typeof variations?.[0];
  return t === 'boolean' || t === 'string' || t === 'number' ? t : 'json';
}

/** Text (one variation per line) → JSON values of `kind`; throws a readable Error. */
export function parseVariations(kind, text) {
  if (kind === 'boolean') return [false, true];
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.map((line, i) => {
    if (kind === 'string') return line;
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`variation ${i + 1} is not valid JSON: ${line}`);
    }
    if (kind === 'number' && typeof value !== 'number') throw new Error(`variation ${i + 1} is not a number`);
    if (kind === 'json' && (typeof value !== 'object' || value === null)) throw new Error(`variation ${i + 1} is not a JSON object`);
    return value;
  });
}

export function variationsText(variations) {
  const kind = variationKind(variations);
  return variations.map((v) => (kind === 'string' ? v : JSON.stringify(v))).join('\n');
}

/**
 * A modal confirmation (a real <dialog>: focus moves into it, Escape
 * cancels, and focus goes back to what opened it when it closes).
 * `needComment` makes the comment required (production); `typeToConfirm`
 * (a flag key, say) must be typed exactly before the confirm button works.
 */
export function ConfirmDialog({ title, children, confirmLabel, needComment, typeToConfirm, initialComment, onConfirm, onCancel }) {
  const ref = useRef(null);
  const [comment, setComment] = useState(initialComment ?? '');
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const opener = document.activeElement;
    ref.current?.showModal();
    return () => {
      // The opener may have been re-rendered away: then its replacement (same id) or <main>.
      const back = opener?.isConnected ? opener : (opener?.id && document.getElementById(opener.id)) || document.getElementById('main');
      back?.focus?.();
    };
  }, []);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    try {
      await onConfirm(comment.trim());
    } finally {
      setBusy(false);
    }
  }
  const typedOk = !typeToConfirm || typed.trim() === typeToConfirm;
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" onCancel=${(e) => (e.preventDefault(), onCancel())}>
    <form onSubmit=${submit}>
      <h2 id="confirm-title">${title}</h2>
      ${children}
      ${typeToConfirm
        ? html`<label for="confirm-typed">Type <code>${typeToConfirm}</code> to confirm</label>
            <input id="confirm-typed" autocomplete="off" spellcheck="false" value=${typed} onInput=${(e) => setTyped(e.target.value)} />`
        : null}
      <label for="confirm-comment">Comment ${needComment ? '(required, goes to the audit log)' : '(optional, goes to the audit log)'}</label>
      <textarea id="confirm-comment" rows="3" required=${needComment} value=${comment}
        onInput=${(e) => setComment(e.target.value)}></textarea>
      <div class="actions">
        <button type="button" onClick=${onCancel}>Cancel</button>
        <button type="submit" class="danger" disabled=${busy || !typedOk || (needComment && !comment.trim())}>${confirmLabel}</button>
      </div>
    </form>
  </dialog>`;
}

const toLines = (text) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');

/** A textarea holding a list of strings, one per line. */
export function LinesInput({ id, value, onChange, rows = 3, ...rest }) {
  const [text, setText] = useState(value.join('\n'));
  useEffect(() => {
    if (JSON.stringify(toLines(text)) !== JSON.stringify(value)) setText(value.join('\n'));
  }, [value]);
  return html`<textarea id=${id} rows=${rows} value=${text} ...${rest}
    onInput=${(e) => {
      setText(e.target.value);
      onChange(toLines(e.target.value));
    }}></textarea>`;
}

/** Marks and focuses the input an API error names (`data-field` is the longest prefix of `field`). */
export function pointAt(field) {
  document.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
  if (!field) return;
  let best = null;
  for (const el of document.querySelectorAll('[data-field]')) {
    const f = el.dataset.field;
    if ((field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`)) && (!best || f.length > best.dataset.field.length)) best = el;
  }
  if (!best) return;
  best.classList.add('invalid');
  const input = best.matches('input, select, textarea') ? best : best.querySelector('input, select, textarea');
  input?.focus();
  best.scrollIntoView({ block: 'center' });
}
