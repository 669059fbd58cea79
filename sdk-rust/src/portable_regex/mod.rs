//! The portable regex subset used by the `matches` operator.
//!
//! A rule's regex is evaluated by this crate (`regex`) and by the JavaScript
//! SDK (`new RegExp(pattern, "u")`, or `"iu"` when case-insensitive, then
//! `.test(input)`). Both must give the same answer for every input, so a
//! pattern is accepted only if it lies in a subset where the two engines
//! agree, and a few constructs whose meaning differs (`.`, `\d`, `\w`, `\s`)
//! are rewritten into explicit classes before Rust compiles them, so that
//! Rust matches exactly what JavaScript matches.
//!
//! The subset is described for users in `docs/regex-subset.md`; the
//! cross-engine test `tests/portable_regex_node.rs` checks it against node.

#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;

use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_syntax::ast::{
    self, parse::Parser, Assertion, AssertionKind, Ast, ClassBracketed, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetBinaryOp, ClassSetItem, ClassUnicode, ClassUnicodeKind, ErrorKind, Group, GroupKind, HexLiteralKind,
    Literal, LiteralKind, Repetition, RepetitionKind, RepetitionRange, Span, SpecialLiteralKind,
};

/// Why a pattern is not in the portable subset (or is not a regex at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortableRegexError {
    message: String,
    span: Option<Range<usize>>,
    fragment: String,
}

impl PortableRegexError {
    fn new(message: impl Into<String>, pattern: &str, span: Option<&Span>) -> Self {
        let span = span.map(|s| s.start.offset..s.end.offset);
        let fragment = span
            .clone()
            .and_then(|r| pattern.get(r))
            .unwrap_or_default()
            .to_string();
        PortableRegexError {
            message: message.into(),
            span,
            fragment,
        }
    }

    /// The human explanation, without position.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Byte range of the offending part of the pattern, when known.
    #[must_use]
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }
}

impl fmt::Display for PortableRegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) if !self.fragment.is_empty() => {
                write!(f, "{} (`{}` at byte {})", self.message, self.fragment, span.start)
            }
            Some(span) => write!(f, "{} (at byte {})", self.message, span.start),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PortableRegexError {}

// Budgets for compiled patterns, in bytes of `Regex::memory_usage`. A
// pattern's compiled size grows with its counted repetitions and the size of
// its classes in UTF-8 (`.{1000}` takes 1.3 MiB, `\p{L}` 49 KiB), and every
// server node and Rust SDK holds the compiled form of every rule in memory.

/// The patterns of one clause.
pub const CLAUSE_BUDGET: usize = 1 << 20;
/// The patterns of one flag's rules in one environment, or of one segment.
pub const FLAG_BUDGET: usize = 4 << 20;
/// The patterns of all flags and segments of one environment.
pub const ENVIRONMENT_BUDGET: usize = 32 << 20;

/// Compiles `pattern` for the `matches` operator if it lies in the portable
/// subset and compiles within [`CLAUSE_BUDGET`].
///
/// # Errors
///
/// If `pattern` is not a valid regex, uses syntax outside the portable
/// subset, or is too large once compiled; the error says which part and why.
pub fn compile(pattern: &str, case_insensitive: bool) -> Result<Regex, PortableRegexError> {
    let rust_pattern = translate(pattern, case_insensitive)?;
    let too_large = |size: Option<usize>| {
        let size = size.map(|s| format!("{} KiB, ", s.div_ceil(1024))).unwrap_or_default();
        let message = format!(
            "pattern is too large once compiled: {size}over the {} KiB a clause's patterns may take",
            CLAUSE_BUDGET / 1024
        );
        PortableRegexError::new(message, pattern, None)
    };
    // What `regex::Regex` sets, except that only the overall match is kept
    // (no capture group is ever read). The NFA limit stops a huge pattern
    // early, before it has taken the memory.
    let regex = meta::Builder::new()
        .configure(
            meta::Config::new()
                .utf8_empty(true)
                .which_captures(WhichCaptures::Implicit)
                .nfa_size_limit(Some(CLAUSE_BUDGET)),
        )
        .syntax(syntax::Config::new().case_insensitive(case_insensitive))
        .build(&rust_pattern)
        .map_err(|e| match e.size_limit() {
            Some(_) => too_large(None),
            None => PortableRegexError::new(e.to_string(), pattern, None),
        })?;
    match regex.memory_usage() {
        size if size > CLAUSE_BUDGET => Err(too_large(Some(size))),
        _ => Ok(regex),
    }
}

