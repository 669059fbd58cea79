// People (admins): accounts with their roles and their roles per
// environment, invitations (the link is shown once, to copy), role changes
// and disabling (which ends the account's sessions on every node); and the
// named admin tokens the CLI and automation use (the secret is shown once).
import { api, get, enc } from './api.js';
import { ErrorLine, formatTime, html, useLive, useLoad, useSession, useState } from './lib.js';

const ROLES = ['viewer', 'editor', 'admin'];
const ENV_ROLES = ['viewer', 'editor'];

/**
 * One picker per environment (labelled "LABEL in ENV"): the same role as
 * overall, or viewer or editor there. `value` is the map of overrides;
 * `onChange` gets the new map.
 */
function EnvRoles({ idPrefix, label, role, value, onChange, disabled }) {
  const { environments } = useSession();
  if (role === 'admin') return html`<span class="muted">admin everywhere</span>`;
  const set = (env, picked) => {
    const next = { ...value };
    if (picked === '') delete next[env];
    else next[env] = picked;
    onChange(next);
  };
  return html`<div class="env-roles">${environments.map(
    (e) => html`<span class="env-role"><label for=${`${idPrefix}-${e.key}`}>${label} in ${e.key}</label>
      <select id=${`${idPrefix}-${e.key}`} value=${value?.[e.key] ?? ''} disabled=${disabled} onChange=${(ev) => set(e.key, ev.target.value)}>
        <option value="">${role} (same)</option>
        ${ENV_ROLES.filter((r) => r !== role).map((r) => html`<option value=${r}>${r}</option>`)}
      </select></span>`,
  )}</div>`;
}

