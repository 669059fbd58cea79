// One flag: its details, the kill switch per environment, and the editor of
// its config in the chosen environment (off variation, individual targets,
// rules with clauses and segments, the fallthrough or its rollout), with
// optimistic concurrency: a stale save shows the conflict and offers to
// reload the latest version. Plus the explain box (`explain.js`) and "Copy
// to <env>…" (`promote.js`).
import { api, enc, get } from './api.js';
import {
  ErrorLine, LinesInput, html, parseVariations, pointAt, show, useEffect, useLive, useRef, useSession, useState,
  variationKind, variationsText,
} from './lib.js';
import { Toggle } from './flags.js';
import { AttributeList, ClauseList, ServeEditor, newClause } from './rules.js';
import { ArchiveButton, ArchivedBanner } from './archive.js';
import { PlanBanner, activePlans, owning } from './releases.js';
import { ConflictNotice, reapply } from './conflict.js';
import { FreezeBanner } from './freeze.js';
import { ProposeDialog } from './requests.js';
import { FlagHistory } from './history.js';
import { Explain, useLearned } from './explain.js';
import { actionWords } from './audit.js';
import { ScheduledChanges } from './schedule.js';
import { PromoteButtons } from './promote.js';

const clone = (v) => JSON.parse(JSON.stringify(v));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
/** A config without the server-owned `version`: what an edit can change. */
const edited = (config) => (config ? { ...config, version: undefined } : config);

function Details({ flag, onSaved }) {
  const { readOnly } = useSession();
  const [editing, setEditing] = useState(false);
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  function start() {
    setForm({
      name: flag.name,
      description: flag.description,
      tags: flag.tags.join(', '),
      variations: variationsText(flag.variations),
      client_side: flag.client_side,
    });
    setEditing(true);
  }
  async function save(e) {
    e.preventDefault();
    setError(null);
    try {
      const body = {
        name: form.name,
        description: form.description,
        tags: form.tags.split(',').map((t) => t.trim()).filter(Boolean),
        variations: parseVariations(variationKind(flag.variations), form.variations),
        client_side: form.client_side,
      };
      const { data } = await api('PATCH', `/flags/${enc(flag.key)}`, { body, version: flag.version });
      setEditing(false);
      onSaved(data);
    } catch (err) {
      setError(err);
    }
  }
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  if (!editing) {
    return html`<div class="details">
      <p>${flag.description || html`<span class="muted">No description.</span>`}</p>
      <p>${flag.tags.map((t) => html`<span class="chip">${t}</span>`)}
        ${flag.client_side ? html`<span class="chip">client-side</span>` : null}
        ${flag.archived ? html`<span class="chip warn">archived</span>` : null}</p>
      <p class="muted">Variations: ${flag.variations.map((v, i) => html`<code class="variation">${i}: ${show(v)}</code> `)}</p>
      <div class="actions left">
        <button type="button" disabled=${readOnly} onClick=${start}>Edit details</button>
        <${ArchiveButton} flag=${flag} onSaved=${onSaved} />
      </div>
      <${ErrorLine} error=${error} />
    </div>`;
  }
  return html`<form class="card" onSubmit=${save}>
    <div class="grid2">
      <div><label for="fd-name">Name</label><input id="fd-name" value=${form.name} onInput=${set('name')} /></div>
      <div><label for="fd-tags">Tags (comma-separated)</label><input id="fd-tags" value=${form.tags} onInput=${set('tags')} /></div>
    </div>
    <label for="fd-description">Description</label><input id="fd-description" value=${form.description} onInput=${set('description')} />
    ${variationKind(flag.variations) !== 'boolean'
      ? html`<label for="fd-variations">Variations (one per line)</label>
          <textarea id="fd-variations" rows="3" value=${form.variations} onInput=${set('variations')}></textarea>`
      : null}
    <div class="check"><input type="checkbox" id="fd-client" checked=${form.client_side} onChange=${set('client_side')} />
      <label for="fd-client">Visible to browsers (client-side)</label></div>
    <${ErrorLine} error=${error} />
    <div class="actions"><button type="button" onClick=${() => setEditing(false)}>Cancel</button>
      <button type="submit" class="primary">Save details</button></div>
  </form>`;
}