/// Checks `pattern` and returns the equivalent pattern in Rust's syntax.
fn translate(pattern: &str, case_insensitive: bool) -> Result<String, PortableRegexError> {
    let ast = Parser::new().parse(pattern).map_err(|e| parse_error(pattern, &e))?;
    let checker = Checker {
        pattern,
        case_insensitive,
        edits: Vec::new(),
        loops: 0,
        groups: 0,
    };
    let edits = ast::visit(&ast, checker)?;
    Ok(apply_edits(pattern, edits))
}

/// Explains the parse errors a user is likely to hit in our own words.
fn parse_error(pattern: &str, e: &ast::Error) -> PortableRegexError {
    let fragment = pattern.get(e.span().start.offset..e.span().end.offset);
    let message = match e.kind() {
        ErrorKind::UnsupportedLookAround => "look-around ((?=, (?!, (?<=, (?<!) is not supported".to_string(),
        ErrorKind::UnsupportedBackreference => {
            "back-references and octal escapes (\\1, \\0) are not supported".to_string()
        }
        ErrorKind::EscapeUnrecognized if fragment == Some("\\k") => {
            "back-references (\\k<name>) are not supported".to_string()
        }
        ErrorKind::EscapeHexInvalid => "escape is not a valid Unicode scalar value \
             (surrogate escapes like \\uD83D are not supported; write \\u{1F600})"
            .to_string(),
        ErrorKind::RepetitionCountDecimalEmpty => {
            "a counted repetition needs a minimum: write {0,n}, not {,n}".to_string()
        }
        ErrorKind::RepetitionMissing => {
            "quantifier has nothing to repeat (escape a literal `{`, `*`, `+` or `?`)".to_string()
        }
        kind => kind.to_string(),
    };
    PortableRegexError::new(message, pattern, Some(e.span()))
}

/// A piece of the pattern to replace before Rust compiles it.
struct Edit {
    span: Range<usize>,
    replacement: &'static str,
}

fn apply_edits(pattern: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| e.span.start);
    let mut out = String::with_capacity(pattern.len() + 32 * edits.len());
    let mut done = 0;
    for edit in edits {
        out.push_str(&pattern[done..edit.span.start]);
        out.push_str(edit.replacement);
        done = edit.span.end;
    }
    out.push_str(&pattern[done..]);
    out
}

// JavaScript's meanings, spelled out for Rust. Inside a bracket class these
// are inserted as nested classes, which Rust unions with the other items.
/// JS `.` without the `s` flag: anything but a line terminator.
const DOT: &str = r"[^\n\r\u{2028}\u{2029}]";
const DIGIT: &str = "[0-9]";
const NOT_DIGIT: &str = "[^0-9]";
// With case_insensitive Rust folds this class to also contain U+017F (ſ) and
// U+212A (Kelvin sign), exactly like JS `\w` with the `iu` flags.
const WORD: &str = "[0-9A-Za-z_]";
const NOT_WORD: &str = "[^0-9A-Za-z_]";
/// JS `WhiteSpace` and `LineTerminator`: Zs plus tab, VT, FF, BOM, CR, LF, LS, PS.
const SPACE: &str = r"[\t\n\v\f\r\x20\xA0\u{1680}\u{2000}-\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}]";
const NOT_SPACE: &str =
    r"[^\t\n\v\f\r\x20\xA0\u{1680}\u{2000}-\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}]";

/// General categories whose `\p{..}` spelling both engines accept. Unassigned
/// (`Cn`), surrogates (`Cs`) and `C` are left out: they depend on the engines'
/// Unicode versions or cannot occur in a Rust string.
const GENERAL_CATEGORIES: &[&str] = &[
    "L", "LC", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Ps", "Pe",
    "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "Cc", "Cf", "Co",
];

/// The largest count a counted repetition may name: `a{1000}` is the
/// longest, so a short pattern cannot expand into a huge program.
pub const MAX_REPEAT: u32 = 1000;

/// How deeply groups may nest: deep enough for any real pattern, and shallow
/// enough that Rust's own nesting limit (which counts more than groups)
/// never decides instead, so JavaScript can apply the same rule.
pub const MAX_GROUP_DEPTH: u32 = 32;

