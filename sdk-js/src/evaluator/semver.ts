/**
 * Strict SemVer 2.0.0 (`1.0.3`, `2.0.0-rc.1+build.5`): the grammar and the
 * precedence of the Rust `semver` crate's `Version::parse` and
 * `cmp_precedence`, which the Rust SDK uses. No `v` prefix, no missing parts,
 * no leading zeros in numbers or numeric pre-release identifiers, numbers at
 * most 2^64 - 1; build metadata is checked but ignored when comparing.
 */

export interface SemVer {
  /** Decimal digits without leading zeros (they may exceed 2^53). */
  readonly major: string;
  readonly minor: string;
  readonly patch: string;
  /** Pre-release identifiers; empty for a release. */
  readonly pre: readonly string[];
}

const U64_MAX = '18446744073709551615';

/** Parses a version, or returns `undefined`. */
export function parseSemver(text: string): SemVer | undefined {
  const n = text.length;
  let i = 0;
  const number = (): string | undefined => {
    const start = i;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    const s = text.slice(start, i);
    if (s.length === 0) return undefined;
    if (s.length > 1 && s[0] === '0') return undefined;
    if (s.length > U64_MAX.length || (s.length === U64_MAX.length && s > U64_MAX)) return undefined;
    return s;
  };
  const major = number();
  if (major === undefined || text[i] !== '.') return undefined;
  i++;
  const minor = number();
  if (minor === undefined || text[i] !== '.') return undefined;
  i++;
  const patch = number();
  if (patch === undefined) return undefined;
  let pre: string[] = [];
  if (text[i] === '-') {
    const ids = identifiers(text, i + 1, true);
    if (ids === undefined || ids.list.length === 0) return undefined;
    pre = ids.list;
    i = ids.end;
  }
  if (text[i] === '+') {
    const ids = identifiers(text, i + 1, false);
    if (ids === undefined || ids.list.length === 0) return undefined;
    i = ids.end;
  }
  if (i !== n) return undefined;
  return { major, minor, patch, pre };
}

/**
 * Dot-separated identifiers of `[0-9A-Za-z-]` from `start`: an empty list
 * when none starts there; `undefined` for an empty identifier (`a..b`, `a.`)
 * or, in a pre-release, a numeric identifier with a leading zero.
 */
function identifiers(text: string, start: number, prerelease: boolean): { list: string[]; end: number } | undefined {
  const list: string[] = [];
  let i = start;
  for (;;) {
    const begin = i;
    let nonDigit = false;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (isDigit(c)) {
        i++;
      } else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45) {
        nonDigit = true;
        i++;
      } else {
        break;
      }
    }
    const id = text.slice(begin, i);
    if (id.length === 0) {
      // Nothing at all: the caller reports the empty segment.
      if (list.length === 0 && text[i] !== '.') return { list, end: i };
      return undefined;
    }
    if (prerelease && id.length > 1 && !nonDigit && id[0] === '0') return undefined;
    list.push(id);
    if (text[i] === '.') {
      i++;
    } else {
      return { list, end: i };
    }
  }
}

/** SemVer precedence: negative, zero or positive. */
export function compareSemver(a: SemVer, b: SemVer): number {
  return (
    compareNumeric(a.major, b.major) ||
    compareNumeric(a.minor, b.minor) ||
    compareNumeric(a.patch, b.patch) ||
    comparePre(a.pre, b.pre)
  );
}

function comparePre(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  for (let i = 0; i < a.length; i++) {
    if (i >= b.length) return 1;
    const x = a[i]!;
    const y = b[i]!;
    const xNumeric = allDigits(x);
    const yNumeric = allDigits(y);
    let order: number;
    if (xNumeric && yNumeric) order = compareNumeric(x, y);
    else if (xNumeric) return -1;
    else if (yNumeric) return 1;
    else order = compareAscii(x, y);
    if (order !== 0) return order;
  }
  return a.length === b.length ? 0 : -1;
}

/** Digit strings without leading zeros: by length, then lexically. */
function compareNumeric(a: string, b: string): number {
  return a.length - b.length || compareAscii(a, b);
}

function compareAscii(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function allDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}
