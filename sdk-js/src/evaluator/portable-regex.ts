/**
 * The portable regex subset of the `matches` operator
 * (`docs/regex-subset.md`; the Rust SDK's `portable_regex` module).
 *
 * JavaScript's `RegExp` accepts more than the subset (look-around,
 * back-references, `\b`, …) and backtracks, so a pattern is checked here
 * against the same rules the Rust SDK and the server apply before it is
 * compiled: a hand-written bootstrap document the Rust SDK refuses is
 * refused here too, and no accepted pattern can backtrack exponentially.
 * The shared cases in `tests/vectors/regex/subset.json` pin the agreement.
 *
 * Only Rust measures compiled sizes (its budgets are per clause, flag and
 * environment); V8 compiles lazily, so that budget has no counterpart here.
 */
import { RegExpParser, type AST } from '@eslint-community/regexpp';

/** The largest count a counted repetition may name. */
export const MAX_REPEAT = 1000;
/** How deeply groups may nest. */
export const MAX_GROUP_DEPTH = 32;

/** General categories both engines spell and resolve alike. */
const GENERAL_CATEGORIES = new Set(
  'L LC Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp Cc Cf Co'.split(' '),
);

const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `\uD800`–`\uDFFF` written as an escape: a lone surrogate or half of a pair. */
const SURROGATE_ESCAPE = /^\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/** Why a pattern is outside the portable subset. */
export class PortableRegexError extends Error {}

// ES2025 so that modifiers (`(?i:a)`) and duplicate group names parse and are
// refused below, whatever the running Node version supports.
const parser = new RegExpParser({ ecmaVersion: 2025 });

/**
 * Compiles `pattern` for the `matches` operator (flags `u`, plus `i` when
 * case-insensitive) if it lies in the portable subset.
 * @throws {PortableRegexError} saying which part is not portable and why.
 */
export function compilePortableRegex(pattern: string, caseInsensitive: boolean): RegExp {
  // A lone surrogate cannot occur in a Rust string (nor in a valid JSON document).
  if (/\p{Cs}/u.test(pattern)) throw new PortableRegexError('the pattern contains a lone surrogate');
  let ast: AST.Pattern;
  try {
    ast = parser.parsePattern(pattern, 0, pattern.length, { unicode: true });
  } catch (e) {
    throw new PortableRegexError((e as Error).message);
  }
  new Checker(caseInsensitive).alternatives(ast.alternatives);
  try {
    return new RegExp(pattern, caseInsensitive ? 'iu' : 'u');
  } catch (e) {
    throw new PortableRegexError((e as Error).message);
  }
}

class Checker {
  /** How many repetitions that can repeat more than once enclose the node. */
  private loops = 0;
  private groups = 0;
  private readonly names = new Set<string>();

  constructor(private readonly caseInsensitive: boolean) {}

  alternatives(alternatives: readonly AST.Alternative[]): void {
    if (alternatives.length > 1) this.insideLoop(alternatives[0]!.parent);
    for (const alternative of alternatives) {
      for (const element of alternative.elements) this.element(element);
    }
  }

  private element(node: AST.Element): void {
    switch (node.type) {
      case 'Assertion':
        if (node.kind === 'start' || node.kind === 'end') return;
        return reject(node, node.kind === 'word' ? '\\b and \\B are not portable' : 'look-around is not supported');
      case 'Backreference':
        return reject(node, 'back-references are not supported');
      case 'Character':
        return this.character(node, false);
      case 'CharacterSet':
        return this.characterSet(node);
      case 'CharacterClass':
        return this.characterClass(node);
      case 'ExpressionCharacterClass':
        return reject(node, 'class set operations are not portable');
      case 'Group':
      case 'CapturingGroup':
        return this.group(node);
      case 'Quantifier':
        return this.quantifier(node);
    }
  }