/// Walks the AST, rejecting what is not portable and recording rewrites.
struct Checker<'p> {
    pattern: &'p str,
    case_insensitive: bool,
    edits: Vec<Edit>,
    /// How many repetitions that can repeat more than once enclose the node.
    loops: u32,
    /// How many groups enclose the node.
    groups: u32,
}

type Check = Result<(), PortableRegexError>;

impl Checker<'_> {
    fn reject(&self, message: impl Into<String>, span: &Span) -> Check {
        Err(PortableRegexError::new(message, self.pattern, Some(span)))
    }

    fn rewrite(&mut self, span: &Span, replacement: &'static str) {
        self.edits.push(Edit {
            span: span.start.offset..span.end.offset,
            replacement,
        });
    }

    fn text(&self, span: &Span) -> &str {
        &self.pattern[span.start.offset..span.end.offset]
    }

    fn literal(&self, lit: &Literal, in_class: bool) -> Check {
        let c = lit.c;
        match &lit.kind {
            LiteralKind::Verbatim => match c {
                '{' | '}' | ']' if !in_class => self.reject(
                    format!("a literal `{c}` must be escaped as `\\{c}` (JavaScript rejects it bare)"),
                    &lit.span,
                ),
                // Rust reads `[]a]` and `[^]a]` as a class containing `]`;
                // JavaScript reads `[]` as empty and `[^]` as any character.
                ']' => self.reject("`]` cannot start a class; escape it as `\\]`", &lit.span),
                _ => Ok(()),
            },
            LiteralKind::Meta | LiteralKind::Superfluous => {
                if is_js_identity_escape(c, in_class) {
                    Ok(())
                } else {
                    self.reject(
                        format!(
                            "`\\{c}` is not a valid escape in JavaScript's `u` mode; \
                             only ^$\\.*+?()[]{{}}|/ (and `-` inside a class) may be escaped"
                        ),
                        &lit.span,
                    )
                }
            }
            LiteralKind::Octal => self.reject("octal escapes are not supported", &lit.span),
            LiteralKind::HexFixed(HexLiteralKind::X | HexLiteralKind::UnicodeShort)
            | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort) => Ok(()),
            LiteralKind::HexBrace(HexLiteralKind::X) => {
                self.reject("\\x{...} is not portable; use \\xHH or \\u{...}", &lit.span)
            }
            LiteralKind::HexFixed(HexLiteralKind::UnicodeLong) | LiteralKind::HexBrace(HexLiteralKind::UnicodeLong) => {
                self.reject("\\U escapes are not portable; use \\u{...}", &lit.span)
            }
            LiteralKind::Special(SpecialLiteralKind::Bell) => self.reject("\\a is not portable; use \\x07", &lit.span),
            LiteralKind::Special(SpecialLiteralKind::Space) => {
                self.reject("an escaped space is not portable; write the space", &lit.span)
            }
            LiteralKind::Special(_) => Ok(()), // \t \n \v \f \r
        }
    }

    fn assertion(&self, a: &Assertion) -> Check {
        match a.kind {
            // Without multi-line mode both mean start/end of the whole input.
            AssertionKind::StartLine | AssertionKind::EndLine => Ok(()),
            AssertionKind::StartText | AssertionKind::EndText => {
                self.reject("\\A and \\z are not portable; use ^ and $", &a.span)
            }
            AssertionKind::WordBoundary | AssertionKind::NotWordBoundary => self.reject(
                "\\b and \\B are not portable (the engines disagree on word characters)",
                &a.span,
            ),
            _ => self.reject("word-boundary assertions are not portable", &a.span),
        }
    }

    fn unicode_class(&self, class: &ClassUnicode) -> Check {
        let name = match &class.kind {
            ClassUnicodeKind::Named(name) if GENERAL_CATEGORIES.contains(&name.as_str()) => name,
            ClassUnicodeKind::OneLetter(_) => {
                return self.reject("write Unicode classes with braces, e.g. \\p{L}", &class.span)
            }
            _ => {
                return self.reject(
                    "only general categories such as \\p{L}, \\p{Lu} or \\p{Nd} are portable",
                    &class.span,
                )
            }
        };
        // JS takes the complement first and case-folds while matching, so
        // /\P{Lu}/iu matches "A"; Rust folds first and never matches it.
        if class.negated && self.case_insensitive {
            return self.reject(
                format!("\\P{{{name}}} is not portable with case_insensitive; use [^\\p{{{name}}}]"),
                &class.span,
            );
        }
        Ok(())
    }

    fn perl_class(&mut self, class: &ClassPerl) -> Check {
        let replacement = match (&class.kind, class.negated) {
            (ClassPerlKind::Digit, false) => DIGIT,
            (ClassPerlKind::Digit, true) => NOT_DIGIT,
            (ClassPerlKind::Word, false) => WORD,
            (ClassPerlKind::Word, true) => NOT_WORD,
            (ClassPerlKind::Space, false) => SPACE,
            (ClassPerlKind::Space, true) => NOT_SPACE,
        };
        self.rewrite(&class.span, replacement);
        Ok(())
    }

    /// A bare `-` is a range operator in the middle of a JS class (`[+--]`
    /// is `+` to `-`), but a literal in Rust: allow it only first or last.
    fn bracket_class(&self, class: &ClassBracketed) -> Check {
        let items = match &class.kind {
            ClassSet::Item(ClassSetItem::Union(union)) => &union.items[..],
            ClassSet::Item(item) => std::slice::from_ref(item),
            ClassSet::BinaryOp(_) => return Ok(()), // rejected when visited
        };
        for (i, item) in items.iter().enumerate() {
            if let ClassSetItem::Literal(lit) = item {
                if is_bare_dash(lit) && i != 0 && i + 1 != items.len() {
                    return self.reject(
                        "a `-` inside a class must come first or last, or be escaped as \\-",
                        &lit.span,
                    );
                }
            }
        }
        Ok(())
    }

    fn class_item(&mut self, item: &ClassSetItem) -> Check {
        match item {
            ClassSetItem::Empty(_) | ClassSetItem::Union(_) => Ok(()),
            ClassSetItem::Literal(lit) => self.literal(lit, true),
            ClassSetItem::Range(range) => {
                for end in [&range.start, &range.end] {
                    if is_bare_dash(end) {
                        return self.reject("escape `-` as \\- in a range", &end.span);
                    }
                    self.literal(end, true)?;
                }
                Ok(())
            }
            ClassSetItem::Ascii(ascii) => self.reject(
                "POSIX classes like [[:alpha:]] are not portable; use ranges like [a-zA-Z]",
                &ascii.span,
            ),
            ClassSetItem::Unicode(class) => self.unicode_class(class),
            ClassSetItem::Perl(class) => self.perl_class(class),
            ClassSetItem::Bracketed(nested) => self.reject(
                "nested classes are not portable; escape a literal `[` as \\[",
                &nested.span,
            ),
        }
    }

    fn repetition(&self, rep: &Repetition) -> Check {
        match &*rep.ast {
            Ast::Assertion(_) => return self.reject("a quantifier cannot follow ^ or $", &rep.op.span),
            Ast::Repetition(_) => {
                return self.reject(
                    "a quantifier cannot follow another one; use a group, e.g. (?:a+)*",
                    &rep.op.span,
                )
            }
            _ => {}
        }
        if let RepetitionKind::Range(range) = &rep.op.kind {
            // Rust allows spaces in `{2, 3}`; JS `u` mode does not.
            let text = self.text(&rep.op.span);
            let text = text.strip_suffix('?').filter(|_| !rep.greedy).unwrap_or(text);
            if !is_strict_counted_repetition(text) {
                return self.reject(
                    "write counted repetitions without spaces, like {2} {2,} or {2,5}",
                    &rep.op.span,
                );
            }
            let (RepetitionRange::Exactly(n) | RepetitionRange::AtLeast(n) | RepetitionRange::Bounded(_, n)) = *range;
            if n > MAX_REPEAT {
                return self.reject(
                    format!("a counted repetition may not exceed {MAX_REPEAT}"),
                    &rep.op.span,
                );
            }
        }
        self.inside_loop(&rep.op.span)
    }

    /// JavaScript's and PHP's engines backtrack: inside a loop, a second
    /// quantifier or an alternation lets the same text be matched in many
    /// ways (`(a+)+`, `(a|a)*`), and a failing match then tries them all,
    /// doubling the time with each character. A loop over a piece without
    /// either has one way to match, so it stays cheap.
    fn inside_loop(&self, span: &Span) -> Check {
        if self.loops == 0 {
            return Ok(());
        }
        self.reject(
            "a repeated group cannot contain another quantifier or `|` \
             (backtracking engines could take exponential time); \
             use a class such as [ab]+ or spell the repetition out",
            span,
        )
    }

    fn group(&self, group: &Group) -> Check {
        if self.groups >= MAX_GROUP_DEPTH {
            return self.reject(format!("groups may nest at most {MAX_GROUP_DEPTH} deep"), &group.span);
        }
        match &group.kind {
            GroupKind::CaptureIndex(_) => Ok(()),
            GroupKind::CaptureName {
                starts_with_p: true, ..
            } => self.reject("(?P<name>...) is not portable; use (?<name>...)", &group.span),
            GroupKind::CaptureName { name, .. } if !is_portable_group_name(&name.name) => self.reject(
                "a group name must be ASCII letters, digits and `_`, not starting with a digit",
                &name.span,
            ),
            GroupKind::CaptureName { .. } => Ok(()),
            GroupKind::NonCapturing(flags) if flags.items.is_empty() => Ok(()),
            GroupKind::NonCapturing(flags) => self.reject(INLINE_FLAGS, &flags.span),
        }
    }
}