/** An id for a new rule that no rule has ("new-rule", "new-rule-2", …): not a position, which changes. */
function newRuleId(rules) {
  const taken = new Set(rules.map((r) => r.id));
  for (let n = 1; ; n += 1) {
    const id = n === 1 ? 'new-rule' : `new-rule-${n}`;
    if (!taken.has(id)) return id;
  }
}

/** The id of the rule a release plan adds for its segment stages (the server's `RELEASE_RULE_ID`). */
const RELEASE_RULE = 'daylight-release';

function RuleEditor({ rule, index, count, variations, segments, locked, onChange, onMove, onRemove }) {
  const id = `rule${index}`;
  const field = `rules[${index}]`;
  return html`<li class="rule card" data-field=${field}><fieldset class="plain" disabled=${!!locked}>
    ${locked ? html`<p class="muted">Added by release plan ${locked.id}: locked until it ends.</p>` : null}
    <div class="rule-head">
      <h3>Rule ${index + 1}</h3>
      <div><label for=${`${id}-id`} class="inline">Id</label>
        <input id=${`${id}-id`} class="short" value=${rule.id} onInput=${(e) => onChange({ ...rule, id: e.target.value })} /></div>
      <div class="grow"><label for=${`${id}-desc`} class="inline">Description</label>
        <input id=${`${id}-desc`} value=${rule.description ?? ''} onInput=${(e) => onChange({ ...rule, description: e.target.value })} /></div>
      <button type="button" class="icon" disabled=${index === 0} onClick=${() => onMove(-1)} aria-label=${`Move rule ${index + 1} up`}>↑</button>
      <button type="button" class="icon" disabled=${index === count - 1} onClick=${() => onMove(1)} aria-label=${`Move rule ${index + 1} down`}>↓</button>
      <button type="button" class="icon" onClick=${onRemove} aria-label=${`Remove rule ${index + 1}`}>Remove</button>
    </div>
    <p class="muted">When all of these match:</p>
    <${ClauseList} clauses=${rule.clauses} id=${id} field=${`${field}.clauses`} segments=${segments}
      onChange=${(clauses) => onChange({ ...rule, clauses })} />
    <${ServeEditor} serve=${rule.serve} variations=${variations} id=${`${id}-serve`} field=${`${field}.serve`}
      legend="Serve" onChange=${(serve) => onChange({ ...rule, serve })} />
  </fieldset></li>`;
}

function Targets({ targets, variations, onChange }) {
  const valuesFor = (i) => targets.filter((t) => t.variation === i).flatMap((t) => t.values);
  const setFor = (i, values) => {
    const rest = variations.map((_, j) => ({ variation: j, values: j === i ? values : valuesFor(j) }));
    onChange(rest.filter((t) => t.values.length > 0));
  };
  return html`<fieldset data-field="targets"><legend>Individual targets</legend>
    <div class="grid2">
      ${variations.map(
        (v, i) => html`<div><label for=${`targets-${i}`}>Keys that get ${show(v)} (one per line)</label>
          <${LinesInput} id=${`targets-${i}`} rows="2" value=${valuesFor(i)} onChange=${(vals) => setFor(i, vals)} /></div>`,
      )}
    </div>
  </fieldset>`;
}

