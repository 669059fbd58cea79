"""Reference evaluator for Daylight flags, written from docs/flag-format.md.

This file is deliberately independent of the Rust and JavaScript SDKs: the
expected results in tests/vectors/*.json are computed here, so that every
SDK is checked against the contract and not against itself. It is plain
Python 3.11 with the standard library only, and it favours being obviously
right over being fast.

One piece is not computed in Python: the `matches` operator. Python's `re`
differs from the regex engines of Rust and JavaScript (for example `$`
matching before a trailing newline), so the evaluator takes a `regex_search`
callable. `generate.py` answers it by running node once, in batch, with
`new RegExp(pattern, case_insensitive ? "iu" : "u").test(value)`.

If this file and the doc disagree, the doc wins: fix this file.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any, Callable, Iterable

# ---------------------------------------------------------------------------
# murmur3_x86_32
#
# Written out from the reference algorithm (Austin Appleby's MurmurHash3,
# x86 32-bit variant). Cross-checked once, when the vectors were first
# generated, against the `mmh3` package from PyPI
# (mmh3.hash(data, 0, signed=False)) in a throwaway venv under /tmp: 100,000
# random byte strings of length 0..64, 100,000 "salt.key" strings, every
# triple in tests/vectors/bucketing/bucketing.json and every salt/value pair
# bucketed by a rollout case. All agreed. This script itself does not need
# mmh3.
# ---------------------------------------------------------------------------

_MASK32 = 0xFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK32


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """The 32-bit MurmurHash3 of `data`, as an unsigned integer."""
    c1 = 0xCC9E2D51
    c2 = 0x1B873593
    h = seed & _MASK32
    whole = len(data) - len(data) % 4

    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & _MASK32
        k = _rotl32(k, 15)
        k = (k * c2) & _MASK32
        h ^= k
        h = _rotl32(h, 13)
        h = (h * 5 + 0xE6546B64) & _MASK32

    tail = data[whole:]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & _MASK32
        k = _rotl32(k, 15)
        k = (k * c2) & _MASK32
        h ^= k

    h ^= len(data)
    # fmix32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    h ^= h >> 16
    return h


# ---------------------------------------------------------------------------
# JSON types. Python's bool is a subclass of int (True == 1) and 1 == 1.0;
# JSON has one number type and a separate boolean type. These helpers keep
# the JSON view: a bool is never a number, and 1 and 1.0 are the same number.
# ---------------------------------------------------------------------------


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_string(v: Any) -> bool:
    return isinstance(v, str)


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if is_bool(v):
        return "bool"
    if is_number(v):
        return "number"
    if is_string(v):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


# ---------------------------------------------------------------------------
# Bucketing
# ---------------------------------------------------------------------------

TWO_POW_53 = 2**53


def bucket_string(value: Any) -> str | None:
    """The string a value is bucketed by, or None when it counts as missing.

    A string is used as is. A number is used only when it is an integer
    within +-2^53 (inclusive), written in plain decimal; 1017.0 is the same
    JSON number as 1017, and -0.0 is 0. Anything else is missing.
    """
    if is_string(value):
        return value
    if is_number(value):
        if isinstance(value, float) and not value.is_integer():
            return None
        as_int = int(value)
        if -TWO_POW_53 <= as_int <= TWO_POW_53:
            return str(as_int)
        return None
    return None


def bucket(salt: str, value: Any) -> int | None:
    """murmur3_x86_32(utf8(salt + "." + value), 0) mod 100000; None if missing."""
    s = bucket_string(value)
    if s is None:
        return None
    return murmur3_x86_32((salt + "." + s).encode("utf-8"), 0) % 100000


# ---------------------------------------------------------------------------
# SemVer 2.0.0, strict. The regex is the one from semver.org, with \d written
# as [0-9] (Python's \d also matches non-ASCII digits) and used with
# fullmatch (Python's $ also matches before a trailing newline).
# ---------------------------------------------------------------------------

_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)


def parse_semver(s: str) -> tuple[int, int, int, list[str]] | None:
    m = _SEMVER.fullmatch(s)
    if m is None:
        return None
    prerelease = m.group(4).split(".") if m.group(4) is not None else []
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), prerelease


def _compare_prerelease_identifier(a: str, b: str) -> int:
    a_num, b_num = a.isdigit(), b.isdigit()  # identifiers are ASCII here
    if a_num and b_num:
        return (int(a) > int(b)) - (int(a) < int(b))
    if a_num:
        return -1  # numeric identifiers have lower precedence
    if b_num:
        return 1
    return (a > b) - (a < b)  # ASCII lexical order


def compare_semver(a: str, b: str) -> int | None:
    """SemVer precedence of a vs b (-1, 0, 1); None if either is invalid.
    Build metadata is ignored."""
    va, vb = parse_semver(a), parse_semver(b)
    if va is None or vb is None:
        return None
    if va[:3] != vb[:3]:
        return -1 if va[:3] < vb[:3] else 1
    pa, pb = va[3], vb[3]
    if not pa and not pb:
        return 0
    if not pa:
        return 1  # a release has higher precedence than its prereleases
    if not pb:
        return -1
    for x, y in zip(pa, pb):
        c = _compare_prerelease_identifier(x, y)
        if c != 0:
            return c
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


# ---------------------------------------------------------------------------
# Timestamps: RFC 3339 date-time strings, or numbers of Unix milliseconds.
# ---------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]"
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    days = 0
    for y in range(1970, year) if year >= 1970 else range(year, 1970):
        n = 366 if _days_in_month(y, 2) == 29 else 365
        days += n if year >= 1970 else -n
    for m in range(1, month):
        days += _days_in_month(year, m)
    return days + day - 1


def timestamp_ms(v: Any) -> int | None:
    """Whole Unix milliseconds of a timestamp value, or None if invalid.

    Sub-millisecond fractions are truncated: for a string the digits after
    the third fractional digit are dropped; a number is floored (the vectors
    only use non-negative fractional numbers, where floor and truncation
    agree).
    """
    if is_number(v):
        return int(v // 1)
    if not is_string(v):
        return None
    m = _RFC3339.fullmatch(v)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if not (hour <= 23 and minute <= 59 and second <= 59):
        return None
    millis = int((m.group(7) or "").ljust(3, "0")[:3])
    offset_minutes = 0
    zone = m.group(8)
    if zone not in ("Z", "z"):
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            return None
        offset_minutes = (oh * 60 + om) * (1 if zone[0] == "+" else -1)
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return (seconds - offset_minutes * 60) * 1000 + millis


# ---------------------------------------------------------------------------
# Clauses
# ---------------------------------------------------------------------------

KNOWN_OPS = {
    "in", "starts_with", "ends_with", "contains", "matches",
    "lt", "lte", "gt", "gte",
    "semver_eq", "semver_lt", "semver_gt",
    "before", "after", "in_segment",
}  # fmt: skip

RegexSearch = Callable[[str, bool, str], bool]


def context_key(context: dict) -> str | None:
    key = context.get("key")
    return key if is_string(key) else None


def context_values(context: dict, attribute: str) -> list | None:
    """The values a clause sees, or None when the attribute is missing.

    Strings, numbers and booleans are one value; a list of strings gives each
    element (an empty list is present, with no values). Anything else (null,
    an object, a list with a non-string element) is missing. The attribute
    `key` is the targeting key.
    """
    if attribute == "key":
        key = context_key(context)
        return None if key is None else [key]
    if attribute not in context:
        return None
    v = context[attribute]
    if is_string(v) or is_number(v) or is_bool(v):
        return [v]
    if isinstance(v, list) and all(is_string(x) for x in v):
        return list(v)
    return None


def _lower(s: str) -> str:
    return s.lower()  # Unicode lowercasing (not case folding): "ß" stays "ß"


def _compare_numbers(op: str, a: Any, b: Any) -> bool:
    if not (is_number(a) and is_number(b)):
        return False
    return {"lt": a < b, "lte": a <= b, "gt": a > b, "gte": a >= b}[op]


# ---------------------------------------------------------------------------
# Refusals at save and at load (only the clause rules the refusal vectors
# pin; every SDK validates more than this)
# ---------------------------------------------------------------------------


def clause_refusal(clause: dict, path: str) -> str | None:
    """The path of the field that makes `clause` (at `path`) refused, or None.

    A known operator needs at least one value; `before` / `after` values must
    be RFC 3339 strings or numbers that `timestamp_ms` accepts (second 60, a
    leap second, is not).
    """
    op, values = clause.get("op"), clause.get("values", [])
    if op not in KNOWN_OPS:
        return None
    if not values:
        return f"{path}.values"
    if op in ("before", "after"):
        for i, v in enumerate(values):
            if timestamp_ms(v) is None:
                return f"{path}.values[{i}]"
    return None


def refusal(ruleset: dict) -> str | None:
    """The path of the first refused clause in flag and segment rules, or None."""
    for kind in ("flags", "segments"):
        for key, doc in ruleset.get(kind, {}).items():
            for r, rule in enumerate(doc.get("rules", [])):
                for c, clause in enumerate(rule.get("clauses", [])):
                    path = clause_refusal(clause, f"{kind}.{key}.rules[{r}].clauses[{c}]")
                    if path is not None:
                        return path
    return None


class Evaluator:
    def __init__(self, ruleset: dict, regex_search: RegexSearch | None = None):
        self.flags: dict = ruleset.get("flags", {})
        self.segments: dict = ruleset.get("segments", {})
        self.regex_search = regex_search

    # -- one context value against one clause value --------------------------
    def _value_matches(self, op: str, cv: Any, v: Any, ci: bool) -> bool:
        if op == "in":
            if is_string(cv) and is_string(v):
                return _lower(cv) == _lower(v) if ci else cv == v
            if is_number(cv) and is_number(v):
                return cv == v  # 1 == 1.0, as in JSON
            if is_bool(cv) and is_bool(v):
                return cv == v
            return False
        if op in ("starts_with", "ends_with", "contains"):
            if not (is_string(cv) and is_string(v)):
                return False
            if ci:
                cv, v = _lower(cv), _lower(v)
            if op == "starts_with":
                return cv.startswith(v)
            if op == "ends_with":
                return cv.endswith(v)
            return v in cv
        if op == "matches":
            if not (is_string(cv) and is_string(v)):
                return False
            if self.regex_search is None:
                raise RuntimeError("the `matches` operator needs a regex_search")
            return self.regex_search(v, ci, cv)
        if op in ("lt", "lte", "gt", "gte"):
            return _compare_numbers(op, cv, v)
        if op in ("semver_eq", "semver_lt", "semver_gt"):
            if not (is_string(cv) and is_string(v)):
                return False
            c = compare_semver(cv, v)
            if c is None:
                return False
            return {"semver_eq": c == 0, "semver_lt": c < 0, "semver_gt": c > 0}[op]
        if op in ("before", "after"):
            a, b = timestamp_ms(cv), timestamp_ms(v)
            if a is None or b is None:
                return False
            return a < b if op == "before" else a > b
        raise AssertionError(op)

    def clause_matches(self, clause: dict, context: dict) -> bool:
        op = clause["op"]
        negate = bool(clause.get("negate", False))
        if op not in KNOWN_OPS:
            return False  # unknown operators never match, negated or not
        if op == "in_segment":
            # Looks at the targeting key whatever `attribute` says. A context
            # without a key is in no segment, and the clause is on a missing
            # attribute, so it does not match even when negated.
            if context_key(context) is None:
                return False
            found = any(self.in_segment(s, context) for s in clause["values"])
            return found != negate
        values = context_values(context, clause.get("attribute", ""))
        if values is None:
            return False  # missing attribute: never matches, even negated
        ci = bool(clause.get("case_insensitive", False))
        found = any(
            self._value_matches(op, cv, v, ci) for cv in values for v in clause["values"]
        )
        return found != negate

    def in_segment(self, segment_key: str, context: dict) -> bool:
        segment = self.segments.get(segment_key)
        key = context_key(context)
        if segment is None or key is None:
            return False
        if key in segment.get("included", []):
            return True
        if key in segment.get("excluded", []):
            return False
        return any(
            all(self.clause_matches(c, context) for c in rule["clauses"])
            for rule in segment.get("rules", [])
        )

    # -- serving ---------------------------------------------------------------
    def _serve(self, flag_key: str, serve: dict, context: dict) -> tuple[int, bool]:
        """(variation index, in_rollout) for a `serve` or `fallthrough`."""
        if "rollout" in serve and serve["rollout"] is not None:
            rollout = serve["rollout"]
            attribute = rollout.get("bucket_by") or "key"
            salt = rollout.get("salt")
            salt = flag_key if salt is None else salt
            raw = context_key(context) if attribute == "key" else context.get(attribute)
            b = bucket(salt, raw)
            present = b is not None
            if b is None:
                b = 0
            nonzero = sum(1 for wv in rollout["variations"] if wv["weight"] > 0)
            running = 0
            for wv in rollout["variations"]:
                running += wv["weight"]
                if running > b:
                    return wv["variation"], present and nonzero > 1
            raise ValueError(f"weights of {flag_key} do not reach bucket {b}")
        return serve["variation"], False

    def _evaluate(self, flag_key: str, context: dict) -> tuple[int | None, dict]:
        flag = self.flags[flag_key]
        off_variation = flag.get("off_variation")

        if not flag.get("on", False):
            return off_variation, {"kind": "OFF"}

        for prereq in flag.get("prerequisites", []):
            pkey = prereq["flag"]
            pflag = self.flags.get(pkey)
            ok = False
            if pflag is not None and pflag.get("on", False):
                pvariation, _ = self._evaluate(pkey, context)
                ok = pvariation == prereq["variation"]
            if not ok:
                return off_variation, {"kind": "PREREQUISITE_FAILED", "prerequisite_key": pkey}

        key = context_key(context)
        if key is not None:
            for target in flag.get("targets", []):
                if key in target["values"]:
                    return target["variation"], {"kind": "TARGET_MATCH"}

        for index, rule in enumerate(flag.get("rules", [])):
            if all(self.clause_matches(c, context) for c in rule["clauses"]):
                variation, in_rollout = self._serve(flag_key, rule["serve"], context)
                return variation, {
                    "kind": "RULE_MATCH",
                    "rule_index": index,
                    "rule_id": rule.get("id", ""),
                    "in_rollout": in_rollout,
                }

        variation, in_rollout = self._serve(flag_key, flag["fallthrough"], context)
        return variation, {"kind": "FALLTHROUGH", "in_rollout": in_rollout}

    # -- typed getters -----------------------------------------------------------
    @staticmethod
    def getter_accepts(getter: str, variations: list) -> bool:
        """Does a typed getter accept a flag with these variations?
        `json` accepts any flag (like LaunchDarkly's JSON variation)."""
        if getter == "json":
            return True
        check = {"bool": is_bool, "string": is_string, "number": is_number}[getter]
        return all(check(v) for v in variations)

    def evaluate(self, flag_key: str, context: dict, getter: str = "json", default: Any = None) -> dict:
        """The expected result of a typed getter: {value, variation, reason}."""
        if flag_key not in self.flags:
            return error(default, "FLAG_NOT_FOUND")
        flag = self.flags[flag_key]
        if not self.getter_accepts(getter, flag["variations"]):
            return error(default, "TYPE_MISMATCH")
        variation, reason = self._evaluate(flag_key, context)
        value = default if variation is None else flag["variations"][variation]
        return {"value": value, "variation": variation, "reason": reason}


def error(default: Any, kind: str) -> dict:
    return {"value": default, "variation": None, "reason": {"kind": "ERROR", "error_kind": kind}}


# ---------------------------------------------------------------------------
# `matches`, answered by node in one batch
# ---------------------------------------------------------------------------

_NODE_SCRIPT = r"""
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = input.map(([p, ci, s]) => new RegExp(p, ci ? "iu" : "u").test(s));
process.stdout.write(JSON.stringify(out));
"""


def node_regex_table(queries: Iterable[tuple[str, bool, str]]) -> dict:
    """{(pattern, case_insensitive, value): bool}, computed by one node run."""
    queries = sorted(set(queries))
    if not queries:
        return {}
    proc = subprocess.run(
        ["node", "-e", _NODE_SCRIPT],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(zip(queries, json.loads(proc.stdout)))
