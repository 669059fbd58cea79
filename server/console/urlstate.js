// A page's filters kept in the URL's hash query (`#/flags?tag=lobby&q=vip`):
// a link shares them, reload keeps them, and Back undoes a choice.
import { useEffect, useState } from './lib.js';

const params = () => new URLSearchParams(location.hash.split('?')[1] ?? '');

/**
 * `[values, update]` for the filters named by `defaults` (strings). A value
 * equal to its default stays out of the URL. `update(patch)` adds a history
 * entry; `update(patch, { replace: true })` (typing) replaces the current one.
 */
export function useUrlFilters(defaults) {
  const read = () => {
    const p = params();
    return Object.fromEntries(Object.entries(defaults).map(([k, d]) => [k, p.get(k) ?? d]));
  };
  const [values, setValues] = useState(read);
  useEffect(() => {
    const on = () =>
      setValues((was) => {
        const now = read();
        return JSON.stringify(now) === JSON.stringify(was) ? was : now;
      });
    addEventListener('popstate', on);
    addEventListener('hashchange', on);
    // A change between the first render and this effect had no listener.
    on();
    return () => {
      removeEventListener('popstate', on);
      removeEventListener('hashchange', on);
    };
  }, []);
  function update(patch, { replace = false } = {}) {
    const next = { ...read(), ...patch };
    const p = new URLSearchParams();
    for (const [k, d] of Object.entries(defaults)) if (next[k] !== d) p.set(k, next[k]);
    const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
    const url = `#${path}${[...p].length ? `?${p}` : ''}`;
    if (url !== location.hash) history[replace ? 'replaceState' : 'pushState'](null, '', url);
    setValues(next);
  }
  return [values, update];
}
