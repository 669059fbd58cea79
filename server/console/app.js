// The console shell: sign-in with an admin token, the navigation, the
// environment picker, the viewer banner, hash routing and the live feed.
import { api, getToken, setToken, whenUnauthorized } from './api.js';
import { Live } from './live.js';
import { html, render, Session, useEffect, useMemo, useState } from './lib.js';
import { FlagsPage } from './flags.js';
import { FlagPage } from './flag.js';
import { SegmentsPage, SegmentPage } from './segments.js';
import { BundlesPage } from './bundles.js';
import { AuditPage } from './audit.js';
import { ReleasesPage } from './releases.js';

function parseRoute() {
  const [path] = (location.hash.replace(/^#/, '') || '/flags').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'flags', key: parts[1] };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Focuses the page's first heading (waiting for it to render when `wait`), else <main>. */
function focusMain(wait) {
  let tries = wait ? 40 : 1;
  const attempt = () => {
    // Never take focus from a field someone is typing in: only from the
    // page (focus lost) or the link just followed.
    const at = document.activeElement;
    if (wait && at && at !== document.body && at.tagName !== 'A') return;
    const main = document.getElementById('main');
    const heading = main?.querySelector('h1');
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
    } else if (--tries > 0) {
      setTimeout(attempt, 50);
    } else {
      main?.focus();
    }
  };
  attempt();
}

function SignIn({ onSignedIn, notice }) {
  const [token, setTokenText] = useState('');
  const [error, setError] = useState(notice);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setToken(token.trim());
    try {
      const { data } = await api('GET', '/me');
      onSignedIn(data);
    } catch (err) {
      setToken(null);
      setError(err.status === 401 ? 'That token is not valid (or was revoked).' : err.message);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="signin">
    <h1>Daylight</h1>
    <form onSubmit=${submit} class="card">
      <h2>Sign in</h2>
      <p class="muted">Paste your token (<code>dl_admin_…</code>, whatever its role: viewer, editor or admin). It is kept in this tab only.</p>
      <label for="token">Token</label>
      <input id="token" type="password" autocomplete="off" required value=${token}
        onInput=${(e) => setTokenText(e.target.value)} />
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <button type="submit" class="primary" disabled=${busy}>Sign in</button>
    </form>
  </main>`;
}

const NAV = [
  ['flags', 'Flags'],
  ['releases', 'Releases'],
  ['segments', 'Segments'],
  ['bundles', 'Bundles'],
  ['audit', 'Audit log'],
];

function Shell({ me, onSignOut }) {
  const route = useRoute();
  const [environments, setEnvironments] = useState([]);
  const [env, setEnvState] = useState(localStorage.getItem('daylight.env') || 'production');
  const [liveStatus, setLiveStatus] = useState('starting');
  const live = useMemo(() => new Live(), []);

  useEffect(() => {
    api('GET', '/environments').then(({ data }) => {
      setEnvironments(data.environments);
      if (!data.environments.some((e) => e.key === env) && data.environments.length > 0) {
        setEnv(data.environments[0].key);
      }
    });
    live.onStatus = setLiveStatus;
    live.start().catch(() => setLiveStatus('offline'));
    return () => live.stop();
  }, []);

  function setEnv(key) {
    localStorage.setItem('daylight.env', key);
    setEnvState(key);
  }

  // After sign-in and on every route change, focus goes to the page's
  // heading (once it has rendered), not to <body>.
  useEffect(() => {
    focusMain(true);
  }, [route.page, route.key]);

  const readOnly = me.role === 'viewer';
  const session = { me, environments, env, setEnv, readOnly, live };

  let page;
  switch (route.page) {
    case 'flags':
      page = route.key ? html`<${FlagPage} key=${route.key} flagKey=${route.key} />` : html`<${FlagsPage} />`;
      break;
    case 'segments':
      page = route.key ? html`<${SegmentPage} key=${env + route.key} segmentKey=${route.key} />` : html`<${SegmentsPage} />`;
      break;
    case 'bundles':
      page = html`<${BundlesPage} />`;
      break;
    case 'audit':
      page = html`<${AuditPage} />`;
      break;
    case 'releases':
      page = html`<${ReleasesPage} />`;
      break;
    default:
      page = html`<p>Nothing here. <a href="#/flags">Flags</a></p>`;
  }

  return html`<${Session.Provider} value=${session}>
    <a class="skip-link" href="#main" onClick=${(e) => (e.preventDefault(), focusMain(false))}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/flags">Daylight</a>
      <nav aria-label="Main">
        ${NAV.map(([id, label]) => html`<a href=${`#/${id}`} aria-current=${route.page === id ? 'page' : null}>${label}</a>`)}
      </nav>
      <div class="env">
        <label for="env-select">Environment</label>
        <select id="env-select" value=${env} onChange=${(e) => setEnv(e.target.value)}>
          ${environments.map((e) => html`<option value=${e.key}>${e.name || e.key}</option>`)}
        </select>
      </div>
      <span class=${`live live-${liveStatus}`} title="Changes made elsewhere appear here within a second">
        ${liveStatus === 'live' ? 'Live' : liveStatus === 'offline' ? 'Offline' : 'Connecting'}
      </span>
      <span class="who">${me.name} <span class="role">${me.role}</span></span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    ${readOnly
      ? html`<div class="banner" role="status" id="read-only-banner">
          Read-only: you are signed in with a <strong>viewer</strong> token. You can look at everything but change nothing.
        </div>`
      : null}
    <main id="main" tabindex="-1">${page}</main>
    <footer class="muted"><a href="/console/vendor/LICENSES.txt">Third-party licences</a></footer>
  <//>`;
}

function App() {
  const [me, setMe] = useState(undefined);
  const [notice, setNotice] = useState(null);
  useEffect(() => {
    whenUnauthorized(() => {
      setToken(null);
      setNotice('Your token is no longer valid: sign in again.');
      setMe(null);
    });
    if (!getToken()) return setMe(null);
    api('GET', '/me')
      .then(({ data }) => setMe(data))
      .catch(() => setMe(null));
  }, []);
  if (me === undefined) return html`<p class="muted">Loading…</p>`;
  if (me === null) return html`<${SignIn} notice=${notice} onSignedIn=${(m) => (setNotice(null), setMe(m))} />`;
  return html`<${Shell}
    me=${me}
    onSignOut=${() => {
      setToken(null);
      setMe(null);
    }}
  />`;
}

render(html`<${App} />`, document.getElementById('app'));