function InviteForm({ onInvited }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('editor');
  const [envRoles, setEnvRoles] = useState({});
  const [error, setError] = useState(null);
  const [invited, setInvited] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    try {
      const body = { email: email.trim(), role, env_roles: role === 'admin' ? {} : envRoles };
      const { data } = await api('POST', '/invitations', { body });
      setInvited({ ...data, url: new URL(data.link, location.origin).href });
      setEmail('');
      onInvited();
    } catch (err) {
      setError(err);
      if (err.field === 'email') document.getElementById('invite-email')?.focus();
    }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="invite-title">
    <h2 id="invite-title">Invite a person</h2>
    <div class="grid2">
      <div><label for="invite-email">Email</label>
        <input id="invite-email" type="email" required value=${email} onInput=${(e) => setEmail(e.target.value)} /></div>
      <div><label for="invite-role">Role</label>
        <select id="invite-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
          ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}
        </select></div>
    </div>
    <fieldset class="plain"><legend>Role per environment</legend>
      <${EnvRoles} idPrefix="invite-env" label="Invitation" role=${role} value=${envRoles} onChange=${setEnvRoles} /></fieldset>
    <${ErrorLine} error=${error} />
    <div class="actions"><button type="submit" class="primary">Invite</button></div>
    ${invited
      ? html`<div class="notice" role="status" id="invitation-link">
          <p>Send this link to <strong>${invited.invitation.email}</strong>. It works once, within 7 days, and is shown only now.</p>
          <label for="invite-link">Invitation link</label>
          <input id="invite-link" readonly value=${invited.url} onFocus=${(e) => e.target.select()} />
          <button type="button" onClick=${() => navigator.clipboard?.writeText(invited.url).catch(() => {})}>Copy link</button>
        </div>`
      : null}
  </form>`;
}

function Tokens() {
  const [list, loadError, reload] = useLoad(() => get('/tokens'), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('editor');
  const [envRoles, setEnvRoles] = useState({});
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  async function create(e) {
    e.preventDefault();
    setError(null);
    try {
      const body = { name: name.trim(), role, env_roles: role === 'admin' ? {} : envRoles };
      const { data } = await api('POST', '/tokens', { body });
      setCreated(data);
      setName('');
      reload();
    } catch (err) {
      setError(err);
      if (err.field === 'name') document.getElementById('token-name')?.focus();
    }
  }
  async function revoke(token) {
    setError(null);
    try {
      await api('DELETE', `/tokens/${token.id}`);
      reload();
    } catch (err) {
      setError(err);
    }
  }
  const active = (list?.tokens ?? []).filter((t) => t.revoked_at == null);
  return html`<form class="card" onSubmit=${create} aria-labelledby="tokens-title">
    <h2 id="tokens-title">Tokens for the CLI and automation</h2>
    <p class="muted">A token acts under its name in the audit log (<code>token:NAME</code>) with its role.</p>
    <div class="grid2">
      <div><label for="token-name">Token name</label>
        <input id="token-name" required value=${name} onInput=${(e) => setName(e.target.value)} /></div>
      <div><label for="token-role">Token role</label>
        <select id="token-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
          ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}
        </select></div>
    </div>
    <fieldset class="plain"><legend>Token role per environment</legend>
      <${EnvRoles} idPrefix="token-env" label="New token" role=${role} value=${envRoles} onChange=${setEnvRoles} /></fieldset>
    <${ErrorLine} error=${error ?? loadError} />
    <div class="actions"><button type="submit" class="primary">Create token</button></div>
    ${created
      ? html`<div class="notice" role="status" id="token-secret">
          <p>The secret of <strong>${created.name}</strong>, shown only now: set it as <code>DAYLIGHT_TOKEN</code> for the CLI.</p>
          <label for="token-secret-value">Token secret</label>
          <input id="token-secret-value" readonly value=${created.secret} onFocus=${(e) => e.target.select()} />
        </div>`
      : null}
    ${active.length
      ? html`<table class="list" aria-label="Tokens">
          <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Per environment</th><th scope="col">Secret</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
          <tbody>${active.map((t) => html`<tr data-token=${t.name}><td>${t.name}</td><td>${t.kind}</td><td>${showEnvRoles(t.env_roles)}</td><td><code>${t.hint}</code></td>
            <td>${formatTime(t.created_at)}</td>
            <td><button type="button" class="danger" onClick=${() => revoke(t)}>Revoke<span class="sr-only"> ${t.name}</span></button></td></tr>`)}</tbody>
        </table>`
      : null}
  </form>`;
}

function AccountRow({ account, self, onChanged }) {
  const [error, setError] = useState(null);
  async function patch(body) {
    setError(null);
    try {
      await api('PATCH', `/accounts/${enc(account.id)}`, { body });
      onChanged();
    } catch (err) {
      setError(err);
    }
  }
  const disabled = account.disabled_at != null;
  return html`<tr data-account=${account.email}>
    <th scope="row">${account.name}<br /><span class="muted">${account.email}</span></th>
    <td>${self
      ? html`${account.role} <span class="muted">(you: another admin changes your account)</span>`
      : html`<label class="sr-only" for=${`role-${account.id}`}>Role of ${account.email}</label>
        <select id=${`role-${account.id}`} value=${account.role} disabled=${disabled} onChange=${(e) => patch({ role: e.target.value })}>
          ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}
        </select>`}</td>
    <td>${self
      ? showEnvRoles(account.env_roles)
      : html`<${EnvRoles} idPrefix=${`env-role-${account.id}`} label=${account.email} role=${account.role}
          value=${account.env_roles} disabled=${disabled} onChange=${(env_roles) => patch({ env_roles })} />`}</td>
    <td>${disabled ? html`Disabled ${formatTime(account.disabled_at)}` : 'Active'}</td>
    <td>${self || disabled
      ? null
      : html`<button type="button" class="danger" onClick=${() => patch({ disabled: true })}
          aria-label=${`Disable ${account.email} and end their sessions`}>Disable</button>`}
      <${ErrorLine} error=${error} /></td>
  </tr>`;
}

/** `production: viewer, staging: editor`, or `—` without any. */
function showEnvRoles(envRoles) {
  const pairs = Object.entries(envRoles ?? {});
  return pairs.length ? pairs.map(([env, role]) => `${env}: ${role}`).join(', ') : '—';
}

export function PeoplePage() {
  const { me } = useSession();
  const [accounts, error, reload] = useLoad(() => get('/accounts'), []);
  const [invitations, , reloadInvitations] = useLoad(() => get('/invitations'), []);
  // An invitation accepted or an account changed elsewhere shows up here at once.
  useLive((entries) => {
    if (entries.some((e) => e.action.startsWith('account.') || e.action.startsWith('invitation.'))) {
      reload();
      reloadInvitations();
    }
  });
  if (me.role !== 'admin') return html`<section><h1>People</h1><p>Only admins manage people.</p></section>`;
  const pending = (invitations?.invitations ?? []).filter((i) => i.accepted_at == null && i.expires_at > Date.now());
  return html`<section>
    <h1>People</h1>
    <p class="muted">Roles: viewer (reads), editor (flags, segments, bundles, release plans), admin (also environments, keys, tokens and people).
      A viewer or an editor may have another role in some environments (e.g. a viewer in production); it applies from their next request.
      Disabling an account ends its sessions on every node at once.</p>
    <${InviteForm} onInvited=${reloadInvitations} />
    <${ErrorLine} error=${error} />
    <table class="list" aria-label="Accounts">
      <thead><tr><th scope="col">Person</th><th scope="col">Role</th><th scope="col">Per environment</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
      <tbody>${(accounts?.accounts ?? []).map(
        (a) => html`<${AccountRow} key=${a.id} account=${a} self=${me.person && a.email === me.email} onChanged=${reload} />`,
      )}</tbody>
    </table>
    ${pending.length
      ? html`<h2>Pending invitations</h2>
          <ul>${pending.map((i) => html`<li>${i.email || 'the first admin (setup link)'} (${i.role}${Object.keys(i.env_roles ?? {}).length ? `; ${showEnvRoles(i.env_roles)}` : ''}), invited by ${i.invited_by}, until ${formatTime(i.expires_at)}</li>`)}</ul>`
      : null}
    <${Tokens} />
  </section>`;
}