/** Flags that must serve a given variation first (else this flag serves its off variation). */
function Prerequisites({ prerequisites, flags, self, onChange }) {
  const others = flags.filter((f) => f.key !== self);
  const set = (i, patch) => onChange(prerequisites.map((p, j) => (j === i ? { ...p, ...patch } : p)));
  return html`<fieldset data-field="prerequisites"><legend>Prerequisites</legend>
    ${prerequisites.length === 0 ? html`<p class="muted">None: this flag does not depend on another.</p>` : null}
    ${prerequisites.map((p, i) => {
      const target = flags.find((f) => f.key === p.flag);
      return html`<div class="prereq" data-field=${`prerequisites[${i}]`}>
        <div><label for=${`pre${i}-flag`}>Flag</label>
          <select id=${`pre${i}-flag`} onChange=${(e) => set(i, { flag: e.target.value, variation: 0 })}>
            ${target ? null : html`<option value=${p.flag} selected>${p.flag} (unknown)</option>`}
            ${others.map((f) => html`<option value=${f.key} selected=${f.key === p.flag}>${f.name || f.key}</option>`)}
          </select></div>
        <div><label for=${`pre${i}-variation`}>must serve</label>
          <select id=${`pre${i}-variation`} onChange=${(e) => set(i, { variation: Number(e.target.value) })}>
            ${(target?.variations ?? [null]).map((v, j) => html`<option value=${j} selected=${j === p.variation}>${j}: ${show(v)}</option>`)}
          </select></div>
        <button type="button" class="icon" aria-label=${`Remove prerequisite ${i + 1}`}
          onClick=${() => onChange(prerequisites.filter((_, j) => j !== i))}>Remove</button>
      </div>`;
    })}
    <button type="button" disabled=${others.length === 0}
      onClick=${() => onChange([...prerequisites, { flag: others[0].key, variation: others[0].variations.length > 1 ? 1 : 0 }])}>Add prerequisite</button>
  </fieldset>`;
}

