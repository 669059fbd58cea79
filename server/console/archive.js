// Archiving and restoring a flag. Archiving takes a flag away from every SDK
// at once (they get FLAG_NOT_FOUND and fall back to the default in code), so
// the console first asks where the flag is live: on in an environment, or
// evaluated recently according to the usage API. A live flag needs its key
// typed and a comment; every archive and restore goes to the audit log with
// the comment. Restoring serves the kept settings again at once, so it asks
// too.
import { api, enc, get } from './api.js';
import { ConfirmDialog, ErrorLine, formatTime, html, useSession, useState } from './lib.js';

/** "Recently evaluated" means within this many days (the stale-flag report's unit). */
export const RECENT_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

/** How long ago `ms` was, in words ("3 minutes ago"). */
export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return unit(s, 'second');
  if (s < 3600) return unit(Math.round(s / 60), 'minute');
  if (s < 86400) return unit(Math.round(s / 3600), 'hour');
  return unit(Math.round(s / 86400), 'day');
}

/**
 * Where the flag is live, per environment: `{ env, name, on, lastEvaluated, recent }`
 * for every environment where it is on or has ever been evaluated.
 */
export async function liveness(flag, environments) {
  const now = Date.now();
  const rows = await Promise.all(
    environments.map(async (e) => {
      const usage = await get(`/environments/${enc(e.key)}/flags/${enc(flag.key)}/usage`).catch(() => null);
      const lastEvaluated = usage?.last_evaluated ?? null;
      return {
        env: e.key,
        name: e.name || e.key,
        on: !!flag.environments?.[e.key]?.on,
        lastEvaluated,
        recent: lastEvaluated !== null && now - lastEvaluated < RECENT_DAYS * DAY_MS,
      };
    }),
  );
  return rows.filter((r) => r.on || r.lastEvaluated !== null);
}

function LiveList({ rows }) {
  return html`<ul class="live-envs">
    ${rows.map(
      (r) => html`<li>
        <strong>${r.name}</strong>: ${r.on ? 'on' : 'off'}${r.lastEvaluated !== null
          ? html`, last evaluated <time datetime=${new Date(r.lastEvaluated).toISOString()} title=${formatTime(r.lastEvaluated)}>${ago(r.lastEvaluated)}</time>`
          : ', never evaluated'}
      </li>`,
    )}
  </ul>`;
}

/** The Archive / Restore button of a flag page, with its confirmation. */
export function ArchiveButton({ flag, onSaved }) {
  const { environments, readOnly } = useSession();
  const [asking, setAsking] = useState(null);
  const [error, setError] = useState(null);
  const restoring = flag.archived;

  async function open() {
    if (asking) return;
    setError(null);
    setAsking({ loading: true, rows: [] });
    setAsking({ loading: false, rows: await liveness(flag, environments) });
  }
  async function apply(comment) {
    try {
      const confirm = restoring ? undefined : flag.key;
      const { data } = await api('PATCH', `/flags/${enc(flag.key)}`, { body: { archived: !restoring }, version: flag.version, comment, confirm });
      setAsking(null);
      onSaved(data);
    } catch (err) {
      setAsking(null);
      setError(err);
    }
  }

  const rows = asking?.rows ?? [];
  const live = rows.filter((r) => r.on || r.recent);
  const evaluated = rows.filter((r) => r.recent);
  const name = `“${flag.name || flag.key}”`;
  let dialog = null;
  if (asking && !asking.loading && !restoring) {
    dialog = html`<${ConfirmDialog}
      title=${`Archive ${name}?`}
      confirmLabel="Archive flag"
      needComment=${live.length > 0}
      typeToConfirm=${live.length > 0 ? flag.key : undefined}
      onConfirm=${apply}
      onCancel=${() => setAsking(null)}>
      <p>Archived flags disappear from every SDK at once: they answer <code>FLAG_NOT_FOUND</code> and code falls back to its default.</p>
      ${live.length > 0
        ? html`<div class="notice" role="alert">
            <strong>This flag is live.</strong>
            ${evaluated.length > 0 ? html` SDKs evaluated it in the last ${RECENT_DAYS} days.` : null}
            <${LiveList} rows=${rows} />
          </div>`
        : html`<p>It is off everywhere and no SDK evaluated it in the last ${RECENT_DAYS} days.</p>
            ${rows.length > 0 ? html`<${LiveList} rows=${rows} />` : null}`}
    <//>`;
  } else if (asking && !asking.loading) {
    const on = rows.filter((r) => r.on);
    dialog = html`<${ConfirmDialog}
      title=${`Restore ${name}?`}
      confirmLabel="Restore flag"
      onConfirm=${apply}
      onCancel=${() => setAsking(null)}>
      ${on.length > 0
        ? html`<p>SDKs see it again at once, with its kept settings: it is <strong>on</strong> in ${on.map((r) => r.name).join(', ')}.</p>`
        : html`<p>SDKs see it again at once, with its kept settings (off in every environment).</p>`}
    <//>`;
  }
  return html`<button type="button" disabled=${readOnly} aria-busy=${asking?.loading ? 'true' : null} onClick=${open}>${restoring ? 'Restore' : 'Archive'}</button>
    ${dialog}
    <${ErrorLine} error=${error} />`;
}

/** The banner of an archived flag's page. */
export function ArchivedBanner({ flag }) {
  if (!flag.archived) return null;
  return html`<div class="notice archived-banner" role="status" id="archived-banner">
    <strong>Archived.</strong> SDKs get <code>FLAG_NOT_FOUND</code> for this flag in every environment.
    Its settings below are kept and apply again if it is restored.
  </div>`;
}
