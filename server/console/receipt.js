// How far a change got: the propagation receipt the server adds up across
// nodes (`docs/protocol.md`, "Receipts"). Shown under an audit entry, and
// live under a toggle just made (the kill switch).
import { enc, get } from './api.js';
import { html, useEffect, useState } from './lib.js';

const count = (n) => n.toLocaleString('en');

/** "Reached 9,998 of 10,000 connected SDKs in 180 ms; 2 not yet". */
export function receiptWords(r) {
  if (r.connected === 0) return 'No SDK was connected when this change was made.';
  const parts = [`Reached ${count(r.acknowledged)} of ${count(r.connected)} connected SDKs`];
  if (r.max_ms != null) parts[0] += ` in ${count(r.max_ms)} ms (median ${count(r.p50_ms)} ms)`;
  if (r.not_yet) parts.push(`${count(r.not_yet)} not yet`);
  if (r.unknown) parts.push(`${count(r.unknown)} without receipts (older SDKs or pages)`);
  return `${parts.join('; ')}.`;
}

/** The receipt of `version` in `env`; `live` polls it for half a minute. */
export function Receipt({ env, version, live = false }) {
  const [receipt, setReceipt] = useState(null);
  useEffect(() => {
    let stopped = false;
    let timer;
    let tries = 0;
    async function poll() {
      try {
        const data = await get(`/environments/${enc(env)}/receipts/${version}`);
        if (stopped) return;
        setReceipt(data);
        if (data.not_yet === 0 && !live) return;
      } catch {
        // Not written yet (nodes write their figures once a second), or none.
      }
      if (!stopped && ++tries < (live ? 30 : 3)) timer = setTimeout(poll, 1000);
    }
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [env, version, live]);
  if (!receipt) return null;
  return html`<p class="receipt muted" role=${live ? 'status' : null} data-receipt=${version}>${receiptWords(receipt)}</p>`;
}