  /** Rust reads these differently or not at all; JavaScript accepts them. */
  private character(node: AST.Character, inClass: boolean): void {
    const raw = node.raw;
    if (raw === '\\0') reject(node, 'octal escapes (\\0) are not supported; use \\x00');
    if (raw.startsWith('\\c')) reject(node, 'control escapes are not portable; use \\xHH');
    if (inClass && raw === '\\b') reject(node, '[\\b] is not portable; use \\x08');
    if (SURROGATE_ESCAPE.test(raw) || (node.value >= 0xd800 && node.value <= 0xdfff)) {
      reject(node, 'surrogate escapes are not supported; write \\u{1F600}');
    }
  }

  private characterSet(node: AST.CharacterSet): void {
    if (node.kind !== 'property') return; // . \d \w \s and their negations
    const name = node.value ?? node.key;
    if (!GENERAL_CATEGORIES.has(name) || node.raw !== `\\${node.negate ? 'P' : 'p'}{${name}}`) {
      reject(node, 'only general categories such as \\p{L}, \\p{Lu} or \\p{Nd} are portable');
    }
    // JavaScript complements before it folds case, Rust after.
    if (node.negate && this.caseInsensitive) reject(node, `\\P{${name}} is not portable with case_insensitive`);
  }

  private characterClass(node: AST.CharacterClass): void {
    const items = node.elements;
    // `[]` never matches and `[^]` matches anything; Rust reads `]` there.
    if (items.length === 0) reject(node, 'an empty class is not portable');
    // Rust reads `&&` and `~~` in a class as set operations.
    if (/&&|~~/.test(node.raw.replace(/\\./gsu, ''))) {
      reject(node, 'class set operations (&&, ~~) are not portable; escape the repeated character');
    }
    items.forEach((item, i) => {
      switch (item.type) {
        case 'Character':
          // JavaScript reads a bare `-` between items as a literal, Rust as
          // the start of `--` (a set operation): only first or last.
          if (item.raw === '-' && i !== 0 && i !== items.length - 1) {
            reject(item, 'a `-` inside a class must come first or last, or be escaped as \\-');
          }
          if (item.raw === '[') reject(item, 'escape a literal `[` in a class as \\[');
          return this.character(item, true);
        case 'CharacterClassRange':
          // Rust reads `[` as the start of a nested class, except at a range's end.
          if (item.min.raw === '[') reject(item.min, 'escape a literal `[` in a class as \\[');
          for (const end of [item.min, item.max]) {
            if (end.raw === '-') reject(end, 'escape `-` as \\- in a range');
            this.character(end, true);
          }
          return;
        case 'CharacterSet':
          return this.characterSet(item);
        default:
          return reject(item, 'class set operations are not portable');
      }
    });
  }

  private group(node: AST.Group | AST.CapturingGroup): void {
    if (this.groups >= MAX_GROUP_DEPTH) reject(node, `groups may nest at most ${MAX_GROUP_DEPTH} deep`);
    if (node.type === 'Group' && node.modifiers) reject(node, 'inline flags are not portable; use case_insensitive');
    if (node.type === 'CapturingGroup' && node.name !== null) {
      if (!GROUP_NAME.test(node.name)) {
        reject(node, 'a group name must be ASCII letters, digits and `_`, not starting with a digit');
      }
      if (this.names.has(node.name)) reject(node, `duplicate group name \`${node.name}\``);
      this.names.add(node.name);
    }
    this.groups++;
    this.alternatives(node.alternatives);
    this.groups--;
  }

  private quantifier(node: AST.Quantifier): void {
    if (node.min > MAX_REPEAT || (node.max !== Infinity && node.max > MAX_REPEAT)) {
      reject(node, `a counted repetition may not exceed ${MAX_REPEAT}`);
    }
    this.insideLoop(node);
    const repeats = node.max > 1;
    if (repeats) this.loops++;
    this.element(node.element);
    if (repeats) this.loops--;
  }

  /** Backtracking engines could take exponential time (`(a+)+`, `(a|a)*`). */
  private insideLoop(node: AST.Node): void {
    if (this.loops > 0) reject(node, 'a repeated group cannot contain another quantifier or `|`');
  }
}

function reject(node: AST.Node, message: string): never {
  throw new PortableRegexError(`${message} (\`${node.raw}\` at ${node.start})`);
}
