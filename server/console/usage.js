// When each flag was last evaluated, per environment (from the SDKs' usage
// reports), and which are potentially stale in the chosen environment
// (the server's stale-flag report: not evaluated, or serving one variation
// to everyone, for N days).
import { enc, get } from './api.js';
import { formatTime, html, useEffect, useState } from './lib.js';

const DAY = 86_400_000;

/**
 * `{ last: { env: { flag: ms|null } }, counts: { env: { flag: { day, week } } }, stale: { flag: report entry } }`,
 * reloaded when `version` changes.
 */
export function useUsage(envs, env, days, version) {
  const [usage, setUsage] = useState({ last: {}, counts: {}, stale: {} });
  useEffect(() => {
    let live = true;
    Promise.all([
      Promise.all(envs.map((e) => get(`/environments/${enc(e)}/usage`).then((d) => [e, d.flags], () => [e, []]))),
      get(`/environments/${enc(env)}/stale-flags?days=${enc(days)}`).then((d) => d.flags, () => []),
    ]).then(([perEnv, stale]) => {
      if (!live) return;
      const by = (pick) => Object.fromEntries(perEnv.map(([e, flags]) => [e, Object.fromEntries(flags.map((f) => [f.flag, pick(f)]))]));
      setUsage({
        last: by((f) => f.last_evaluated),
        counts: by((f) => ({ day: f.evaluations_24h, week: f.evaluations_7d })),
        stale: Object.fromEntries(stale.map((f) => [f.flag, f])),
      });
    });
    return () => {
      live = false;
    };
  }, [envs.join(','), env, days, version]);
  return usage;
}

/** "1.2k in 24 h · 9.8k in 7 d": evaluations the SDKs reported. */
export function Evaluations({ counts }) {
  if (!counts) return null;
  const n = (v) => new Intl.NumberFormat(undefined, { notation: 'compact' }).format(v);
  return html`<span class="usage muted evaluations" title=${`${counts.day.toLocaleString()} evaluations in the last 24 hours, ${counts.week.toLocaleString()} in the last 7 days`}>${n(counts.day)} in 24 h · ${n(counts.week)} in 7 d</span>`;
}

/** "evaluated 3 h ago", "never evaluated". */
export function LastEvaluated({ at, now = Date.now() }) {
  if (at === undefined) return null;
  if (at === null) return html`<span class="usage muted">never evaluated</span>`;
  const ago = now - at;
  const words = ago < 60_000 ? 'just now' : ago < 3_600_000 ? `${Math.floor(ago / 60_000)} min ago`
    : ago < DAY ? `${Math.floor(ago / 3_600_000)} h ago` : `${Math.floor(ago / DAY)} days ago`;
  return html`<span class="usage muted" title=${formatTime(at)}>evaluated ${words}</span>`;
}

/** The chip of a potentially stale flag, saying why. */
export function StaleChip({ entry, days }) {
  if (!entry) return null;
  const why = entry.reasons.map((r) => (r === 'not_evaluated' ? `not evaluated for ${days} days` : `serving one variation for ${days} days`));
  return html`<span class="chip warn stale">potentially stale: ${why.join(', ')}</span>`;
}
