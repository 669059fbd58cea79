/**
 * Timestamps for `before` / `after`: a strict RFC 3339 parser, the same
 * grammar as the Rust SDK's `timestamp.rs` (JavaScript's `Date.parse`
 * accepts far more). `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with `T`/`t`
 * and `Z`/`z`; digits beyond milliseconds are dropped, so values compare as
 * whole Unix milliseconds.
 */

/** Unix milliseconds of an RFC 3339 timestamp, or `undefined`. */
export function parseRfc3339Ms(s: string): number | undefined {
  const n = s.length;
  if (n < 20) return undefined;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (
    year === undefined ||
    month === undefined ||
    day === undefined ||
    hour === undefined ||
    minute === undefined ||
    second === undefined
  ) {
    return undefined;
  }
  if (s[4] !== '-' || s[7] !== '-' || (s[10] !== 'T' && s[10] !== 't') || s[13] !== ':' || s[16] !== ':') {
    return undefined;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  let i = 19;
  let millis = 0;
  if (s[i] === '.') {
    i += 1;
    const start = i;
    while (i < n && isDigit(s.charCodeAt(i))) {
      if (i - start < 3) millis = millis * 10 + (s.charCodeAt(i) - 48);
      i += 1;
    }
    const count = i - start;
    if (count === 0) return undefined;
    for (let d = count; d < 3; d++) millis *= 10;
  }
  if (i >= n) return undefined;
  let offsetMinutes: number;
  const c = s[i];
  if ((c === 'Z' || c === 'z') && i + 1 === n) {
    offsetMinutes = 0;
  } else if ((c === '+' || c === '-') && i + 6 === n && s[i + 3] === ':') {
    const h = digits(s, i + 1, 2);
    const m = digits(s, i + 4, 2);
    if (h === undefined || m === undefined || h > 23 || m > 59) return undefined;
    offsetMinutes = c === '-' ? -(h * 60 + m) : h * 60 + m;
  } else {
    return undefined;
  }
  const days = daysFromCivil(year, month, day);
  const seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60;
  return seconds * 1_000 + millis;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function digits(s: string, at: number, count: number): number | undefined {
  if (at + count > s.length) return undefined;
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const code = s.charCodeAt(i);
    if (!isDigit(code)) return undefined;
    value = value * 10 + (code - 48);
  }
  return value;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 (Howard Hinnant's `days_from_civil`). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
