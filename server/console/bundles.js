// Bundles: per app, the versions it has published, what the chosen
// environment serves (live, canary share or segment, minimum supported
// version, reload policy), publishing, and a live chart of the browsers
// connected per version (the status endpoint, polled every 2 s). Where the
// environment requires approvals, a refused publish or settings save is
// offered as a change request.
import { api, enc, get } from './api.js';
import { ConfirmDialog, ErrorLine, PRODUCTION, html, toPercent, toWeight, useEffect, useLive, useLoad, useSession, useState } from './lib.js';
import { ProposeDialog, ProposedNotice } from './requests.js';

const POLL_MS = 2000;
const WINDOW = 90; // samples kept: three minutes
const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];

/** Connected clients per version over time, as lines. */
function Chart({ samples, versions }) {
  const W = 640;
  const H = 180;
  const pad = { l: 36, r: 10, t: 10, b: 22 };
  const max = Math.max(1, ...samples.flatMap((s) => Object.values(s.counts)));
  // The time axis grows with the data (from 30 s up to the whole window).
  const span = Math.min(WINDOW, Math.max(15, samples.length));
  const x = (i) => pad.l + ((W - pad.l - pad.r) * i) / Math.max(1, span - 1);
  const y = (n) => H - pad.b - ((H - pad.t - pad.b) * n) / max;
  const offset = span - samples.length;
  const ticks = [0, Math.round(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label="Connected browsers per bundle version, recent minutes">
      ${ticks.map((t) => html`<g><line x1=${pad.l} x2=${W - pad.r} y1=${y(t)} y2=${y(t)} class="grid" />
        <text x=${pad.l - 6} y=${y(t) + 4} text-anchor="end">${t}</text></g>`)}
      <text x=${W - pad.r} y=${H - 6} text-anchor="end">now</text>
      <text x=${pad.l} y=${H - 6}>−${(span * POLL_MS) / 1000} s</text>
      ${versions.map((v, vi) => {
        const points = samples.map((s, i) => `${x(i + offset).toFixed(1)},${y(s.counts[v] ?? 0).toFixed(1)}`).join(' ');
        return html`<polyline points=${points} fill="none" stroke=${COLOURS[vi % COLOURS.length]} stroke-width="2" />`;
      })}
    </svg>
    <figcaption>
      ${versions.map((v, vi) => html`<span class="legend"><svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill=${COLOURS[vi % COLOURS.length]} /></svg>${v}</span>`)}
    </figcaption>
  </figure>`;
}

/** What a publish does to the pages that are open, in words (docs/bundles.md, "The answer a page gets"). */
function PublishEffect({ body, live }) {
  if (body.canary_percent !== undefined || body.canary_segment) {
    const who = [body.canary_percent !== undefined ? `${body.canary_percent}% of users` : null, body.canary_segment ? `segment ${body.canary_segment}` : null]
      .filter(Boolean).join(' and ');
    return html`<p>${who} get <strong>${body.version}</strong> as a canary; everyone else stays on <strong>${live ?? 'the live version'}</strong>.
      Pages outside the canary that already run ${body.version} will be told to go back to ${live ?? 'the live version'}.
      ${body.min_supported ? ` Pages older than ${body.min_supported} are unsupported and reload.` : ''}</p>`;
  }
  return html`<p><strong>${body.version}</strong> becomes live for everyone: every open page on another version is told an update is available.
    ${body.min_supported ? ` Pages older than ${body.min_supported} are unsupported and reload.` : ''}</p>`;
}

/**
 * A refused write's change request: the dialog while `asked` (`{message,
 * comment, config | publish}`), then the notice of the proposed request
 * (`proposed`: `{request}`); `base` is the config version the page showed.
 */
function Proposal({ env, app, base, asked, proposed, onCancel, onProposed }) {
  if (proposed) return html`<${ProposedNotice} request=${proposed.request} />`;
  if (!asked) return null;
  return html`<${ProposeDialog} subject="bundle" subjectKey=${app.key} env=${env} config=${asked.config} publish=${asked.publish} baseVersion=${base}
    message=${asked.message} comment=${asked.comment} onCancel=${onCancel} onProposed=${onProposed} />`;
}

function Publish({ env, app, live, version, segments, onDone }) {
  const { readOnly } = useSession();
  const [form, setForm] = useState({ version: '', canary: '', segment: '', min: '', comment: '' });
  const [error, setError] = useState(null);
  // A publish refused with 409 approval_required, then the request proposed.
  const [needsApproval, setNeedsApproval] = useState(null);
  const [proposed, setProposed] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const id = `pub-${app.key}`;
  const [asking, setAsking] = useState(null);
  async function submit(e, confirmed = false, comment = form.comment) {
    e?.preventDefault();
    setError(null);
    const body = { version: form.version.trim() };
    if (form.canary !== '') body.canary_percent = Number(form.canary);
    if (form.segment) body.canary_segment = form.segment;
    if (form.min.trim()) body.min_supported = form.min.trim();
    if (env === PRODUCTION && !confirmed) return setAsking(body);
    setProposed(null);
    try {
      setAsking(null);
      await api('POST', `/environments/${enc(env)}/apps/${enc(app.key)}/publish`, { body, comment });
      setForm({ version: '', canary: '', segment: '', min: '', comment: '' });
      onDone();
    } catch (err) {
      if (err.code === 'approval_required') setNeedsApproval({ message: err.message, publish: body, comment });
      else setError(err);
    }
  }
  return html`<form onSubmit=${submit} class="publish">
    <h3>Publish a version</h3>
    <fieldset disabled=${readOnly} class="plain">
      <div class="grid4">
        <div><label for=${`${id}-version`}>Version</label>
          <input id=${`${id}-version`} required list=${`${id}-versions`} value=${form.version} onInput=${set('version')} placeholder="1.4.0" />
          <datalist id=${`${id}-versions`}>${app.versions.map((v) => html`<option value=${v}></option>`)}</datalist></div>
        <div><label for=${`${id}-canary`}>Canary % (empty: live for everyone)</label>
          <input id=${`${id}-canary`} type="number" min="0" max="100" step="0.001" value=${form.canary} onInput=${set('canary')} /></div>
        <div><label for=${`${id}-segment`}>Canary segment</label>
          <select id=${`${id}-segment`} value=${form.segment} onChange=${set('segment')}>
            <option value="">none</option>${segments.map((s) => html`<option value=${s.key}>${s.name || s.key}</option>`)}
          </select></div>
        <div><label for=${`${id}-min`}>Minimum supported (optional)</label>
          <input id=${`${id}-min`} list=${`${id}-versions`} value=${form.min} onInput=${set('min')} /></div>
      </div>
      <label for=${`${id}-comment`}>Comment (optional)</label>
      <input id=${`${id}-comment`} value=${form.comment} onInput=${set('comment')} />
      <${ErrorLine} error=${error} />
      <div class="actions left"><button type="submit" class="primary">Publish</button></div>
    </fieldset>
    ${asking
      ? html`<${ConfirmDialog}
          title=${`Publish ${app.key} ${asking.version} in production?`}
          confirmLabel="Publish in production"
          needComment=${true}
          onConfirm=${(comment) => submit(null, true, comment)}
          onCancel=${() => setAsking(null)}>
          <${PublishEffect} body=${asking} live=${live} />
        <//>`
      : null}
  </form>
  <${Proposal} env=${env} app=${app} base=${version} asked=${needsApproval} proposed=${proposed}
    onCancel=${() => setNeedsApproval(null)}
    onProposed=${(request) => {
      setNeedsApproval(null);
      setProposed({ request });
      setForm({ version: '', canary: '', segment: '', min: '', comment: '' });
      onDone();
    }} />`;
}

/** Edits the live version, canary, minimum supported version and reload policy (PUT with If-Match). */
function Settings({ env, app, status, segments, onDone }) {
  const { readOnly } = useSession();
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  // Production: the settings to save wait for a confirmation with a comment.
  const [asking, setAsking] = useState(null);
  // A save refused with 409 approval_required, then the request proposed.
  const [needsApproval, setNeedsApproval] = useState(null);
  const [proposed, setProposed] = useState(null);
  const id = `set-${app.key}`;
  function start() {
    setProposed(null);
    setForm({
      live: status.live ?? '',
      canaryVersion: status.canary?.version ?? '',
      canaryPercent: status.canary ? toPercent(status.canary.weight) : 0,
      canarySegment: status.canary?.segment ?? '',
      bucketBy: status.canary?.bucket_by ?? '',
      min: status.min_supported ?? '',
      soft: status.reload.soft,
      jitter: status.reload.jitter_ms,
      rate: status.reload.rate_per_second,
    });
  }
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  async function submit(e, confirmed = false, comment = '') {
    e?.preventDefault();
    setError(null);
    const body = {
      live: form.live || null,
      min_supported: form.min || undefined,
      reload: { soft: form.soft, jitter_ms: Number(form.jitter), rate_per_second: Number(form.rate) },
    };
    if (form.canaryVersion) {
      body.canary = { version: form.canaryVersion, weight: toWeight(form.canaryPercent) };
      if (form.canarySegment) body.canary.segment = form.canarySegment;
      if (form.bucketBy.trim()) body.canary.bucket_by = form.bucketBy.trim();
      // A cohort's canary stays the cohort's (its share is set on the Cohorts page).
      if (status.canary?.cohort) Object.assign(body.canary, { cohort: status.canary.cohort, salt: status.canary.salt });
    }
    if (env === PRODUCTION && !confirmed) return setAsking(body);
    try {
      setAsking(null);
      await api('PUT', `/environments/${enc(env)}/apps/${enc(app.key)}/bundle`, { body, version: status.version, comment });
      setForm(null);
      onDone();
    } catch (err) {
      if (err.code === 'approval_required') {
        // The whole config, with the versions the server keeps (so the request's diff shows only the edit).
        return setNeedsApproval({ message: err.message, config: { ...body, versions: app.versions }, comment });
      }
      setError(err.status === 409 ? { message: 'Not saved: these settings changed meanwhile (shown above now). Edit again.' } : err);
      if (err.status === 409) onDone();
    }
  }
  if (!form) {
    return html`<div class="actions left"><button type="button" disabled=${readOnly} onClick=${start}>Edit settings</button></div>
      ${proposed ? html`<${ProposedNotice} request=${proposed.request} />` : null}`;
  }
  const versionSelect = (key, label, allowNone) => html`<div><label for=${`${id}-${key}`}>${label}</label>
    <select id=${`${id}-${key}`} value=${form[key]} onChange=${set(key)}>
      ${allowNone ? html`<option value="">none</option>` : null}${app.versions.map((v) => html`<option value=${v}>${v}</option>`)}
    </select></div>`;
  return html`<form onSubmit=${submit} class="settings">
    <h3>Settings in ${env}</h3>
    <div class="grid4">
      ${versionSelect('live', 'Live version', true)}
      ${versionSelect('canaryVersion', 'Canary version', true)}
      <div><label for=${`${id}-canaryPercent`}>Canary share: ${form.canaryPercent}%</label>
        <input type="range" id=${`${id}-canaryPercent`} min="0" max="100" step="0.5" value=${form.canaryPercent} onInput=${set('canaryPercent')} /></div>
      <div><label for=${`${id}-canarySegment`}>Canary segment</label>
        <select id=${`${id}-canarySegment`} value=${form.canarySegment} onChange=${set('canarySegment')}>
          <option value="">none</option>${segments.map((s) => html`<option value=${s.key}>${s.name || s.key}</option>`)}
        </select></div>
      <div><label for=${`${id}-bucketBy`}>Canary bucket by</label><input id=${`${id}-bucketBy`} placeholder="key" value=${form.bucketBy} onInput=${set('bucketBy')} /></div>
      ${versionSelect('min', 'Minimum supported', true)}
      <div><label for=${`${id}-soft`}>Soft reload</label>
        <select id=${`${id}-soft`} value=${form.soft} onChange=${set('soft')}>
          <option value="next_navigation">at the next navigation</option><option value="when_hidden">when the tab is hidden</option>
        </select></div>
      <div><label for=${`${id}-jitter`}>Reload jitter (ms)</label><input type="number" min="0" id=${`${id}-jitter`} value=${form.jitter} onInput=${set('jitter')} /></div>
      <div><label for=${`${id}-rate`}>Reload notices per second</label><input type="number" min="1" id=${`${id}-rate`} value=${form.rate} onInput=${set('rate')} /></div>
    </div>
    <${ErrorLine} error=${error} />
    <div class="actions left"><button type="button" onClick=${() => setForm(null)}>Cancel</button><button type="submit" class="primary">Save settings</button></div>
    ${asking
      ? html`<${ConfirmDialog}
          title=${`Change ${app.key}’s bundle settings in production?`}
          confirmLabel="Save in production"
          needComment=${true}
          onConfirm=${(comment) => submit(null, true, comment)}
          onCancel=${() => setAsking(null)}>
          ${asking.canary || asking.live
            ? html`<${PublishEffect} live=${asking.live} body=${asking.canary
              ? { version: asking.canary.version, canary_percent: toPercent(asking.canary.weight), canary_segment: asking.canary.segment, min_supported: asking.min_supported }
              : { version: asking.live, min_supported: asking.min_supported }} />`
            : html`<p>No version is live: open pages get no target version.</p>`}
        <//>`
      : null}
  </form>
  <${Proposal} env=${env} app=${app} base=${status.version} asked=${needsApproval}
    onCancel=${() => setNeedsApproval(null)}
    onProposed=${(request) => {
      setNeedsApproval(null);
      setProposed({ request });
      setForm(null);
    }} />`;
}

function AppCard({ env, app, segments, onPublished }) {
  const [status, setStatus] = useState(null);
  const [samples, setSamples] = useState([]);
  const [error, setError] = useState(null);
  const [seen, setSeen] = useState([]);
  async function poll() {
    try {
      const s = await get(`/environments/${enc(env)}/apps/${enc(app.key)}/status`);
      setStatus(s);
      setError(null);
      const counts = Object.fromEntries(s.clients.map((c) => [c.version, c.connected]));
      setSamples((old) => [...old, { at: Date.now(), counts }].slice(-WINDOW));
      setSeen((old) => [...new Set([...old, ...Object.keys(counts)])]);
    } catch (err) {
      setError(err);
    }
  }
  useEffect(() => {
    setSamples([]);
    setSeen([]);
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => clearInterval(timer);
  }, [env, app.key]);
  useLive((entries) => {
    if (entries.some((e) => e.resource_kind === 'bundle' && e.resource_key === app.key)) poll();
  });
  const total = status ? status.clients.reduce((n, c) => n + c.connected, 0) : 0;
  return html`<article class="card app" data-app=${app.key}>
    <h2>${app.key}</h2>
    <${ErrorLine} error=${error} />
    ${status
      ? html`<dl class="facts">
          <dt>Live</dt><dd><code>${status.live ?? '—'}</code></dd>
          <dt>Canary</dt><dd>${status.canary
            ? html`<code>${status.canary.version}</code> to ${toPercent(status.canary.weight)}%${status.canary.segment ? html` and segment <code>${status.canary.segment}</code>` : null}${status.canary.bucket_by ? ` (by ${status.canary.bucket_by})` : ''}`
            : 'none'}${status.canary && status.live && status.canary.version !== status.live
            ? html`<br /><span class="muted">Pages outside the canary that run <code>${status.canary.version}</code> are told to go back to <code>${status.live}</code>.</span>`
            : null}</dd>
          <dt>Minimum supported</dt><dd><code>${status.min_supported ?? '—'}</code></dd>
          <dt>Reload</dt><dd>${status.reload.soft === 'when_hidden' ? 'when hidden' : 'at the next navigation'}; jitter ${status.reload.jitter_ms} ms; ${status.reload.rate_per_second}/s</dd>
          <dt>Versions</dt><dd>${app.versions.map((v) => html`<code>${v}</code> `)}</dd>
        </dl>
        <h3>Connected browsers (${total}) <span class="muted">on every server node</span></h3>
        <${Chart} samples=${samples} versions=${seen} />
        <table class="counts"><thead><tr><th scope="col">Version</th><th scope="col">Connected now</th></tr></thead>
          <tbody>${status.clients.map((c) => html`<tr><td><code>${c.version}</code></td><td class="num">${c.connected}</td></tr>`)}</tbody></table>
        <${Settings} env=${env} app=${app} status=${status} segments=${segments} onDone=${() => (poll(), onPublished())} />`
      : null}
    <${Publish} env=${env} app=${app} live=${status?.live ?? null} version=${status?.version} segments=${segments} onDone=${() => (poll(), onPublished())} />
  </article>`;
}

export function BundlesPage() {
  const { env } = useSession();
  const [apps, error, reload] = useLoad(() => get('/apps'), []);
  const [segments] = useLoad(() => get(`/environments/${enc(env)}/segments`).then((d) => d.segments), [env]);
  useLive((entries) => {
    if (entries.some((e) => e.resource_kind === 'bundle')) reload();
  });
  return html`<section>
    <h1>Bundles in ${env}</h1>
    <p class="muted">Which single-page-app bundle each environment serves, and who still runs an old one. Deploy scripts publish with
      ${' '}<code>daylight bundles publish APP VERSION --env ${env}</code>.</p>
    <${ErrorLine} error=${error} />
    ${apps?.apps.length === 0 ? html`<p class="muted">No app has published a bundle yet.</p>` : null}
    ${(apps?.apps ?? []).map((app) => html`<${AppCard} key=${app.key} env=${env} app=${app} segments=${segments ?? []} onPublished=${reload} />`)}
  </section>`;
}