const INLINE_FLAGS: &str = "inline flags like (?i) are not portable; use case_insensitive";

impl ast::Visitor for Checker<'_> {
    type Output = Vec<Edit>;
    type Err = PortableRegexError;

    fn finish(self) -> Result<Vec<Edit>, PortableRegexError> {
        Ok(self.edits)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Check {
        match ast {
            Ast::Empty(_) | Ast::Concat(_) => Ok(()),
            Ast::Alternation(alt) => self.inside_loop(&alt.span),
            Ast::Flags(flags) => self.reject(INLINE_FLAGS, &flags.span),
            Ast::Literal(lit) => self.literal(lit, false),
            Ast::Dot(span) => {
                self.rewrite(span, DOT);
                Ok(())
            }
            Ast::Assertion(a) => self.assertion(a),
            Ast::ClassUnicode(class) => self.unicode_class(class),
            Ast::ClassPerl(class) => self.perl_class(class),
            Ast::ClassBracketed(class) => self.bracket_class(class),
            Ast::Repetition(rep) => {
                self.repetition(rep)?;
                self.loops += u32::from(repeats(rep));
                Ok(())
            }
            Ast::Group(group) => {
                self.group(group)?;
                self.groups += 1;
                Ok(())
            }
        }
    }

    fn visit_post(&mut self, ast: &Ast) -> Check {
        match ast {
            Ast::Repetition(rep) => self.loops -= u32::from(repeats(rep)),
            Ast::Group(_) => self.groups -= 1,
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Check {
        self.class_item(item)
    }

    fn visit_class_set_binary_op_pre(&mut self, op: &ClassSetBinaryOp) -> Check {
        self.reject(
            "class set operations (&&, --, ~~) are not portable; escape the repeated character",
            &op.span,
        )
    }
}

/// The identity escapes JS allows in `u` mode: syntax characters and `/`,
/// plus `-` inside a class.
fn is_js_identity_escape(c: char, in_class: bool) -> bool {
    "^$\\.*+?()[]{}|/".contains(c) || (in_class && c == '-')
}

fn is_bare_dash(lit: &Literal) -> bool {
    lit.c == '-' && lit.kind == LiteralKind::Verbatim
}

/// Can `rep` match its operand more than once? (`?`, `{0,1}` or `{1}` cannot.)
fn repeats(rep: &Repetition) -> bool {
    match &rep.op.kind {
        RepetitionKind::ZeroOrOne => false,
        RepetitionKind::ZeroOrMore | RepetitionKind::OneOrMore => true,
        RepetitionKind::Range(RepetitionRange::Exactly(n) | RepetitionRange::Bounded(_, n)) => *n > 1,
        RepetitionKind::Range(RepetitionRange::AtLeast(_)) => true,
    }
}

/// `{n}`, `{n,}` or `{n,m}` with ASCII digits and nothing else.
fn is_strict_counted_repetition(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return false;
    };
    let (min, max) = inner.split_once(',').unwrap_or((inner, "0"));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !min.is_empty() && digits(min) && digits(max)
}

/// A name both engines accept: JS wants an identifier, Rust also allows
/// `.`, `[` and `]`; the safe overlap is ASCII `[A-Za-z_][A-Za-z0-9_]*`.
fn is_portable_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
