// What an audit entry changed: field rows (`path`, before, after) where a
// list of rules is compared by rule id, not by position, and the rule
// changes in words ("in staging: added rule “VIPs first”: in segment vip →
// true").
import { OPERATORS } from './rules.js';
import { show, toPercent } from './lib.js';

/** A list whose members are objects with distinct string ids (rules): compared by id. */
const keyed = (list) =>
  Array.isArray(list) && list.length > 0 && list.every((r) => r && typeof r.id === 'string') && new Set(list.map((r) => r.id)).size === list.length;

/** Leaves of a JSON document by path (`rules["vips"].clauses[1].values`); long lists of plain values stay whole. */
function flatten(value, path = '', out = new Map()) {
  const plain = (v) => v === null || typeof v !== 'object';
  if (Array.isArray(value) && (value.length === 0 || (value.length > 8 && value.every(plain)))) {
    out.set(path, value);
  } else if (value !== null && typeof value === 'object') {
    const entries = keyed(value)
      ? value.map((v) => [`[${JSON.stringify(v.id)}]`, v])
      : Array.isArray(value)
        ? value.map((v, i) => [`[${i}]`, v])
        : Object.entries(value).map(([k, v]) => [path ? `.${k}` : k, v]);
    if (entries.length === 0) out.set(path, value);
    for (const [k, v] of entries) flatten(v, `${path}${k}`, out);
  } else {
    out.set(path, value);
  }
  return out;
}

/** Rows `{ path, before, after }` for every leaf that differs. */
export function diff(before, after) {
  const a = before == null ? new Map() : flatten(before);
  const b = after == null ? new Map() : flatten(after);
  const rows = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path);
    const y = b.get(path);
    if (JSON.stringify(x) !== JSON.stringify(y)) rows.push({ path: path || '(document)', before: x, after: y });
  }
  // An empty list or object that gained (or lost) members: its members' rows say it all.
  const empty = (v) => v !== null && typeof v === 'object' && Object.keys(v).length === 0;
  return rows.filter(
    (r) => !((empty(r.before) || empty(r.after)) && rows.some((o) => o.path.startsWith(`${r.path}[`) || o.path.startsWith(`${r.path}.`))),
  );
}

/** Every list of rules in a document by where it is: `environments.staging.rules` → the rules. */
function ruleLists(doc, path = '', out = new Map()) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return out;
  for (const [k, v] of Object.entries(doc)) {
    const at = path ? `${path}.${k}` : k;
    if (k === 'rules' && Array.isArray(v)) out.set(at, v);
    else ruleLists(v, at, out);
  }
  return out;
}

const values = (list) => list.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');

/** One clause in words: "game is one of omaha (ignoring case)", "in segment vip". */
export function clauseWords(c) {
  const not = c.negate ? 'not ' : '';
  if (c.op === 'in_segment') return `${not}in segment ${values(c.values)}`;
  const label = OPERATORS.find((o) => o.op === c.op)?.label ?? c.op;
  return `${c.attribute || 'key'} ${not}${label} ${values(c.values)}${c.case_insensitive ? ' (ignoring case)' : ''}`;
}

/** What a rule serves, in words: "true", "25% true, 75% false by table_id". */
export function serveWords(serve, variations) {
  const name = (i) => (variations?.[i] !== undefined ? show(variations[i]) : `variation ${i}`);
  if (!serve) return '';
  if (serve.rollout) {
    const shares = serve.rollout.variations.filter((w) => w.weight > 0).map((w) => `${toPercent(w.weight)}% ${name(w.variation)}`);
    return `${shares.join(', ')}${serve.rollout.bucket_by ? ` by ${serve.rollout.bucket_by}` : ''}`;
  }
  return name(serve.variation);
}

/** A rule in words: "in segment vip → true". */
export function ruleWords(rule, variations) {
  const when = rule.clauses?.length ? rule.clauses.map(clauseWords).join(' and ') : 'everyone';
  return rule.serve ? `${when} → ${serveWords(rule.serve, variations)}` : when;
}

const ruleName = (r) => `“${r.description || r.id}”`;

/** The rule changes between two documents, as sentences, rules matched by id. */
export function ruleChanges(before, after) {
  const variations = after?.variations ?? before?.variations;
  const [a, b] = [ruleLists(before ?? {}), ruleLists(after ?? {})];
  const out = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const env = /^environments\.([^.]+)\.rules$/.exec(path)?.[1];
    const where = env ? `in ${env}: ` : '';
    const [old, now] = [a.get(path) ?? [], b.get(path) ?? []];
    const oldById = new Map(old.map((r) => [r.id, r]));
    const nowById = new Map(now.map((r) => [r.id, r]));
    for (const r of old) if (!nowById.has(r.id)) out.push(`${where}removed rule ${ruleName(r)}: ${ruleWords(r, variations)}`);
    for (const r of now) {
      const was = oldById.get(r.id);
      if (!was) {
        out.push(`${where}added rule ${ruleName(r)}: ${ruleWords(r, variations)}`);
      } else if (JSON.stringify(was) !== JSON.stringify(r)) {
        const [x, y] = [ruleWords(was, variations), ruleWords(r, variations)];
        out.push(`${where}changed rule ${ruleName(r)}: ${x === y ? 'its description or id' : `${x}, now ${y}`}`);
      }
    }
    const kept = now.filter((r) => oldById.has(r.id)).map((r) => r.id);
    const keptBefore = old.filter((r) => nowById.has(r.id)).map((r) => r.id);
    kept.forEach((id, i) => {
      if (keptBefore[i] !== id && keptBefore.indexOf(id) > i) {
        out.push(`${where}moved rule ${ruleName(nowById.get(id))} up to position ${now.findIndex((r) => r.id === id) + 1}`);
      }
    });
  }
  return [...out, ...servingChanges(before, after)];
}

/**
 * Per environment, what changed in who gets what besides the rules, in
 * words: "in staging: turned on", "in staging: everyone else gets 5% true,
 * 95% false by table_id (was 1% true, 99% false by table_id)".
 */
export function servingChanges(before, after) {
  const variations = after?.variations ?? before?.variations;
  const [a, b] = [before?.environments ?? {}, after?.environments ?? {}];
  const out = [];
  for (const env of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [was, now] = [a[env], b[env]];
    if (!was || !now) continue;
    if (!!was.on !== !!now.on) out.push(`in ${env}: turned ${now.on ? 'on' : 'off'}`);
    const [x, y] = [serveWords(was.fallthrough, variations), serveWords(now.fallthrough, variations)];
    if (x !== y) out.push(`in ${env}: everyone else gets ${y} (was ${x})`);
  }
  return out;
}
