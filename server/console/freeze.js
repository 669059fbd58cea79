// The freeze banner: shown on a flag's and a segment's page (so before anyone starts editing)
// when the environment is in a freeze window now or one starts within the
// next two hours. The kill switch still works inside a window.
import { get, enc } from './api.js';
import { formatTime, html, useLive, useLoad } from './lib.js';

const SOON_MS = 2 * 60 * 60 * 1000;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** When `schedule` next starts within [now, now + SOON_MS], or null. */
export function startsSoon(schedule, now = Date.now()) {
  if (schedule.kind === 'once') {
    const at = Date.parse(schedule.starts_at);
    return at >= now && at - now <= SOON_MS ? at : null;
  }
  if (schedule.kind !== 'weekly') return null;
  let format;
  try {
    format = new Intl.DateTimeFormat('en-GB', { timeZone: schedule.time_zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  } catch {
    return null;
  }
  // Minute by minute in the window's own time zone: daylight saving time included.
  const first = Math.ceil(now / 60000) * 60000;
  for (let at = first; at - now <= SOON_MS; at += 60000) {
    const parts = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
    const day = DAYS.find((d) => parts.weekday.toLowerCase().startsWith(d));
    if (schedule.days.includes(day) && `${parts.hour}:${parts.minute}` === schedule.start) return at;
  }
  return null;
}

export function FreezeBanner({ env }) {
  const [data, , reload] = useLoad(() => get(`/environments/${enc(env)}/freezes`), [env]);
  useLive((entries) => entries.some((e) => e.resource_kind === 'freeze' && e.environment === env) && reload());
  if (!data) return null;
  const active = data.windows.filter((w) => w.active);
  const soon = data.windows
    .filter((w) => !w.active)
    .map((w) => ({ ...w, at: startsSoon(w.schedule) }))
    .filter((w) => w.at !== null)
    .sort((a, b) => a.at - b.at);
  if (data.frozen || active.length > 0) {
    return html`<div class="notice freeze" role="status" id="freeze-banner">
      <strong>${env} is frozen now</strong> (${active.map((w) => `“${w.name}”`).join(', ')}): changes here are refused until the window ends.
      The kill switch still works: turning a flag off always goes through.
    </div>`;
  }
  if (soon.length > 0) {
    return html`<div class="notice freeze" role="status" id="freeze-banner">
      <strong>A freeze starts soon in ${env}</strong>: “${soon[0].name}” at ${formatTime(soon[0].at)}. Changes will be refused from then on;
      the kill switch still works.
    </div>`;
  }
  return null;
}
