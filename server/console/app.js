// The console shell: sign-in (a person's session, or a token for
// automation), the navigation, the environment picker, the viewer banner,
// hash routing and the live feed. Who is signed in is read again while
// the console is open (whoami.js): a role changed by an admin shows at once.
import { api, getToken, setCsrf, setToken, whenUnauthorized } from './api.js';
import { AcceptInvitation, SignIn } from './signin.js';
import { readMe, useFreshMe } from './whoami.js';
import { PeoplePage } from './people.js';
import { RequestsPage, RequestPage } from './requests.js';
import { Live } from './live.js';
import { html, render, roleIn, Session, useEffect, useMemo, useState } from './lib.js';
import { FlagsPage } from './flags.js';
import { FlagPage } from './flag.js';
import { SegmentsPage, SegmentPage } from './segments.js';
import { BundlesPage } from './bundles.js';
import { CohortsPage } from './cohorts.js';
import { AuditPage } from './audit.js';
import { ReleasesPage } from './releases.js';
import { PlaygroundPage } from './playground.js';

function parseRoute() {
  const [path] = (location.hash.replace(/^#/, '') || '/flags').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'flags', key: parts[1] };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const on = () =>
      setRoute((was) => {
        const now = parseRoute();
        return now.page === was.page && now.key === was.key ? was : now;
      });
    addEventListener('hashchange', on);
    // Effects run after the first paint: a hash change in between (a link
    // followed the moment the shell appeared) fired with no one listening.
    on();
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

const NAV = [
  ['flags', 'Flags'],
  ['releases', 'Releases'],
  ['segments', 'Segments'],
  ['bundles', 'Bundles'],
  ['cohorts', 'Cohorts'],
  ['audit', 'Audit log'],
  ['playground', 'Playground'],
];

/** The number of open change requests, kept fresh from the live feed. */
function useOpenRequests(live) {
  const [count, setCount] = useState(null);
  useEffect(() => {
    const load = () =>
      api('GET', '/change-requests?state=open').then(
        // A page holds up to 500; past that the count says "500+".
        ({ data }) => setCount(`${data.change_requests.length}${data.next_before_id ? '+' : ''}`),
        () => {},
      );
    load();
    return live.subscribe((entries) => {
      if (entries.some((e) => e.action.startsWith('change_request') || e.resource_kind === 'change_request')) load();
    });
  }, [live]);
  return count;
}

function Shell({ me, onSignOut }) {
  const route = useRoute();
  const [environments, setEnvironments] = useState([]);
  const [env, setEnvState] = useState(localStorage.getItem('daylight.env') || 'production');
  const [liveStatus, setLiveStatus] = useState('starting');
  const live = useMemo(() => new Live(), []);
  const openRequests = useOpenRequests(live);

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

  // Every page edits the picked environment: read-only where the role
  // there (a per-environment role, else the overall one) is viewer.
  const envRole = roleIn(me, env);
  const readOnly = envRole === 'viewer';
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
    case 'cohorts':
      page = html`<${CohortsPage} />`;
      break;
    case 'audit':
      page = html`<${AuditPage} />`;
      break;
    case 'releases':
      page = html`<${ReleasesPage} />`;
      break;
    case 'playground':
      page = html`<${PlaygroundPage} />`;
      break;
    case 'requests':
      page = route.key ? html`<${RequestPage} key=${route.key} id=${route.key} />` : html`<${RequestsPage} />`;
      break;
    case 'people':
      page = html`<${PeoplePage} />`;
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
        <a href="#/requests" aria-current=${route.page === 'requests' ? 'page' : null}>Change requests${openRequests
          ? html` <span class="count" aria-label=${`(${openRequests} open)`}>${openRequests}</span>`
          : null}</a>
        ${me.role === 'admin' ? html`<a href="#/people" aria-current=${route.page === 'people' ? 'page' : null}>People</a>` : null}
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
      <span class="who" id="signed-in-as">Signed in as <strong>${me.name}</strong> <span class="role">(${me.role}${envRole !== me.role ? `; ${envRole} in ${env}` : ''})</span>${me.person ? null : html` with a token`}</span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    ${readOnly
      ? html`<div class="banner" role="status" id="read-only-banner">
          ${me.role === 'viewer' && !Object.keys(me.env_roles ?? {}).length
            ? html`Read-only: you are signed in as a <strong>viewer</strong>. You can look at everything but change nothing.`
            : html`Read-only in <strong>${env}</strong>: you are a <strong>viewer</strong> there. You can look but change nothing in this environment.`}
        </div>`
      : null}
    <main id="main" tabindex="-1">${page}</main>
    <footer class="muted"><a href="/console/vendor/LICENSES.txt">Third-party licences</a></footer>
  <//>`;
}

function App() {
  const [me, setMe] = useState(undefined);
  const [notice, setNotice] = useState(null);
  const route = useRoute();
  useEffect(() => {
    whenUnauthorized(() => {
      const token = !!getToken();
      setToken(null);
      setCsrf(null);
      setNotice(token ? 'Your token is no longer valid: sign in again.' : 'Your session has ended: sign in again.');
      setMe(null);
    });
    // A token in this tab, else a person's session cookie, if any (HttpOnly: only the server can tell).
    const token = !!getToken();
    readMe({ quiet: true })
      .then(setMe)
      .catch(() => (token && setToken(null), setMe(null)));
  }, []);
  useFreshMe(me, setMe);
  const signedIn = (m) => (setNotice(null), setMe(m));
  if (route.page === 'accept' && route.key) return html`<${AcceptInvitation} code=${route.key} onSignedIn=${signedIn} />`;
  if (route.page === 'setup' && route.key) return html`<${AcceptInvitation} setup=${true} code=${route.key} onSignedIn=${signedIn} />`;
  if (me === undefined) return html`<p class="muted">Loading…</p>`;
  if (me === null) return html`<${SignIn} notice=${notice} onSignedIn=${signedIn} />`;
  return html`<${Shell}
    me=${me}
    onSignOut=${async () => {
      if (me.person) await api('DELETE', '/session', { quiet: true }).catch(() => {});
      setToken(null);
      setCsrf(null);
      setNotice(null);
      setMe(null);
    }}
  />`;
}

render(html`<${App} />`, document.getElementById('app'));
