// One flag's history: its audit entries (the flag's own and its release
// plans') with who, when (with the time zone), the comment and the readable
// diff, newest first, kept current by the live feed.
import { enc, get } from './api.js';
import { ErrorLine, html, useEffect, useLive, useState } from './lib.js';
import { Entry, fold } from './audit.js';

const PAGE = 100;

/** The flag's entries: a segment may share the key, so only flag and release entries count. */
const ofFlag = (entries) => entries.filter((e) => e.resource_kind === 'flag' || e.resource_kind === 'release');

export function FlagHistory({ flagKey }) {
  const [entries, setEntries] = useState(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState(null);
  async function load(extra = {}) {
    const p = new URLSearchParams({ resource_key: flagKey, limit: PAGE, ...extra });
    return (await get(`/audit?${p}`)).entries;
  }
  useEffect(() => {
    setEntries(null);
    load().then(
      (page) => (setEntries(page), setMore(page.length === PAGE), setError(null)),
      (err) => (setEntries([]), setError(err)),
    );
  }, [flagKey]);
  useLive(async (fresh) => {
    if (!entries || !fresh.some((e) => e.resource_key === flagKey)) return;
    const newest = entries[0]?.id ?? 0;
    const page = await load({ after_id: newest }).catch(() => null);
    if (page?.length) setEntries((old) => [...page, ...old]);
  });
  async function older() {
    const page = await load({ before_id: entries[entries.length - 1].id }).catch((err) => (setError(err), null));
    if (!page) return;
    setEntries([...entries, ...page]);
    setMore(page.length === PAGE);
  }
  if (!entries) return html`<p class="muted">Loading…</p>`;
  const shown = fold(ofFlag(entries));
  return html`<div class="history">
    <${ErrorLine} error=${error} />
    <ol class="audit" aria-label="History of this flag" aria-live="polite">${shown.map((e) => html`<${Entry} key=${e.id} entry=${e} />`)}</ol>
    ${shown.length === 0 && !error ? html`<p class="muted">No changes recorded.</p>` : null}
    ${more ? html`<div class="actions left"><button type="button" onClick=${older}>Older changes</button></div>` : null}
  </div>`;
}
