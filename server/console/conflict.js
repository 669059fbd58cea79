// A stale save (409): what the flag page shows beside its Save button, and
// re-applying one's edits onto the latest version. The merge is three-way,
// against the config the edits started from: each field the edits changed
// (off variation, prerequisites, targets, fallthrough, on) is taken from the
// edits, the rest from the latest version; rules are matched by id, so a rule
// someone else added stays, a rule the edits added, changed or removed is
// added, changed or removed.
import { actionWords } from './audit.js';
import { html, useEffect, useRef } from './lib.js';

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** `mine` (edited from `base`) re-applied onto `theirs`; `clashes` names what both changed. */
export function reapply(base, mine, theirs) {
  const merged = { ...theirs };
  const clashes = [];
  for (const field of ['on', 'off_variation', 'prerequisites', 'targets', 'fallthrough']) {
    if (!same(mine[field], base[field])) {
      if (!same(theirs[field], base[field]) && !same(theirs[field], mine[field])) clashes.push(field);
      merged[field] = mine[field];
    }
  }
  const byId = (rules) => new Map((rules ?? []).map((r) => [r.id, r]));
  const [b, m] = [byId(base.rules), byId(mine.rules)];
  const t = byId(theirs.rules);
  let rules = (theirs.rules ?? []).filter((r) => !(b.has(r.id) && !m.has(r.id))); // removed in my edits
  rules = rules.map((r) => {
    const edited = m.get(r.id);
    if (!edited || same(edited, b.get(r.id))) return r;
    if (b.has(r.id) && !same(r, b.get(r.id))) clashes.push(`rule “${r.id}”`);
    return edited;
  });
  for (const [i, r] of (mine.rules ?? []).entries()) {
    if (t.has(r.id) || b.has(r.id)) continue;
    // A rule of mine that is new: after the rule it followed in my edits.
    const before = mine.rules.slice(0, i).map((x) => x.id);
    const at = Math.max(-1, ...before.map((id) => rules.findIndex((x) => x.id === id)));
    rules.splice(at + 1, 0, r);
  }
  merged.rules = rules;
  return { merged, clashes };
}

/** The conflict notice, beside Save; focused when it appears. */
export function ConflictNotice({ conflict, onReapply, onReload, onDismiss }) {
  const ref = useRef(null);
  useEffect(() => {
    ref.current?.scrollIntoView({ block: 'center' });
    ref.current?.focus();
  }, [conflict]);
  return html`<div class="conflict" role="alert" id="conflict" tabindex="-1" ref=${ref}>
    <h3>Not saved: this flag changed since you opened it</h3>
    <p>${conflict.by ? html`<strong>${conflict.by}</strong> made a change (${actionWords(conflict.action)}). ` : null}
      Your edits were made to an older version, so they were not applied (${conflict.message}).</p>
    <div class="actions left">
      <button type="button" class="primary" onClick=${onReapply}>Re-apply my edits to the latest version</button>
      <button type="button" onClick=${onReload}>Reload latest (discard my edits)</button>
      <button type="button" onClick=${onDismiss}>Keep my edits on screen</button>
    </div>
  </div>`;
}
