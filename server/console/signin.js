// Getting in: a person signs in with email and password (or through the
// identity provider when the server has one), accepts an invitation, or —
// for automation — pastes a token.
import { api, setCsrf, setToken } from './api.js';
import { html, useEffect, useState } from './lib.js';

/** The signed-in person as the shell uses it (from a `SessionInfo`). */
export const personOf = (info) => ({
  name: info.name,
  email: info.email,
  role: info.role,
  env_roles: info.env_roles ?? {},
  actor: `person:${info.email}`,
  person: true,
});

/** The identity provider the server offers (`{name}`), or null: a 404 means none. */
async function oidcProvider() {
  try {
    const { data } = await api('GET', '/session/providers', { quiet: true });
    return data?.oidc?.name ? data.oidc : null;
  } catch {
    return null;
  }
}

export function SignIn({ onSignedIn, notice }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [token, setTokenText] = useState('');
  const [error, setError] = useState(notice);
  const [busy, setBusy] = useState(false);
  const [oidc, setOidc] = useState(null);
  useEffect(() => {
    oidcProvider().then(setOidc);
    // After sign-out (or a session ending) focus would be lost to <body>.
    if (!document.activeElement || document.activeElement === document.body) document.querySelector('main.signin h1')?.focus();
  }, []);

  async function signIn(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { data } = await api('POST', '/session', { body: { email: email.trim(), password }, quiet: true });
      setCsrf(data.csrf_token);
      onSignedIn(personOf(data));
    } catch (err) {
      setPassword('');
      setError(
        err.status === 401
          ? 'That email and password do not match an active account.'
          : err.status === 429
            ? 'Too many failed sign-ins from this address: wait a minute and try again.'
            : err.message,
      );
      document.getElementById('password')?.focus();
    } finally {
      setBusy(false);
    }
  }

  async function signInWithToken(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setToken(token.trim());
    try {
      const { data } = await api('GET', '/me', { quiet: true });
      onSignedIn({ ...data, actor: `token:${data.name}`, person: false });
    } catch (err) {
      setToken(null);
      setError(err.status === 401 ? 'That token is not valid (or was revoked).' : err.message);
    } finally {
      setBusy(false);
    }
  }

  const sso = () => {
    location.href = `/api/v1/session/oidc/start?return_to=${encodeURIComponent(location.pathname + location.hash)}`;
  };

  return html`<main class="signin">
    <h1 tabindex="-1">Daylight</h1>
    <form onSubmit=${signIn} class="card" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      ${oidc ? html`<p><button type="button" class="primary" onClick=${sso}>Sign in with SSO (${oidc.name})</button></p><p class="muted">Or with your Daylight account:</p>` : null}
      <label for="email">Email</label>
      <input id="email" type="email" autocomplete="username" required value=${email} onInput=${(e) => setEmail(e.target.value)} />
      <label for="password">Password</label>
      <input id="password" type="password" autocomplete="current-password" required value=${password}
        onInput=${(e) => setPassword(e.target.value)} />
      ${error ? html`<p class="error" role="alert" id="signin-error">${error}</p>` : null}
      <button type="submit" class=${oidc ? '' : 'primary'} disabled=${busy}>Sign in</button>
    </form>
    <details class="card token-signin">
      <summary>Sign in with a token (automation)</summary>
      <form onSubmit=${signInWithToken}>
        <p class="muted">A token (<code>dl_admin_…</code>, <code>dl_editor_…</code> or <code>dl_viewer_…</code>) is meant for the CLI and scripts. It is kept in this tab only.</p>
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="off" required value=${token}
          onInput=${(e) => setTokenText(e.target.value)} />
        <button type="submit" disabled=${busy}>Sign in with token</button>
      </form>
    </details>
  </main>`;
}

/**
 * `#/accept/CODE`: the invited person sets a name and password and is signed in.
 * `#/setup/CODE` (`setup`): the first-start link; the first admin also gives an email.
 */
export function AcceptInvitation({ code, onSignedIn, setup = false }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.querySelector('main h1')?.focus();
  }, []);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    if (password !== again) {
      setError({ message: 'The two passwords differ.', field: null });
      document.getElementById('new-password-again')?.focus();
      return;
    }
    setBusy(true);
    try {
      const body = { code, name: name.trim(), password, ...(setup ? { email: email.trim() } : {}) };
      const { data } = await api('POST', '/invitations/accept', { body, quiet: true });
      setToken(null);
      setCsrf(data.csrf_token);
      location.hash = '#/flags';
      onSignedIn(personOf(data));
    } catch (err) {
      setError(err);
      const field = { email: 'new-email', name: 'new-name', password: 'new-password' }[err.field];
      if (field) document.getElementById(field)?.focus();
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="signin">
    <h1 tabindex="-1">Daylight</h1>
    <form onSubmit=${submit} class="card" aria-labelledby="accept-title">
      <h2 id="accept-title">${setup ? 'Create the first admin account' : 'Accept your invitation'}</h2>
      <p class="muted">${setup
        ? 'You are the first person on this server: you will be its admin, and invite the others from People.'
        : 'Choose the name others will see and a password of at least 12 characters.'}</p>
      ${setup
        ? html`<label for="new-email">Your email</label>
          <input id="new-email" type="email" autocomplete="email" required value=${email} onInput=${(e) => setEmail(e.target.value)} />`
        : null}
      <label for="new-name">Your name</label>
      <input id="new-name" autocomplete="name" required value=${name} onInput=${(e) => setName(e.target.value)} />
      <label for="new-password">Password</label>
      <input id="new-password" type="password" autocomplete="new-password" minlength="12" required value=${password}
        onInput=${(e) => setPassword(e.target.value)} />
      <label for="new-password-again">Password again</label>
      <input id="new-password-again" type="password" autocomplete="new-password" minlength="12" required value=${again}
        onInput=${(e) => setAgain(e.target.value)} />
      ${error
        ? html`<p class="error" role="alert">${error.status === 404 || error.status === 409 || error.code === 'not_found'
            ? `${error.message} Ask an admin for a new invitation.`
            : error.message}</p>`
        : null}
      <button type="submit" class="primary" disabled=${busy}>Create account and sign in</button>
    </form>
  </main>`;
}
