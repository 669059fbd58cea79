// People (admins): accounts with their roles, invitations (the link is shown
// once, to copy), role changes and disabling (which ends the account's
// sessions on every node).
import { api, get, enc } from './api.js';
import { ErrorLine, formatTime, html, useLive, useLoad, useSession, useState } from './lib.js';

const ROLES = ['viewer', 'editor', 'admin'];

function InviteForm({ onInvited }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('editor');
  const [error, setError] = useState(null);
  const [invited, setInvited] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    try {
      const { data } = await api('POST', '/invitations', { body: { email: email.trim(), role } });
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
    <td>${disabled ? html`Disabled ${formatTime(account.disabled_at)}` : 'Active'}</td>
    <td>${self || disabled
      ? null
      : html`<button type="button" class="danger" onClick=${() => patch({ disabled: true })}
          aria-label=${`Disable ${account.email} and end their sessions`}>Disable</button>`}
      <${ErrorLine} error=${error} /></td>
  </tr>`;
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
      Disabling an account ends its sessions on every node at once.</p>
    <${InviteForm} onInvited=${reloadInvitations} />
    <${ErrorLine} error=${error} />
    <table class="list" aria-label="Accounts">
      <thead><tr><th scope="col">Person</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
      <tbody>${(accounts?.accounts ?? []).map(
        (a) => html`<${AccountRow} key=${a.id} account=${a} self=${me.person && a.email === me.email} onChanged=${reload} />`,
      )}</tbody>
    </table>
    ${pending.length
      ? html`<h2>Pending invitations</h2>
          <ul>${pending.map((i) => html`<li>${i.email} (${i.role}), invited by ${i.invited_by}, until ${formatTime(i.expires_at)}</li>`)}</ul>`
      : null}
  </section>`;
}