export function FlagPage({ flagKey }) {
  const { env, environments, readOnly } = useSession();
  const [flag, setFlag] = useState(null);
  const [draft, setDraft] = useState(null);
  // The environment the draft is of: after a switch the form waits for that
  // environment's config, so nothing typed meanwhile lands in the old one.
  const [draftEnv, setDraftEnv] = useState(null);
  const currentEnv = useRef(env);
  currentEnv.current = env;
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [changedElsewhere, setChangedElsewhere] = useState(null);
  const [segments, setSegments] = useState([]);
  const [comment, setComment] = useState('');
  const [saved, setSaved] = useState(false);
  const [allFlags, setAllFlags] = useState([]);
  const [plans, setPlans] = useState([]);
  const [reapplied, setReapplied] = useState(null);
  // A save refused with 409 approval_required: offer a change request.
  const [needsApproval, setNeedsApproval] = useState(null);
  const [proposed, setProposed] = useState(null);
  const [tab, setTab] = useState('targeting');
  // Attribute names apps send here, offered in the rule editor too.
  const learned = useLearned(env);
  const loadPlans = () => activePlans(flagKey, env).then(setPlans, () => setPlans([]));

  const savedConfig = flag?.environments?.[env] ?? null;
  // The config version moves on writes that leave the rules alone (archive,
  // restore): only what the editor can change makes the draft unsaved.
  const dirty = !!draft && !same(edited(draft), edited(savedConfig));

  async function load() {
    try {
      const f = await get(`/flags/${enc(flagKey)}`);
      setFlag(f);
      setLoadError(null);
      return f;
    } catch (e) {
      setLoadError(e);
    }
  }
  /** Replaces the draft with the latest stored config. */
  async function reloadLatest() {
    const asked = env;
    const f = await load();
    // A later switch loads its own environment.
    if (currentEnv.current !== asked) return;
    if (f) {
      setDraft(clone(f.environments?.[asked] ?? null));
      setDraftEnv(asked);
    }
    setConflict(null);
    setChangedElsewhere(null);
    setReapplied(null);
    setError(null);
    pointAt(null);
  }

  /** Re-applies the unsaved edits onto the latest stored config (after a conflict). */
  async function reapplyEdits() {
    const base = savedConfig;
    const mine = draft;
    const f = await load();
    if (!f) return;
    const theirs = f.environments?.[env] ?? null;
    if (!base || !theirs) return reloadLatest();
    const { merged, clashes } = reapply(base, mine, theirs);
    setDraft(clone({ ...merged, version: theirs.version }));
    setConflict(null);
    setChangedElsewhere(null);
    setError(null);
    setReapplied({ version: f.version, clashes });
    pointAt(null);
  }

  useEffect(() => {
    reloadLatest();
  }, [flagKey, env]);
  useEffect(() => {
    loadPlans();
  }, [flagKey, env]);
  useEffect(() => {
    get('/flags').then((d) => setAllFlags(d.flags), () => setAllFlags([]));
  }, [flagKey]);
  useEffect(() => {
    get(`/environments/${enc(env)}/segments`).then((d) => setSegments(d.segments), () => setSegments([]));
  }, [env]);

  useLive(async (entries) => {
    if (entries.some((e) => e.resource_kind === 'segment' && e.environment === env)) {
      get(`/environments/${enc(env)}/segments`).then((d) => setSegments(d.segments), () => {});
    }
    if (entries.some((e) => e.resource_kind === 'release' && e.resource_key === flagKey)) loadPlans();
    // A plan's move is a `release` entry that changed the flag.
    const mine = entries.filter((e) => (e.resource_kind === 'flag' || e.resource_kind === 'release') && e.resource_key === flagKey);
    if (mine.length === 0) return;
    const latest = await get(`/flags/${enc(flagKey)}`).catch(() => null);
    if (!latest || (flag && latest.version === flag.version)) return;
    if (dirty) {
      // Keep the unsaved edits; saving will meet the 409 and say so.
      setChangedElsewhere({ by: mine[0].actor, action: mine[0].action, version: latest.version });
      setFlag((f) => ({ ...latest, environments: { ...latest.environments, [env]: f.environments[env] }, version: f.version }));
    } else {
      setFlag(latest);
      setDraft(clone(latest.environments?.[env] ?? null));
    }
  });

  async function save(e) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    setProposed(null);
    try {
      const { data, version } = await api('PUT', `/flags/${enc(flagKey)}/environments/${enc(env)}`, {
        body: draft,
        version: flag.version,
        comment,
      });
      setFlag({ ...flag, version, environments: { ...flag.environments, [env]: data } });
      setDraft(clone(data));
      setComment('');
      setSaved(true);
      setChangedElsewhere(null);
      setReapplied(null);
      pointAt(null);
    } catch (err) {
      if (err.code === 'approval_required') {
        setNeedsApproval({ message: err.message });
      } else if (err.code === 'frozen') {
        setError({ message: `${err.message} — ${env} is in a freeze window: changes wait until it ends. Turning the flag off (the kill switch) still works.` });
      } else if (err.status === 409) {
        const [last] = (await get(`/audit?resource_kind=flag&resource_key=${enc(flagKey)}&limit=1`).catch(() => ({ entries: [] }))).entries;
        const latest = await get(`/flags/${enc(flagKey)}`).catch(() => null);
        setConflict({ message: err.message, by: last?.actor, action: last?.action, at: last?.at, version: latest?.version });
      } else {
        setError(err);
        // The server names fields within the flag document: `environments.<env>.rules[0]…`.
        pointAt(err.field?.replace(/^environments\.[^.]+\./, ''));
      }
    }
  }

  if (loadError) return html`<section><h1>${flagKey}</h1><${ErrorLine} error=${loadError} /><p><a href="#/flags">All flags</a></p></section>`;
  if (!flag || !draft || draftEnv !== env) return html`<p class="muted">Loading…</p>`;
  const variations = flag.variations;
  const set = (patch) => {
    setSaved(false);
    setDraft({ ...draft, ...patch });
  };
  const setRule = (i, rule) => set({ rules: draft.rules.map((r, j) => (j === i ? rule : r)) });
  const moveRule = (i, by) => {
    const rules = [...draft.rules];
    [rules[i], rules[i + by]] = [rules[i + by], rules[i]];
    set({ rules });
  };
  const newer = [conflict?.version, changedElsewhere?.version].find((v) => v && v > flag.version) ?? null;
  // A running or paused plan sets the fallthrough (and its segment rule) at each stage.
  const owner = plans.find(owning) ?? null;
  // A flags-as-code file that manages targeting here: only `daylight apply` writes it.
  const managed = (flag.managed_by?.[env]?.parts ?? []).includes('targeting') ? flag.managed_by[env] : null;
  const attributes = [...draft.rules.flatMap((r) => r.clauses.map((c) => c.attribute)).filter(Boolean), ...learned];

  return html`<section class="flag-page">
    <p class="crumbs"><a href="#/flags">Flags</a> ›</p>
    <div class="title-row"><h1>${flag.name || flag.key}</h1><code class="key">${flag.key}</code>
      <span class="muted" id="flag-version">version ${flag.version}${newer ? html` — <strong>version ${newer} is the latest</strong>` : null}</span></div>
    <${FreezeBanner} env=${env} />
    <${ArchivedBanner} flag=${flag} />
    <${PlanBanner} plans=${plans} flag=${flag} env=${env} onChanged=${loadPlans} />
    <${Details} flag=${flag} onSaved=${(f) => {
      setFlag(f);
      if (!dirty) setDraft(clone(f.environments?.[env] ?? null));
    }} />

    <div class="card switches" aria-label="On or off per environment">
      <h2>On / off</h2>
      ${environments.map(
        (e) => html`<span class=${`env-switch ${e.key === env ? 'current-env' : ''}`}>
          <strong>${e.name || e.key}</strong>
          <${Toggle} flag=${flag} env=${e.key} config=${flag.environments?.[e.key]} onError=${setError}
            onDone=${(config, version) => {
              // Adopt the new version only when nobody else wrote in between;
              // otherwise a later save must still meet the 409.
              setFlag((f) => ({ ...f, version: version === f.version + 1 ? version : f.version, environments: { ...f.environments, [e.key]: config } }));
              if (e.key === env) setDraft((d) => ({ ...d, on: config.on, version: config.version }));
            }} />
        </span>`,
      )}
    </div>

    <div role="tablist" class="tabs" aria-label="Flag views">
      ${[['targeting', 'Targeting'], ['scheduled', 'Scheduled'], ['history', 'History']].map(([k, label]) => html`<button type="button" role="tab" id=${`tab-${k}`}
        aria-selected=${tab === k} aria-controls=${`panel-${k}`} tabindex=${tab === k ? 0 : -1} onClick=${() => setTab(k)}
        onKeyDown=${(e) => {
          if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
          const order = ['targeting', 'scheduled', 'history'];
          const next = order[(order.indexOf(k) + (e.key === 'ArrowRight' ? 1 : 2)) % 3];
          setTab(next);
          requestAnimationFrame(() => document.getElementById(`tab-${next}`)?.focus());
        }}>${label}</button>`)}
    </div>
    ${tab === 'scheduled'
      ? html`<div role="tabpanel" id="panel-scheduled" aria-labelledby="tab-scheduled"><${ScheduledChanges} flagKey=${flag.key} env=${env} /></div>`
      : null}
    ${tab === 'history'
      ? html`<div role="tabpanel" id="panel-history" aria-labelledby="tab-history"><${FlagHistory} flagKey=${flag.key} /></div>`
      : null}
    <div role="tabpanel" id="panel-targeting" aria-labelledby="tab-targeting" hidden=${tab !== 'targeting'}>
    ${changedElsewhere && !conflict
      ? html`<div class="notice" role="status">
          <strong>${changedElsewhere.by}</strong> changed this flag (${actionWords(changedElsewhere.action)}) while you were editing.
          Saving now will be refused. <button type="button" onClick=${reapplyEdits}>Re-apply my edits to the latest version</button>
          <button type="button" onClick=${reloadLatest}>Reload latest</button>
        </div>`
      : null}

    <${PromoteButtons} flag=${flag} env=${env} dirty=${dirty} onCopied=${load} />
    <form class="config" onSubmit=${save} aria-labelledby="config-title">
      <h2 id="config-title">Targeting in ${env}</h2>
      ${managed
        ? html`<p class="notice" role="status" id="managed-by">Read-only: managed by <code>${managed.file}</code>.
            Change it in that file and run <code>daylight apply</code>; the off switch above still works.</p>`
        : null}
      <${AttributeList} extra=${attributes} />
      <fieldset disabled=${readOnly || !!managed} class="plain" aria-describedby=${managed ? 'managed-by' : null}>
        <div class="grid2">
          <div><label for="off-variation">When off, serve</label>
            <select id="off-variation" data-field="off_variation" value=${draft.off_variation ?? ''}
              onChange=${(e) => set({ off_variation: e.target.value === '' ? null : Number(e.target.value) })}>
              ${variations.map((v, i) => html`<option value=${i}>${i}: ${show(v)}</option>`)}
            </select></div>
          <div class="muted">The on/off switch is above; it applies at once.</div>
        </div>
        <${Prerequisites} prerequisites=${draft.prerequisites ?? []} flags=${allFlags} self=${flag.key}
          onChange=${(prerequisites) => set({ prerequisites })} />
        <${Targets} targets=${draft.targets ?? []} variations=${variations} onChange=${(targets) => set({ targets })} />
        <h3>Rules <span class="muted">(in order; the first that matches serves)</span></h3>
        <ol class="rules">
          ${draft.rules.map(
            (rule, i) => html`<${RuleEditor} locked=${owner && rule.id === RELEASE_RULE ? owner : null} rule=${rule} index=${i} count=${draft.rules.length} variations=${variations} segments=${segments}
              onChange=${(r) => setRule(i, r)} onMove=${(by) => moveRule(i, by)}
              onRemove=${() => set({ rules: draft.rules.filter((_, j) => j !== i) })} />`,
          )}
        </ol>
        <button type="button" onClick=${() => set({ rules: [...draft.rules, { id: newRuleId(draft.rules), description: '', clauses: [newClause()], serve: { variation: variations.length > 1 ? 1 : 0 } }] })}>
          Add rule</button>
        <fieldset class="plain" disabled=${!!owner} aria-describedby=${owner ? 'fallthrough-owner' : null}>
          <${ServeEditor} serve=${draft.fallthrough} variations=${variations} id="fallthrough" field="fallthrough"
            legend="Everyone else (no rule matched)" onChange=${(fallthrough) => set({ fallthrough })} />
          ${owner ? html`<p class="muted" id="fallthrough-owner">Set by release plan ${owner.id}: locked until it completes or is rolled back.</p>` : null}
        </fieldset>
        <label for="config-comment">Comment for the audit log (optional)</label>
        <input id="config-comment" value=${comment} onInput=${(e) => setComment(e.target.value)} />
        <${ErrorLine} error=${error} />
        ${conflict
          ? html`<${ConflictNotice} conflict=${conflict} onReapply=${reapplyEdits} onReload=${reloadLatest} onDismiss=${() => setConflict(null)} />`
          : null}
        ${reapplied
          ? html`<p class="notice" role="status" id="reapplied">Your edits are re-applied to version ${reapplied.version}: check them and save.
              ${reapplied.clashes.length ? html` Both you and the other change edited ${reapplied.clashes.join(', ')}: yours is kept.` : null}</p>`
          : null}
        ${proposed
          ? html`<p class="ok" role="status" id="proposed">Proposed as <a href=${`#/requests/${proposed.id}`}>change request #${proposed.id}</a>: it applies once approved.</p>`
          : null}
        <div class="actions">
          ${saved && !dirty ? html`<span class="ok" role="status">Saved.</span>` : null}
          ${dirty ? html`<span class="muted">Unsaved changes</span>` : null}
          <button type="button" disabled=${!dirty} onClick=${() => (setDraft(clone(savedConfig)), setError(null), pointAt(null))}>Discard</button>
          <button type="submit" class="primary" disabled=${!dirty}>Save ${env}</button>
        </div>
      </fieldset>
    </form>
    <${Explain} flag=${flag} env=${env} draft=${draft} dirty=${dirty} />
    ${needsApproval
      ? html`<${ProposeDialog} flagKey=${flag.key} env=${env} config=${draft} message=${needsApproval.message}
          onCancel=${() => setNeedsApproval(null)}
          onProposed=${(request) => {
            setNeedsApproval(null);
            setProposed(request);
            setComment('');
          }} />`
      : null}
    </div>
  </section>`;
}
