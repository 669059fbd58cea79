// Who is signed in, read from the server: at start, and again while the
// console is open, so a role an admin changed shows (banner, controls)
// without a reload. Read again when a write is refused with 403, when the
// tab becomes visible, and every minute.
import { api, getToken, setCsrf, whenForbidden } from './api.js';
import { personOf } from './signin.js';
import { useEffect } from './lib.js';

const EVERY_MS = 60_000;

/** The signed-in person (`GET /session`, which also gives the CSRF token) or token (`GET /me`). */
export async function readMe({ quiet = false } = {}) {
  if (getToken()) {
    const { data } = await api('GET', '/me', { quiet });
    return { ...data, actor: `token:${data.name}`, person: false };
  }
  const { data } = await api('GET', '/session', { quiet });
  setCsrf(data.csrf_token);
  return personOf(data);
}

const sameRole = (a, b) =>
  a.name === b.name && a.role === b.role && JSON.stringify(a.env_roles ?? {}) === JSON.stringify(b.env_roles ?? {});

/** Keeps `me` fresh while signed in; `setMe` gets a new object only when something shown changed. */
export function useFreshMe(me, setMe) {
  const signedIn = !!me;
  useEffect(() => {
    if (!signedIn) return undefined;
    let busy = false;
    const check = async () => {
      if (busy) return;
      busy = true;
      try {
        const now = await readMe();
        setMe((was) => (was && sameRole(was, now) ? was : now));
      } catch {
        // A 401 signs out through the API client; anything else waits for the next check.
      } finally {
        busy = false;
      }
    };
    const onVisible = () => document.visibilityState === 'visible' && check();
    document.addEventListener('visibilitychange', onVisible);
    whenForbidden(check);
    const timer = setInterval(check, EVERY_MS);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      whenForbidden(() => {});
      clearInterval(timer);
    };
  }, [signedIn]);
}
