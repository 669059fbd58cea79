"""Builds the shared test vectors in tests/vectors/ from the case descriptions
below. Expected results are computed by reference.py (never by an SDK).

    python3 tests/vectors/generate.py

Output is deterministic (sorted keys, 2-space indent, trailing newline).
Needs Python 3.11 and node (the `matches` operator is answered by node, in
one batch, with the JavaScript RegExp "u"/"iu" flags; see reference.py).

Every case also carries the outcome its author expected by reasoning from
docs/flag-format.md (`expect_match`, or a `hint` with some expected fields).
Generation fails when the reference disagrees with that, so a vector is only
written when two independent readings of the contract agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # keep tests/vectors free of __pycache__

from reference import Evaluator, bucket, node_regex_table, refusal, timestamp_ms  # noqa: E402

MISSING = object()  # a context attribute that is absent


# ---------------------------------------------------------------------------
# Document builders
# ---------------------------------------------------------------------------


def var(i: int) -> dict:
    return {"variation": i}


def rollout(weights: list[tuple[int, int]], bucket_by: str | None = None, salt: str | None = None) -> dict:
    assert sum(w for _, w in weights) == 100000, weights
    r: dict[str, Any] = {"variations": [{"variation": v, "weight": w} for v, w in weights]}
    if bucket_by is not None:
        r["bucket_by"] = bucket_by
    if salt is not None:
        r["salt"] = salt
    return {"rollout": r}


def clause(attribute: str, op: str, values: list, negate: bool = False, ci: bool = False) -> dict:
    c: dict[str, Any] = {"attribute": attribute, "op": op, "values": values}
    if negate:
        c["negate"] = True
    if ci:
        c["case_insensitive"] = True
    return c


def rule(rule_id: str | None, clauses: list, serve: dict) -> dict:
    r: dict[str, Any] = {"clauses": clauses, "serve": serve}
    if rule_id is not None:
        r["id"] = rule_id
    return r


def flag(
    variations: list,
    *,
    on: bool = True,
    off_variation: int | None = 0,
    prerequisites: list | None = None,
    targets: list | None = None,
    rules: list | None = None,
    fallthrough: dict | None = None,
    version: int = 1,
) -> dict:
    f: dict[str, Any] = {
        "variations": variations,
        "client_side": False,
        "on": on,
        "prerequisites": prerequisites or [],
        "targets": targets or [],
        "rules": rules or [],
        "fallthrough": fallthrough if fallthrough is not None else var(0),
        "version": version,
    }
    if off_variation is not None:
        f["off_variation"] = off_variation
    return f


def prereq(flag_key: str, variation: int) -> dict:
    return {"flag": flag_key, "variation": variation}


def target(variation: int, values: list[str]) -> dict:
    return {"variation": variation, "values": values}


def segment(included=(), excluded=(), rules=(), version: int = 1) -> dict:
    return {"included": list(included), "excluded": list(excluded), "rules": list(rules), "version": version}


def seg_rule(rule_id: str, clauses: list) -> dict:
    return {"id": rule_id, "clauses": clauses}


def show(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Vector files
# ---------------------------------------------------------------------------


class VectorFile:
    def __init__(self, filename: str, description: str):
        self.filename = filename
        self.description = description
        self.flags: dict[str, dict] = {}
        self.segments: dict[str, dict] = {}
        self.extra_ruleset_fields: dict[str, Any] = {}
        self.cases: list[dict] = []

    def add_flag(self, key: str, f: dict) -> None:
        assert key not in self.flags, key
        self.flags[key] = f

    def case(self, name: str, flag_key: str, context: dict, getter: str | None = "bool",
             default: Any = False, hint: dict | None = None) -> None:
        c: dict[str, Any] = {"name": name, "flag": flag_key, "context": context, "default": default}
        if getter is not None:
            c["type"] = getter
        self.cases.append({"case": c, "hint": hint or {}})

    def ruleset(self) -> dict:
        rs = {"environment": "test", "version": 1, "flags": self.flags, "segments": self.segments}
        rs.update(self.extra_ruleset_fields)
        return rs


def check_hint(name: str, expect: dict, hint: dict) -> None:
    """Fails when the reference disagrees with what the case's author expected."""
    reason = expect["reason"]
    for k, want in hint.items():
        if k == "match":  # single-rule operator flags
            got = reason["kind"] == "RULE_MATCH"
        elif k in ("value", "variation"):
            got = expect[k]
        else:
            got = reason.get(k, MISSING)
        same = got == want and type(got) is type(want) if k != "variation" else got == want
        if not same:
            raise SystemExit(f"hint mismatch in {name!r}: {k} expected {want!r}, reference says {got!r}\n{expect}")


def strings_in(v: Any):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings_in(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings_in(x)


def regex_queries(ruleset: dict, cases: list[dict]):
    patterns = set()
    rules = [r for f in ruleset["flags"].values() for r in f.get("rules", [])]
    rules += [r for s in ruleset["segments"].values() for r in s.get("rules", [])]
    for r in rules:
        for c in r["clauses"]:
            if c["op"] == "matches":
                for p in c["values"]:
                    patterns.add((p, bool(c.get("case_insensitive", False))))
    values = {s for c in cases for s in strings_in(c["context"])}
    return {(p, ci, s) for p, ci in patterns for s in values}


def dump(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_all(files: list[VectorFile], bucketing: list[dict]) -> None:
    # Serialize and parse back first: expectations are computed from exactly
    # what the files hold.
    docs = []
    for vf in files:
        names = [c["case"]["name"] for c in vf.cases]
        dupes = {n for n in names if names.count(n) > 1}
        assert not dupes, (vf.filename, dupes)
        doc = {"description": vf.description, "ruleset": vf.ruleset(), "cases": [c["case"] for c in vf.cases]}
        docs.append(json.loads(json.dumps(doc)))

    queries = set()
    for doc in docs:
        queries |= regex_queries(doc["ruleset"], doc["cases"])
    table = node_regex_table(queries)

    def regex_search(pattern: str, ci: bool, value: str) -> bool:
        return table[(pattern, ci, value)]

    for vf, doc in zip(files, docs):
        ev = Evaluator(doc["ruleset"], regex_search)
        for c, meta in zip(doc["cases"], vf.cases):
            expect = ev.evaluate(c["flag"], c["context"], c.get("type", "json"), c["default"])
            check_hint(c["name"], expect, meta["hint"])
            c["expect"] = expect
        (HERE / vf.filename).write_text(dump(doc), encoding="utf-8")
        print(f"{vf.filename}: {len(doc['cases'])} cases")

    parsed = json.loads(json.dumps(bucketing))
    for t in parsed:
        t["bucket"] = bucket(t["salt"], t["value"])
    (HERE / "bucketing").mkdir(exist_ok=True)
    (HERE / "bucketing" / "bucketing.json").write_text(dump(parsed), encoding="utf-8")
    print(f"bucketing/bucketing.json: {len(parsed)} triples")


def pick_keys(salt: str, want: list[bool], threshold: int, prefix: str = "player-") -> list[str]:
    """Deterministically picks keys whose bucket (salt, key) is >= threshold
    (True) or < threshold (False), one per entry of `want`, in order."""
    out, i = [], 0
    for w in want:
        while True:
            k = f"{prefix}{i}"
            i += 1
            if (bucket(salt, k) >= threshold) == w:
                out.append(k)
                break
    return out


# ---------------------------------------------------------------------------
# operators.json
# ---------------------------------------------------------------------------

T0 = "2026-11-22T10:00:00Z"
T0_MS = 1795341600000  # hand-checked: 20,779 days after 1970-01-01, +10 h
assert timestamp_ms(T0) == T0_MS
T1 = "2026-11-22T10:00:00.123+02:00"  # 08:00:00.123Z
T1_MS = T0_MS - 2 * 3600 * 1000 + 123
assert timestamp_ms(T1) == T1_MS


def clause_text(c: dict) -> str:
    text = f"{c['attribute']} {c['op']} {show(c['values'])}"
    if c.get("case_insensitive"):
        text += " (case_insensitive)"
    if c.get("negate"):
        text = f"NOT {text}"
    return text


def op_flag(vf: VectorFile, key: str, c: dict) -> None:
    vf.add_flag(key, flag([False, True], rules=[rule("r0", [c], var(1))], fallthrough=var(0)))


def op_cases(vf: VectorFile, key: str, c: dict, rows: list[tuple], base: dict | None = None) -> None:
    """rows: (attribute value or MISSING, expected match, why)."""
    op_flag(vf, key, c)
    attribute = c["attribute"]
    for value, expected, why in rows:
        ctx = dict(base if base is not None else {"key": "ctx-1"})
        if value is MISSING:
            desc = f"{attribute} missing"
        else:
            ctx[attribute] = value
            desc = f"{attribute}={show(value)}"
        outcome = "matches" if expected else "no match"
        name = f"{clause_text(c)} | {desc} -> {outcome}"
        if why:
            name += f" ({why})"
        vf.case(name, key, ctx, hint={"match": expected})


def op_context_cases(vf: VectorFile, key: str, c: dict, rows: list[tuple]) -> None:
    """rows: (whole context, expected match, why)."""
    op_flag(vf, key, c)
    for ctx, expected, why in rows:
        outcome = "matches" if expected else "no match"
        name = f"{clause_text(c)} | context {show(ctx)} -> {outcome}"
        if why:
            name += f" ({why})"
        vf.case(name, key, ctx, hint={"match": expected})


def operators() -> VectorFile:
    vf = VectorFile(
        "operators.json",
        "Every clause operator: matching, not matching, negated, on a missing attribute "
        "(never matches, even negated), with wrong-typed context values (strict JSON types), "
        "list attributes, case_insensitive (Unicode lowercasing), numbers, SemVer precedence, "
        "RFC 3339 / Unix-ms timestamps, in_segment, and an unknown operator. Each flag has one "
        "rule r0 with the clause under test serving true; otherwise it falls through to false.",
    )
    T, F = True, False

    # -- in: strings ------------------------------------------------------------
    op_cases(vf, "op-in-string", clause("game", "in", ["omaha", "holdem"]), [
        ("omaha", T, "equal to the first value"),
        ("holdem", T, "equal to the second value"),
        ("stud", F, "not in the list"),
        ("Omaha", F, "strings compare exactly without case_insensitive"),
        ("omaha ", F, "no trimming"),
        ("", F, "empty string"),
        (["stud", "holdem"], T, "a list attribute matches when one element matches"),
        (["stud", "razz"], F, "no element matches"),
        ([], F, "an empty list has no values"),
        (["omaha", 1], F, "a list with a non-string element counts as missing"),
        (None, F, "null counts as missing"),
        ({"name": "omaha"}, F, "an object counts as missing"),
        (MISSING, F, "missing attribute"),
        (13, F, "a number never equals a string"),
        (True, F, "a bool never equals a string"),
    ])
    op_cases(vf, "op-in-string-negated", clause("game", "in", ["omaha", "holdem"], negate=True), [
        ("omaha", F, "in the list, negated"),
        ("stud", T, "not in the list, negated"),
        ("Omaha", T, "case differs, negated"),
        (["stud", "omaha"], F, "one element matches, so the negation fails"),
        (["stud"], T, "no element matches, negated"),
        ([], T, "an empty list is present with no values: no match, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
        (None, F, "null is missing: never matches, even negated"),
        ({"a": 1}, F, "an object is missing: never matches, even negated"),
        (["a", 2], F, "a list with a non-string element is missing: never matches, even negated"),
        (13, T, "a present value of the wrong type does not match, so the negation matches"),
    ])
    op_cases(vf, "op-in-ci", clause("game", "in", ["OMAHA"], ci=True), [
        ("omaha", T, "lowercased forms are equal"),
        ("Omaha", T, "lowercased forms are equal"),
        ("OMAHA", T, "identical"),
        ("omahaa", F, "still whole-string equality"),
        (["x", "oMaHa"], T, "one list element matches case-insensitively"),
    ])
    op_cases(vf, "op-in-ci-nonascii", clause("city", "in", ["ömaha"], ci=True), [
        ("ÖMAHA", T, "Unicode lowercasing of Ö is ö"),
        ("Ömaha", T, "Unicode lowercasing"),
        ("omaha", F, "no accent folding: o is not ö"),
    ])
    op_cases(vf, "op-in-ci-clause-upper", clause("city", "in", ["ÖMAHA"], ci=True), [
        ("ömaha", T, "the clause value is lowercased too"),
    ])
    op_cases(vf, "op-in-nonascii-exact", clause("city", "in", ["ömaha"]), [
        ("ÖMAHA", F, "case-sensitive without case_insensitive"),
        ("ömaha", T, "identical"),
    ])
    op_cases(vf, "op-in-ci-final-sigma", clause("word", "in", ["οδος"], ci=True), [
        ("ΟΔΟΣ", T, "a word-final capital sigma lowercases to final sigma ς"),
        ("οδοσ", F, "σ and ς differ: lowercasing is not case folding"),
    ])
    op_cases(vf, "op-in-ci-sigma", clause("word", "in", ["Σ"], ci=True), [
        ("σ", T, "a lone capital sigma lowercases to σ"),
        ("Σ", T, "identical"),
        ("ς", F, "a lone capital sigma lowercases to σ, not ς"),
    ])
    op_cases(vf, "op-in-ci-eszett", clause("word", "in", ["STRASSE"], ci=True), [
        ("strasse", T, "lowercased forms are equal"),
        ("straße", F, "ß lowercases to itself; lowercasing is not case folding"),
    ])

    # -- in: numbers and booleans ---------------------------------------------------
    op_cases(vf, "op-in-number", clause("table_id", "in", [13, 1017]), [
        (13, T, "equal number"),
        (13.0, T, "13.0 is the same JSON number as 13"),
        (1017, T, "equal to the second value"),
        (14, F, "different number"),
        (-13, F, "sign matters"),
        ("13", F, "the string \"13\" is not the number 13"),
        (True, F, "a bool is never a number"),
        (["13"], F, "list elements are strings, never numbers"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-in-number-float-clause", clause("score", "in", [1.0]), [
        (1, T, "1 and 1.0 are the same JSON number"),
        (1.0, T, "identical"),
        (1.5, F, "different number"),
        (True, F, "true is not the number 1"),
    ])
    op_cases(vf, "op-in-number-one", clause("score", "in", [1]), [
        (True, F, "true is not the number 1"),
        (1.0, T, "1.0 and 1 are the same JSON number"),
    ])
    op_cases(vf, "op-in-number-negative", clause("delta", "in", [-5, -0.5]), [
        (-5, T, "negative integer"),
        (-5.0, T, "-5.0 is -5"),
        (5, F, "sign matters"),
        (-0.5, T, "negative fraction"),
    ])
    op_cases(vf, "op-in-number-zero", clause("delta", "in", [0]), [
        (0, T, "equal"),
        (-0.0, T, "-0.0 equals 0"),
        (False, F, "false is not the number 0"),
    ])
    op_cases(vf, "op-in-number-negated", clause("table_id", "in", [13], negate=True), [
        (13, F, "equal, negated"),
        (13.0, F, "13.0 is 13, negated"),
        ("13", T, "a present string never equals a number, so the negation matches"),
        (14, T, "different, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-in-bool", clause("beta", "in", [True]), [
        (True, T, "equal"),
        (False, F, "different bool"),
        ("true", F, "the string \"true\" is not the bool true"),
        (1, F, "the number 1 is not true"),
        (["true"], F, "list elements are strings"),
        (None, F, "null counts as missing"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-in-bool-negated", clause("beta", "in", [True], negate=True), [
        (True, F, "equal, negated"),
        (False, T, "different, negated"),
        ("true", T, "a present string never equals a bool, so the negation matches"),
        (1, T, "a present number never equals a bool, so the negation matches"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-in-bool-false", clause("beta", "in", [False]), [
        (False, T, "equal"),
        (0, F, "the number 0 is not false"),
        ("", F, "the empty string is not false"),
        (None, F, "null is missing, not false"),
    ])
    op_context_cases(vf, "op-in-key", clause("key", "in", ["u-1", "u-2"]), [
        ({"key": "u-1"}, T, "the attribute `key` is the targeting key"),
        ({"key": "u-3"}, F, "other key"),
        ({"key": "U-1"}, F, "keys compare exactly"),
        ({"name": "u-1"}, F, "a context without a key: the attribute is missing"),
        ({}, F, "empty context"),
    ])
    op_context_cases(vf, "op-in-key-negated", clause("key", "in", ["u-1"], negate=True), [
        ({"key": "u-1"}, F, "equal, negated"),
        ({"key": "u-3"}, T, "different, negated"),
        ({"game": "omaha"}, F, "a context without a key: missing never matches, even negated"),
    ])

    # -- starts_with / ends_with / contains -------------------------------------------
    op_cases(vf, "op-starts-with", clause("email", "starts_with", ["admin@", "root@"]), [
        ("admin@example.com", T, "has the first prefix"),
        ("root@example.com", T, "has the second prefix"),
        ("user@example.com", F, "no prefix"),
        ("ADMIN@example.com", F, "case-sensitive without case_insensitive"),
        ("xadmin@example.com", F, "prefix must be at the start"),
        ("admin@", T, "a string is its own prefix"),
        ("admin", F, "shorter than the prefix"),
        (["user@x.org", "root@x.org"] , T, "one list element matches"),
        (13, F, "a number is not a string"),
        (None, F, "null counts as missing"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-starts-with-negated", clause("email", "starts_with", ["admin@"], negate=True), [
        ("admin@example.com", F, "has the prefix, negated"),
        ("user@example.com", T, "no prefix, negated"),
        (7, T, "a present number is not a string, so the negation matches"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-starts-with-ci", clause("email", "starts_with", ["Admin@"], ci=True), [
        ("ADMIN@example.com", T, "lowercased prefix"),
        ("admin@example.com", T, "lowercased prefix"),
        ("user@example.com", F, "no prefix"),
    ])
    op_cases(vf, "op-starts-with-ci-nonascii", clause("city", "starts_with", ["öm"], ci=True), [
        ("ÖMAHA", T, "Unicode lowercasing of Ö"),
        ("OMAHA", F, "no accent folding"),
    ])
    op_cases(vf, "op-starts-with-nonascii-exact", clause("city", "starts_with", ["öm"]), [
        ("ÖMAHA", F, "case-sensitive without case_insensitive"),
        ("ömaha", T, "exact prefix"),
    ])
    op_cases(vf, "op-starts-with-empty", clause("name", "starts_with", [""]), [
        ("anything", T, "every string starts with the empty string"),
        ("", T, "the empty string starts with itself"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-ends-with", clause("email", "ends_with", ["@example.com"]), [
        ("bob@example.com", T, "has the suffix"),
        ("bob@example.com.au", F, "suffix must be at the end"),
        ("bob@EXAMPLE.com", F, "case-sensitive without case_insensitive"),
        ("@example.com", T, "a string is its own suffix"),
        ("example.com", F, "shorter than the suffix"),
        (["x@y.org", "a@example.com"], T, "one list element matches"),
        (True, F, "a bool is not a string"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-ends-with-negated", clause("email", "ends_with", ["@example.com"], negate=True), [
        ("bob@example.com", F, "has the suffix, negated"),
        ("bob@other.org", T, "no suffix, negated"),
        (None, F, "null is missing: never matches, even negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-ends-with-ci", clause("email", "ends_with", ["@Example.COM"], ci=True), [
        ("bob@EXAMPLE.com", T, "lowercased suffix"),
        ("bob@example.org", F, "no suffix"),
    ])
    op_cases(vf, "op-ends-with-ci-nonascii", clause("city", "ends_with", ["ömaha"], ci=True), [
        ("NEW-ÖMAHA", T, "Unicode lowercasing of Ö"),
        ("new-omaha", F, "no accent folding"),
    ])
    op_cases(vf, "op-ends-with-ci-final-sigma", clause("word", "ends_with", ["ς"], ci=True), [
        ("ΟΔΟΣ", T, "a word-final capital sigma lowercases to ς"),
    ])
    op_cases(vf, "op-ends-with-ci-sigma", clause("word", "ends_with", ["σ"], ci=True), [
        ("ΟΔΟΣ", F, "a word-final capital sigma lowercases to ς, not σ"),
        ("ΟΔΟσ", T, "a lowercase σ stays σ"),
    ])
    op_cases(vf, "op-contains", clause("name", "contains", ["bot"]), [
        ("robot", T, "substring at the end"),
        ("botnet", T, "substring at the start"),
        ("bot", T, "the whole string"),
        ("b-o-t", F, "not a substring"),
        ("ROBOT", F, "case-sensitive without case_insensitive"),
        (["human", "chatbot"], T, "one list element matches"),
        (42, F, "a number is not a string"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-contains-negated", clause("name", "contains", ["bot"], negate=True), [
        ("robot", F, "contains, negated"),
        ("human", T, "does not contain, negated"),
        ([], T, "an empty list is present with no values: no match, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-contains-ci", clause("name", "contains", ["BOT"], ci=True), [
        ("RoBoT", T, "lowercased substring"),
        ("robot", T, "lowercased substring"),
        ("human", F, "no substring"),
    ])
    op_cases(vf, "op-contains-ci-nonascii", clause("city", "contains", ["ÖMA"], ci=True), [
        ("new ömaha", T, "Unicode lowercasing"),
        ("NEW ÖMAHA", T, "Unicode lowercasing"),
        ("new omaha", F, "no accent folding"),
    ])
    op_cases(vf, "op-contains-any", clause("name", "contains", ["bot", "crawler"]), [
        ("webcrawler", T, "contains the second value"),
        ("spider", F, "contains neither"),
    ])

    # -- matches ----------------------------------------------------------------------
    email_re = "^[a-z]+@example[.]com$"
    op_cases(vf, "op-matches-email", clause("email", "matches", [email_re]), [
        ("bob@example.com", T, "whole-string match"),
        ("Bob@example.com", F, "case-sensitive without case_insensitive"),
        ("bob@example.com.au", F, "$ anchors at the end"),
        ("bob@exampleXcom", F, "[.] is a literal dot"),
        (["x", "amy@example.com"], T, "one list element matches"),
        (13, F, "a number is not a string"),
        (None, F, "null counts as missing"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-matches-email-ci", clause("email", "matches", [email_re], ci=True), [
        ("BOB@EXAMPLE.COM", T, "case-insensitive regex"),
        ("Bob@Example.com", T, "case-insensitive regex"),
        ("bob@example.org", F, "different domain"),
    ])
    op_cases(vf, "op-matches-negated", clause("email", "matches", [email_re], negate=True), [
        ("bob@example.com", F, "matches, negated"),
        ("bob@example.org", T, "no match, negated"),
        (13, T, "a present number is not a string, so the negation matches"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-matches-anywhere", clause("game", "matches", ["omaha|holdem"]), [
        ("pot-limit omaha", T, "unanchored: a match anywhere counts"),
        ("texas holdem hi", T, "second alternative, in the middle"),
        ("stud", F, "neither alternative"),
        ("OMAHA", F, "case-sensitive without case_insensitive"),
    ])
    op_cases(vf, "op-matches-groups", clause("user", "matches", ["^(?:u|user)-[0-9]{2,4}$"]), [
        ("u-42", T, "first alternative, two digits"),
        ("user-1000", T, "second alternative, four digits"),
        ("user-12345", F, "{2,4} allows at most four digits"),
        ("u-4", F, "{2,4} needs at least two digits"),
        ("usr-42", F, "neither alternative"),
    ])
    op_cases(vf, "op-matches-optional", clause("word", "matches", ["^colou?r$"]), [
        ("color", T, "optional u absent"),
        ("colour", T, "optional u present"),
        ("colouur", F, "? allows at most one"),
    ])
    op_cases(vf, "op-matches-dot", clause("word", "matches", ["^.$"]), [
        ("😀", T, ". matches one code point, even outside the BMP"),
        ("é", T, "one code point"),
        ("ab", F, "two characters"),
        ("", F, "empty string"),
    ])
    op_cases(vf, "op-matches-repetition", clause("word", "matches", ["^ba+(na)*$"]), [
        ("ba", T, "+ one, * zero"),
        ("baaanana", T, "+ three, * two"),
        ("b", F, "+ needs at least one"),
        ("banan", F, "trailing n"),
    ])
    op_cases(vf, "op-matches-group-repeat", clause("word", "matches", ["^(ab)+$"]), [
        ("ababab", T, "group repeated"),
        ("aba", F, "incomplete repetition"),
    ])
    op_cases(vf, "op-matches-ci-nonascii", clause("city", "matches", ["^ömaha$"], ci=True), [
        ("ÖMAHA", T, "case-insensitive regex is Unicode-aware"),
        ("omaha", F, "no accent folding"),
    ])
    op_cases(vf, "op-matches-any-pattern", clause("game", "matches", ["^omaha$", "^stud$"]), [
        ("stud", T, "the second pattern matches"),
        ("razz", F, "no pattern matches"),
    ])
    op_cases(vf, "op-matches-list", clause("groups", "matches", ["^st"]), [
        (["beta", "staff"], T, "one list element matches"),
        (["beta"], F, "no element matches"),
        ([], F, "an empty list has no values"),
    ])

    # -- numeric comparisons -------------------------------------------------------------
    op_cases(vf, "op-lt", clause("age", "lt", [18]), [
        (17, T, "17 < 18"),
        (18, F, "not less than itself"),
        (19, F, "greater"),
        (17.5, T, "fractions compare numerically"),
        (-1, T, "negative numbers"),
        (18.0, F, "18.0 is 18"),
        ("17", F, "the string \"17\" is not a number"),
        (True, F, "a bool is not a number"),
        (["17"], F, "list elements are strings"),
        (None, F, "null counts as missing"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-lt-negated", clause("age", "lt", [18], negate=True), [
        (17, F, "less, negated"),
        (18, T, "not less, negated"),
        ("17", T, "a present string is not a number, so the negation matches"),
        (None, F, "null is missing: never matches, even negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-lte", clause("age", "lte", [18]), [
        (18, T, "equal"),
        (18.0, T, "18.0 is 18"),
        (18.5, F, "greater"),
        (-100, T, "negative"),
    ])
    op_cases(vf, "op-gt", clause("score", "gt", [1.5]), [
        (2, T, "2 > 1.5"),
        (1.5, F, "not greater than itself"),
        (1.75, T, "fraction"),
        (1, F, "less"),
        (False, F, "a bool is not a number"),
    ])
    op_cases(vf, "op-gte", clause("delta", "gte", [-5]), [
        (-5, T, "equal"),
        (-5.0, T, "-5.0 is -5"),
        (-4.5, T, "greater"),
        (-6, F, "less"),
        (-5.5, F, "less"),
        ("-5", F, "the string \"-5\" is not a number"),
    ])
    op_cases(vf, "op-gte-one", clause("score", "gte", [1.0]), [
        (1, T, "1 and 1.0 are the same number"),
        (0.999, F, "less"),
        (True, F, "true is not the number 1"),
    ])
    op_cases(vf, "op-gte-negated", clause("delta", "gte", [-5], negate=True), [
        (-6, T, "not >=, negated"),
        (-5, F, ">=, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-lt-any", clause("age", "lt", [10, 20]), [
        (15, T, "less than one of the values"),
        (25, F, "less than none"),
    ])

    # -- semver ---------------------------------------------------------------------------
    op_cases(vf, "op-semver-eq", clause("appVersion", "semver_eq", ["1.0.3"]), [
        ("1.0.3", T, "equal"),
        ("1.0.3+build.5", T, "build metadata is ignored"),
        ("1.0.4", F, "different patch"),
        ("1.0.3-rc.1", F, "a prerelease is not the release"),
        ("v1.0.3", F, "invalid: no v prefix"),
        ("1.0", F, "invalid: missing patch"),
        ("01.0.3", F, "invalid: leading zero"),
        ("1.0.3 ", F, "invalid: trailing space"),
        ("1.0.3\n", F, "invalid: trailing newline"),
        ("１.０.３", F, "invalid: fullwidth digits are not ASCII digits"),
        (103, F, "a number is not a version string"),
        (["0.9.0", "1.0.3"], T, "one list element matches"),
        (None, F, "null counts as missing"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-semver-eq-negated", clause("appVersion", "semver_eq", ["1.0.3"], negate=True), [
        ("1.0.3", F, "equal, negated"),
        ("1.0.4", T, "different, negated"),
        ("1.0", T, "present but invalid semver does not match, so the negation matches"),
        ("banana", T, "present but invalid semver, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-semver-eq-build", clause("appVersion", "semver_eq", ["2.0.0+abc"]), [
        ("2.0.0+xyz", T, "different build metadata is still equal"),
        ("2.0.0", T, "build metadata is ignored"),
    ])
    op_cases(vf, "op-semver-lt", clause("appVersion", "semver_lt", ["1.0.0"]), [
        ("1.0.0-alpha", T, "a prerelease precedes its release"),
        ("1.0.0-rc.1", T, "a prerelease precedes its release"),
        ("0.9.9", T, "lower minor"),
        ("0.10.0", T, "0.10.0 < 1.0.0"),
        ("1.0.0", F, "equal"),
        ("1.0.0+5", F, "equal: build metadata is ignored"),
        ("1.0.1", F, "greater"),
    ])
    op_cases(vf, "op-semver-lt-negated", clause("appVersion", "semver_lt", ["2.0.0"], negate=True), [
        ("1.0.0", F, "less, negated"),
        ("2.0.0", T, "not less, negated"),
        ("2.0", T, "present but invalid semver, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-semver-lt-partial", clause("appVersion", "semver_lt", ["1.3.0"]), [
        ("1.2", F, "invalid: a version needs all three parts, so 1.2 is not read as 1.2.0"),
        ("1.2.0", T, "the full version is less"),
    ])
    op_cases(vf, "op-semver-lt-partial-negated", clause("appVersion", "semver_lt", ["1.3.0"], negate=True), [
        ("1.2", T, "present but invalid semver does not match, so the negation matches"),
    ])
    op_cases(vf, "op-semver-gt-minor", clause("appVersion", "semver_gt", ["1.9.0"]), [
        ("1.10.0", T, "numeric comparison, not lexical"),
        ("1.9.1", T, "greater patch"),
        ("1.8.99", F, "lower minor"),
    ])
    op_cases(vf, "op-semver-gt-major", clause("appVersion", "semver_gt", ["9.0.0"]), [
        ("10.0.0", T, "numeric comparison, not lexical"),
        ("9.0.0", F, "equal"),
    ])
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    for lo, hi in zip(chain, chain[1:]):
        op_cases(vf, f"op-semver-lt-{hi.replace('1.0.0-', '').replace('.', '-')}",
                 clause("appVersion", "semver_lt", [hi]), [
            (lo, T, "SemVer 2.0.0 precedence example"),
            (hi, F, "equal, in the precedence example"),
        ])
        op_cases(vf, f"op-semver-gt-{lo.replace('1.0.0-', '').replace('.', '-')}",
                 clause("appVersion", "semver_gt", [lo]), [
            (hi, T, "SemVer 2.0.0 precedence example"),
        ])
    op_cases(vf, "op-semver-lt-alnum", clause("appVersion", "semver_lt", ["1.0.0-a"]), [
        ("1.0.0-1", T, "numeric identifiers precede alphanumeric ones"),
        ("1.0.0-b", F, "b > a"),
        ("1.0.0-A", T, "ASCII order: uppercase precedes lowercase"),
    ])
    op_cases(vf, "op-semver-gt-zero", clause("appVersion", "semver_gt", ["0.0.0"]), [
        ("0.0.1", T, "valid and greater"),
        ("1.0.0-alpha", T, "a prerelease of 1.0.0 is above 0.0.0"),
        ("1.0.0-0A.is.legal", T, "valid per semver.org"),
        ("1.0.0-x-y-z.--", T, "valid per semver.org"),
        ("1.0.0-", F, "invalid: empty prerelease"),
        ("1.0.0-01", F, "invalid: leading zero in a numeric prerelease identifier"),
        ("1.0.0-alpha..1", F, "invalid: empty identifier"),
        ("1.0.0+", F, "invalid: empty build metadata"),
        ("1.2.3.4", F, "invalid: four parts"),
        ("1.2.3-beta!", F, "invalid character"),
    ])

    # -- timestamps ------------------------------------------------------------------------
    op_cases(vf, "op-before", clause("signup", "before", [T0]), [
        ("2026-11-22T09:59:59Z", T, "one second earlier"),
        (T0, F, "equal is not before"),
        ("2026-11-22T09:59:59.999Z", T, "one millisecond earlier"),
        ("2026-11-22T09:59:59.9999999Z", T, "sub-millisecond digits are truncated to .999"),
        ("2026-11-22T11:59:59+02:00", T, "09:59:59Z with an offset"),
        ("2026-11-22T12:00:00+02:00", F, "the same instant with an offset"),
        ("2026-11-22T09:30:00-00:30", F, "a negative offset: the same instant"),
        ("2026-11-22T09:59:00-00:00", T, "-00:00 offset"),
        ("2026-11-22t09:00:00z", T, "lowercase t and z are accepted"),
        ("2024-02-29T00:00:00Z", T, "a leap day"),
        ("1970-01-01T00:00:00Z", T, "the epoch"),
        ("2026-11-22 09:00:00Z", F, "invalid: space instead of T"),
        ("2026-11-22T09:00Z", F, "invalid: seconds are required"),
        ("2026-11-22", F, "invalid: date only"),
        ("2026-11-22T09:00:00", F, "invalid: no offset"),
        ("2026-11-22T09:00:00+0200", F, "invalid: offset without colon"),
        ("2026-02-30T00:00:00Z", F, "invalid: no February 30"),
        ("2026-02-29T00:00:00Z", F, "invalid: 2026 is not a leap year"),
        ("2026-11-22T24:00:00Z", F, "invalid: hour 24"),
        ("2016-12-31T23:59:60Z", F, "invalid: second 60 (a leap second) is refused"),
        ("2026-11-22T09:00:00.Z", F, "invalid: empty fraction"),
        (T0_MS - 1, T, "a number of Unix ms, one earlier"),
        (T0_MS, F, "a number of Unix ms, equal"),
        (0, T, "Unix ms 0 is the epoch"),
        (True, F, "a bool is not a timestamp"),
        (["2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"], T, "one list element is before"),
        (None, F, "null counts as missing"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-before-negated", clause("signup", "before", [T0], negate=True), [
        ("2026-11-22T09:00:00Z", F, "before, negated"),
        (T0, T, "equal, negated"),
        ("not a date", T, "a present invalid timestamp does not match, so the negation matches"),
        ("2026-02-30T00:00:00Z", T, "a present invalid date, negated"),
        ("2016-12-31T23:59:60Z", T, "a present leap second (invalid), negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])
    op_cases(vf, "op-after-offset-fraction", clause("signup", "after", [T1]), [
        ("2026-11-22T08:00:00.124Z", T, "one millisecond after 08:00:00.123Z"),
        ("2026-11-22T08:00:00.123Z", F, "the same instant in UTC"),
        ("2026-11-22T08:00:00.1239Z", F, "truncated to .123: the same millisecond"),
        (T1, F, "identical"),
        ("2026-11-22T03:00:00.124-05:00", T, "08:00:00.124Z with a negative offset"),
        ("2026-11-22T08:00:00.12Z", F, ".12 is 120 ms"),
        (T1_MS + 1, T, "a number of Unix ms, one after"),
        (T1_MS, F, "a number of Unix ms, equal"),
        (T1_MS + 0.9, F, "a fractional number is truncated to whole ms: equal"),
        (T1_MS + 1.5, T, "truncated to one ms after"),
    ])
    op_cases(vf, "op-after-number-clause", clause("signup", "after", [T0_MS]), [
        ("2026-11-22T10:00:00.001Z", T, "a string compared with a number clause value"),
        (T0, F, "equal"),
        ("2026-11-22T10:00:00.5Z", T, ".5 is 500 ms"),
        ("2026-11-22T10:00:00.0005Z", F, "0.5 ms is truncated to 0"),
        (T0_MS + 1, T, "number against number"),
    ])
    op_cases(vf, "op-after-negated", clause("signup", "after", [T0], negate=True), [
        ("2026-11-22T10:00:00.001Z", F, "after, negated"),
        ("garbage", T, "a present invalid timestamp, negated"),
        (False, T, "a present bool is not a timestamp, negated"),
        (MISSING, F, "a missing attribute never matches, even negated"),
    ])

    # -- in_segment -------------------------------------------------------------------------
    vf.segments["op-seg"] = segment(included=["u-in"], rules=[seg_rule("au", [clause("country", "in", ["AU"])])])
    op_context_cases(vf, "op-in-segment", clause("key", "in_segment", ["op-seg"]), [
        ({"key": "u-in"}, T, "included"),
        ({"key": "u-out"}, F, "not included, no segment rule matches"),
        ({"key": "u-out", "country": "AU"}, T, "a segment rule matches"),
        ({"country": "AU"}, F, "a context without a key is in no segment"),
        ({}, F, "empty context"),
    ])
    op_context_cases(vf, "op-in-segment-negated", clause("key", "in_segment", ["op-seg"], negate=True), [
        ({"key": "u-in"}, F, "in the segment, negated"),
        ({"key": "u-out"}, T, "not in the segment, negated"),
        ({"country": "AU"}, F, "no key: the clause is on a missing attribute, never matches even negated"),
        ({}, F, "no key, negated"),
    ])
    op_context_cases(vf, "op-in-segment-unknown", clause("key", "in_segment", ["no-such-segment"]), [
        ({"key": "u-in"}, F, "an unknown segment contains nobody"),
    ])
    op_context_cases(vf, "op-in-segment-unknown-negated",
                     clause("key", "in_segment", ["no-such-segment"], negate=True), [
        ({"key": "u-in"}, T, "not in an unknown segment, negated"),
    ])
    op_context_cases(vf, "op-in-segment-any", clause("key", "in_segment", ["no-such-segment", "op-seg"]), [
        ({"key": "u-in"}, T, "in any one of the listed segments"),
    ])
    op_context_cases(vf, "op-in-segment-attribute-ignored", clause("country", "in_segment", ["op-seg"]), [
        ({"key": "u-in"}, T, "in_segment ignores `attribute` and looks at the targeting key"),
    ])

    # -- unknown operator -----------------------------------------------------------------------
    op_cases(vf, "op-unknown", clause("game", "future_op", ["omaha"]), [
        ("omaha", F, "an unknown operator never matches"),
        ("stud", F, "an unknown operator never matches"),
        (MISSING, F, "missing attribute"),
    ])
    op_cases(vf, "op-unknown-negated", clause("game", "future_op", ["omaha"], negate=True), [
        ("omaha", F, "an unknown operator never matches, even negated"),
        ("stud", F, "an unknown operator never matches, even negated"),
        (MISSING, F, "missing attribute, negated"),
    ])
    op_cases(vf, "op-unknown-exotic-values",
             clause("location", "geo_within", [{"lat": -33.87, "lon": 151.21, "radius_km": 5}], negate=True), [
        ("Sydney", F, "an unknown operator with object values still parses and never matches"),
    ])
    return vf


# ---------------------------------------------------------------------------
# targets-and-rules.json
# ---------------------------------------------------------------------------


def targets_and_rules() -> VectorFile:
    vf = VectorFile(
        "targets-and-rules.json",
        "Individual targets (hit, miss, a key under two targets gets the first, no key), rules in "
        "order (the first rule whose clauses all match serves; rule_index and rule_id in the reason), "
        "multiple clauses, unknown operators inside rules, fixed fallthrough, and a rule serving a rollout.",
    )
    vf.add_flag("tr-colors", flag(
        ["red", "green", "blue"],
        targets=[target(1, ["alice", "bob"]), target(2, ["bob", "carol"])],
        rules=[rule("omaha-players", [clause("game", "in", ["omaha"])], var(2))],
        fallthrough=var(0),
    ))
    C = "tr-colors"
    S = "string"
    D = "default-color"
    vf.case("target hit: alice is targeted to green", C, {"key": "alice"}, S, D,
            {"value": "green", "kind": "TARGET_MATCH"})
    vf.case("key listed under two targets: bob gets the first listed (green)", C, {"key": "bob"}, S, D,
            {"value": "green", "kind": "TARGET_MATCH"})
    vf.case("target hit on the second target: carol gets blue", C, {"key": "carol"}, S, D,
            {"value": "blue", "kind": "TARGET_MATCH"})
    vf.case("targets come before rules: carol playing omaha still gets her target", C,
            {"key": "carol", "game": "omaha"}, S, D, {"value": "blue", "kind": "TARGET_MATCH"})
    vf.case("target miss, rule hit: dave playing omaha gets the rule", C, {"key": "dave", "game": "omaha"}, S, D,
            {"value": "blue", "kind": "RULE_MATCH", "rule_index": 0, "rule_id": "omaha-players"})
    vf.case("target miss, no rule: dave falls through to red", C, {"key": "dave"}, S, D,
            {"value": "red", "kind": "FALLTHROUGH", "in_rollout": False})
    vf.case("target keys compare exactly: Alice is not alice", C, {"key": "Alice"}, S, D,
            {"value": "red", "kind": "FALLTHROUGH"})
    vf.case("context without key matches no target but can match a rule", C, {"game": "omaha"}, S, D,
            {"value": "blue", "kind": "RULE_MATCH"})
    vf.case("context without key and without attributes falls through", C, {}, S, D,
            {"value": "red", "kind": "FALLTHROUGH"})
    vf.case("an attribute named like a target key is not the key", C, {"name": "alice"}, S, D,
            {"kind": "FALLTHROUGH"})

    vf.add_flag("tr-empty-key", flag(["other", "empty"], targets=[target(1, [""])], fallthrough=var(0)))
    vf.case("an empty-string key is a key: it matches a target listing \"\"", "tr-empty-key", {"key": ""}, S, D,
            {"value": "empty", "kind": "TARGET_MATCH"})
    vf.case("a context without key does not match a target listing \"\"", "tr-empty-key", {}, S, D,
            {"value": "other", "kind": "FALLTHROUGH"})
    vf.case("a key of one space is not the empty key", "tr-empty-key", {"key": " "}, S, D,
            {"value": "other", "kind": "FALLTHROUGH"})

    vf.add_flag("tr-target-order", flag(
        ["a", "b", "c"], targets=[target(2, ["x"]), target(1, ["x", "y"])], fallthrough=var(0)))
    vf.case("first listed target wins, not the lowest variation index: x gets c", "tr-target-order",
            {"key": "x"}, S, D, {"value": "c", "variation": 2, "kind": "TARGET_MATCH"})
    vf.case("second target: y gets b", "tr-target-order", {"key": "y"}, S, D,
            {"value": "b", "kind": "TARGET_MATCH"})

    vf.add_flag("tr-rule-order", flag(
        ["none", "game", "country", "both"],
        rules=[
            rule("game-omaha", [clause("game", "in", ["omaha"])], var(1)),
            rule("country-au", [clause("country", "in", ["AU"])], var(2)),
            rule("both", [clause("game", "in", ["omaha"]), clause("country", "in", ["AU"])], var(3)),
        ],
        fallthrough=var(0),
    ))
    R = "tr-rule-order"
    vf.case("first matching rule wins even when a later, more specific rule also matches", R,
            {"key": "k1", "game": "omaha", "country": "AU"}, S, D,
            {"value": "game", "kind": "RULE_MATCH", "rule_index": 0, "rule_id": "game-omaha"})
    vf.case("second rule matches when the first does not: rule_index 1", R,
            {"key": "k1", "country": "AU"}, S, D,
            {"value": "country", "kind": "RULE_MATCH", "rule_index": 1, "rule_id": "country-au"})
    vf.case("first rule alone", R, {"key": "k1", "game": "omaha"}, S, D,
            {"value": "game", "rule_index": 0})
    vf.case("no rule matches: fallthrough", R, {"key": "k1", "country": "NZ"}, S, D,
            {"value": "none", "kind": "FALLTHROUGH"})

    vf.add_flag("tr-multi-clause", flag(
        ["none", "holdem", "holdem-nz"],
        rules=[
            rule("holdem-nz", [clause("game", "in", ["holdem"]), clause("country", "in", ["NZ"])], var(2)),
            rule("holdem", [clause("game", "in", ["holdem"])], var(1)),
        ],
    ))
    M = "tr-multi-clause"
    vf.case("all clauses match: holdem in NZ gets rule 0", M, {"key": "k2", "game": "holdem", "country": "NZ"},
            S, D, {"value": "holdem-nz", "rule_index": 0})
    vf.case("one clause fails so rule 0 does not match: holdem in AU gets rule 1", M,
            {"key": "k2", "game": "holdem", "country": "AU"}, S, D, {"value": "holdem", "rule_index": 1})
    vf.case("missing attribute fails its clause: holdem without country gets rule 1", M,
            {"key": "k2", "game": "holdem"}, S, D, {"value": "holdem", "rule_index": 1})
    vf.case("only the second clause of rule 0 matches: NZ alone falls through", M,
            {"key": "k2", "country": "NZ"}, S, D, {"value": "none", "kind": "FALLTHROUGH"})

    vf.add_flag("tr-negated-clause", flag(
        [False, True],
        rules=[rule("holdem-outside-nz", [clause("game", "in", ["holdem"]),
                                          clause("country", "in", ["NZ"], negate=True)], var(1))],
    ))
    N = "tr-negated-clause"
    vf.case("holdem outside NZ: both clauses match (second negated)", N,
            {"key": "k3", "game": "holdem", "country": "AU"}, "bool", False, {"value": True, "kind": "RULE_MATCH"})
    vf.case("holdem in NZ: the negated clause fails", N, {"key": "k3", "game": "holdem", "country": "NZ"},
            "bool", False, {"value": False, "kind": "FALLTHROUGH"})
    vf.case("holdem without country: a negated clause on a missing attribute fails", N,
            {"key": "k3", "game": "holdem"}, "bool", False, {"value": False, "kind": "FALLTHROUGH"})

    vf.add_flag("tr-unknown-op-rule", flag(
        ["none", "future", "omaha"],
        rules=[
            rule("future", [clause("game", "in", ["omaha"]), clause("country", "future_op", ["AU"])], var(1)),
            rule("omaha", [clause("game", "in", ["omaha"])], var(2)),
        ],
    ))
    vf.case("a rule with an unknown operator never matches; the next rule serves", "tr-unknown-op-rule",
            {"key": "k4", "game": "omaha", "country": "AU"}, S, D,
            {"value": "omaha", "rule_index": 1, "rule_id": "omaha"})

    vf.add_flag("tr-rule-without-id", flag(
        [False, True], rules=[rule(None, [clause("game", "in", ["omaha"])], var(1))]))
    vf.case("a rule without an id reports rule_id \"\"", "tr-rule-without-id",
            {"key": "k5", "game": "omaha"}, "bool", False, {"value": True, "rule_id": ""})

    vf.add_flag("tr-off", flag(
        ["off", "on"], on=False, off_variation=0, targets=[target(1, ["alice"])],
        rules=[rule("all-omaha", [clause("game", "in", ["omaha"])], var(1))], fallthrough=var(1)))
    vf.case("flag off: targets are not consulted", "tr-off", {"key": "alice"}, S, D,
            {"value": "off", "kind": "OFF"})
    vf.case("flag off: rules are not consulted", "tr-off", {"key": "bob", "game": "omaha"}, S, D,
            {"value": "off", "kind": "OFF"})

    vf.add_flag("tr-fallthrough-fixed", flag(["a", "b", "c"], fallthrough=var(2)))
    vf.case("no targets, no rules: fixed fallthrough variation 2", "tr-fallthrough-fixed", {"key": "k6"},
            S, D, {"value": "c", "variation": 2, "kind": "FALLTHROUGH", "in_rollout": False})
    vf.case("fixed fallthrough without key", "tr-fallthrough-fixed", {}, S, D,
            {"value": "c", "in_rollout": False})

    vf.add_flag("tr-rule-rollout", flag(
        ["none", "a", "b"],
        rules=[rule("au-split", [clause("country", "in", ["AU"])], rollout([(1, 50000), (2, 50000)]))],
    ))
    lo, hi = pick_keys("tr-rule-rollout", [False, True], 50000)
    vf.case(f"rule serving a 50/50 rollout: {lo} (bucket < 50000) gets a", "tr-rule-rollout",
            {"key": lo, "country": "AU"}, S, D, {"value": "a", "kind": "RULE_MATCH", "in_rollout": True})
    vf.case(f"rule serving a 50/50 rollout: {hi} (bucket >= 50000) gets b", "tr-rule-rollout",
            {"key": hi, "country": "AU"}, S, D, {"value": "b", "kind": "RULE_MATCH", "in_rollout": True})
    vf.case("rule rollout without key: bucket 0, first variation, in_rollout false", "tr-rule-rollout",
            {"country": "AU"}, S, D, {"value": "a", "kind": "RULE_MATCH", "in_rollout": False})
    vf.case("rule with rollout does not match: fixed fallthrough", "tr-rule-rollout",
            {"key": lo, "country": "NZ"}, S, D, {"value": "none", "kind": "FALLTHROUGH"})
    return vf


# ---------------------------------------------------------------------------
# segments.json
# ---------------------------------------------------------------------------


def segments() -> VectorFile:
    vf = VectorFile(
        "segments.json",
        "in_segment: a key in `included` is in the segment (checked first, so it beats `excluded`); "
        "otherwise a key in `excluded` is not (even when a segment rule matches); otherwise the context "
        "is in when it matches every clause of any segment rule. Empty segments, unknown segments, "
        "contexts without a key (in no segment), and a segment used by several flag rules.",
    )
    vf.segments.update({
        "vip": segment(included=["u-1", "u-2", "u-both"], excluded=["u-3", "u-both"],
                       rules=[seg_rule("australia", [clause("country", "in", ["AU"])])]),
        "staff": segment(rules=[
            seg_rule("email", [clause("email", "ends_with", ["@daylight.dev"])]),
            seg_rule("group", [clause("groups", "in", ["staff"])]),
        ]),
        "empty": segment(),
        "bare": {"version": 1},
        "au-omaha": segment(rules=[seg_rule("both", [clause("country", "in", ["AU"]),
                                                     clause("game", "in", ["omaha"])])]),
        "not-nz": segment(rules=[seg_rule("not-nz", [clause("country", "in", ["NZ"], negate=True)])]),
        "employees": segment(rules=[seg_rule("emp", [clause("key", "starts_with", ["emp-"])])]),
        "empty-key": segment(included=[""]),
    })

    def seg_flag(key: str, segs: list[str], negate: bool = False) -> None:
        vf.add_flag(key, flag([False, True], rules=[
            rule("in-segment", [clause("key", "in_segment", segs, negate=negate)], var(1))]))

    def in_case(name: str, flag_key: str, ctx: dict, expected: bool) -> None:
        vf.case(name, flag_key, ctx, "bool", False,
                {"value": expected, "kind": "RULE_MATCH" if expected else "FALLTHROUGH"})

    seg_flag("seg-vip", ["vip"])
    in_case("included key u-1 is in vip", "seg-vip", {"key": "u-1"}, True)
    in_case("included key u-2 is in vip", "seg-vip", {"key": "u-2", "country": "NZ"}, True)
    in_case("excluded beats segment rules: u-3 in AU is not in vip", "seg-vip", {"key": "u-3", "country": "AU"}, False)
    in_case("excluded key u-3 is not in vip", "seg-vip", {"key": "u-3"}, False)
    in_case("included is checked before excluded: u-both (in both lists) is in vip", "seg-vip",
            {"key": "u-both"}, True)
    in_case("segment rule: u-9 in AU is in vip", "seg-vip", {"key": "u-9", "country": "AU"}, True)
    in_case("segment rule fails: u-9 in NZ is not in vip", "seg-vip", {"key": "u-9", "country": "NZ"}, False)
    in_case("segment rule on a missing attribute: u-9 without country is not in vip", "seg-vip",
            {"key": "u-9"}, False)
    in_case("context without key is in no segment, even when a segment rule would match", "seg-vip",
            {"country": "AU"}, False)
    in_case("included keys compare exactly: U-1 is not u-1", "seg-vip", {"key": "U-1"}, False)

    seg_flag("seg-empty-key", ["empty-key"])
    in_case("an empty-string key is a key: in a segment that includes \"\"", "seg-empty-key", {"key": ""}, True)
    in_case("a context without key is not in a segment that includes \"\"", "seg-empty-key", {}, False)

    seg_flag("seg-staff", ["staff"])
    in_case("first segment rule matches (email suffix)", "seg-staff", {"key": "e-1", "email": "ann@daylight.dev"}, True)
    in_case("second segment rule matches (groups list contains staff)", "seg-staff",
            {"key": "e-2", "groups": ["beta", "staff"]}, True)
    in_case("no segment rule matches", "seg-staff", {"key": "e-3", "email": "ann@example.com", "groups": ["beta"]},
            False)

    seg_flag("seg-empty", ["empty"])
    in_case("an empty segment contains nobody", "seg-empty", {"key": "u-1"}, False)
    seg_flag("seg-bare", ["bare"])
    in_case("a segment with no included/excluded/rules fields contains nobody", "seg-bare", {"key": "u-1"}, False)
    seg_flag("seg-any", ["empty", "staff", "vip"])
    in_case("in_segment with several segments matches when the context is in any", "seg-any", {"key": "u-1"}, True)
    in_case("in_segment with several segments: in none", "seg-any", {"key": "u-9"}, False)

    seg_flag("seg-au-omaha", ["au-omaha"])
    in_case("segment rule with two clauses, both match", "seg-au-omaha",
            {"key": "p-1", "country": "AU", "game": "omaha"}, True)
    in_case("segment rule with two clauses, one fails", "seg-au-omaha", {"key": "p-1", "country": "AU"}, False)
    seg_flag("seg-not-nz", ["not-nz"])
    in_case("negated segment clause matches a present other value", "seg-not-nz", {"key": "p-2", "country": "AU"}, True)
    in_case("negated segment clause on NZ", "seg-not-nz", {"key": "p-2", "country": "NZ"}, False)
    in_case("negated segment clause on a missing attribute does not match", "seg-not-nz", {"key": "p-2"}, False)
    seg_flag("seg-employees", ["employees"])
    in_case("segment rule on the targeting key", "seg-employees", {"key": "emp-7"}, True)
    in_case("segment rule on the targeting key, no match", "seg-employees", {"key": "contractor-7"}, False)

    seg_flag("seg-negated", ["vip"], negate=True)
    in_case("NOT in_segment vip: u-1 is in vip", "seg-negated", {"key": "u-1"}, False)
    in_case("NOT in_segment vip: u-9 in NZ is not in vip", "seg-negated", {"key": "u-9", "country": "NZ"}, True)
    in_case("NOT in_segment vip: excluded u-3 matches the negation", "seg-negated",
            {"key": "u-3", "country": "AU"}, True)
    in_case("NOT in_segment without key: missing key never matches, even negated", "seg-negated",
            {"country": "NZ"}, False)

    seg_flag("seg-ghost", ["ghost"])
    in_case("a segment missing from the ruleset contains nobody", "seg-ghost", {"key": "u-1"}, False)
    seg_flag("seg-ghost-negated", ["ghost"], negate=True)
    in_case("NOT in a segment missing from the ruleset matches a context with a key", "seg-ghost-negated",
            {"key": "u-1"}, True)

    vf.add_flag("seg-several-rules", flag(
        ["none", "vip", "vip-omaha", "staff"],
        rules=[
            rule("vip-omaha", [clause("key", "in_segment", ["vip"]), clause("game", "in", ["omaha"])], var(2)),
            rule("vip", [clause("key", "in_segment", ["vip"])], var(1)),
            rule("staff", [clause("key", "in_segment", ["staff"])], var(3)),
        ],
    ))
    SR = "seg-several-rules"
    vf.case("segment used by two rules: vip playing omaha gets rule 0", SR, {"key": "u-1", "game": "omaha"},
            "string", "dflt", {"value": "vip-omaha", "rule_index": 0, "rule_id": "vip-omaha"})
    vf.case("segment used by two rules: vip not playing omaha gets rule 1", SR, {"key": "u-1"},
            "string", "dflt", {"value": "vip", "rule_index": 1})
    vf.case("segment used by two rules: vip by segment rule gets rule 1", SR, {"key": "u-9", "country": "AU"},
            "string", "dflt", {"value": "vip", "rule_index": 1})
    vf.case("excluded from vip but staff by email gets rule 2", SR,
            {"key": "u-3", "country": "AU", "game": "omaha", "email": "x@daylight.dev"},
            "string", "dflt", {"value": "staff", "rule_index": 2, "rule_id": "staff"})
    vf.case("in no segment: fallthrough", SR, {"key": "u-9", "game": "omaha"}, "string", "dflt",
            {"value": "none", "kind": "FALLTHROUGH"})
    vf.case("no key: in no segment even with staff email, fallthrough", SR, {"email": "x@daylight.dev"},
            "string", "dflt", {"value": "none", "kind": "FALLTHROUGH"})
    return vf


# ---------------------------------------------------------------------------
# prerequisites.json
# ---------------------------------------------------------------------------


def prerequisites() -> VectorFile:
    vf = VectorFile(
        "prerequisites.json",
        "Prerequisites ({\"flag\", \"variation\"}): the prerequisite flag must exist, be on and serve the "
        "required variation (evaluated recursively for the same context); otherwise the flag serves its "
        "off_variation (or the caller's default when absent) with PREREQUISITE_FAILED naming the first "
        "failing prerequisite of this flag. Order: off, then prerequisites, then targets.",
    )
    B = [False, True]
    ONOFF = ["off", "on"]
    vf.add_flag("base-on", flag(B, fallthrough=var(1)))
    vf.add_flag("base-off", flag(B, on=False, off_variation=1, fallthrough=var(1)))
    vf.add_flag("base-rule", flag(B, rules=[rule("omaha", [clause("game", "in", ["omaha"])], var(1))]))
    vf.add_flag("base-string", flag(["control", "treatment"], fallthrough=var(1)))
    vf.add_flag("base-targeted", flag(B, targets=[target(1, ["u-7"])], fallthrough=var(0)))
    vf.add_flag("base-rollout", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)])))

    vf.add_flag("child-ok", flag(ONOFF, prerequisites=[prereq("base-on", 1)], fallthrough=var(1)))
    vf.add_flag("child-of-off", flag(ONOFF, prerequisites=[prereq("base-off", 1)], fallthrough=var(1)))
    vf.add_flag("child-of-rule", flag(ONOFF, prerequisites=[prereq("base-rule", 1)], fallthrough=var(1)))
    vf.add_flag("child-wrong-variation", flag(ONOFF, prerequisites=[prereq("base-on", 0)], fallthrough=var(1)))
    vf.add_flag("child-of-missing", flag(ONOFF, prerequisites=[prereq("no-such-flag", 1)], fallthrough=var(1)))
    vf.add_flag("child-no-off-variation", flag(ONOFF, off_variation=None, prerequisites=[prereq("base-off", 1)],
                                               fallthrough=var(1)))
    vf.add_flag("child-of-string", flag(ONOFF, prerequisites=[prereq("base-string", 1)], fallthrough=var(1)))
    vf.add_flag("child-multi", flag(ONOFF, prerequisites=[prereq("base-on", 1), prereq("base-rule", 1),
                                                          prereq("base-off", 1)], fallthrough=var(1)))
    vf.add_flag("child-targeted", flag(ONOFF, prerequisites=[prereq("base-off", 1)],
                                       targets=[target(1, ["u-1"])], fallthrough=var(1)))
    vf.add_flag("child-off", flag(ONOFF, on=False, off_variation=0, prerequisites=[prereq("base-off", 1)],
                                  fallthrough=var(1)))
    vf.add_flag("child-of-targeted", flag(ONOFF, prerequisites=[prereq("base-targeted", 1)], fallthrough=var(1)))
    vf.add_flag("child-of-rollout", flag(ONOFF, prerequisites=[prereq("base-rollout", 1)], fallthrough=var(1)))
    vf.add_flag("chain-c", flag(B, rules=[rule("au", [clause("country", "in", ["AU"])], var(1))]))
    vf.add_flag("chain-b", flag(B, prerequisites=[prereq("chain-c", 1)], fallthrough=var(1)))
    vf.add_flag("chain-a", flag(ONOFF, prerequisites=[prereq("chain-b", 1)], fallthrough=var(1)))

    S, D = "string", "dflt"

    def ok(name, f, ctx):
        vf.case(name, f, ctx, S, D, {"value": "on", "kind": "FALLTHROUGH"})

    def failed(name, f, ctx, pkey, value="off"):
        vf.case(name, f, ctx, S, D, {"value": value, "kind": "PREREQUISITE_FAILED", "prerequisite_key": pkey})

    ok("prerequisite on and serving the required variation: satisfied", "child-ok", {"key": "u-1"})
    ok("prerequisites are evaluated for a context without key too", "child-ok", {})
    failed("prerequisite is off: failed, even though its off variation is the required one", "child-of-off",
           {"key": "u-1"}, "base-off")
    ok("prerequisite serves the required variation through its rule: satisfied", "child-of-rule",
       {"key": "u-1", "game": "omaha"})
    failed("prerequisite serves another variation (its fallthrough): failed", "child-of-rule",
           {"key": "u-1", "game": "stud"}, "base-rule")
    failed("prerequisite serves another variation (missing attribute): failed", "child-of-rule",
           {"key": "u-1"}, "base-rule")
    failed("prerequisite requires variation 0 but it serves 1: failed", "child-wrong-variation",
           {"key": "u-1"}, "base-on")
    failed("prerequisite flag missing from the ruleset: failed, naming it", "child-of-missing",
           {"key": "u-1"}, "no-such-flag")
    vf.case("prerequisite failed and no off_variation: caller's default, variation null",
            "child-no-off-variation", {"key": "u-1"}, S, "caller-default",
            {"value": "caller-default", "variation": None, "kind": "PREREQUISITE_FAILED",
             "prerequisite_key": "base-off"})
    ok("prerequisite of another type (string flag) serving the required variation", "child-of-string",
       {"key": "u-1"})
    failed("several prerequisites: the first failing one is reported (base-off)", "child-multi",
           {"key": "u-1", "game": "omaha"}, "base-off")
    failed("several prerequisites: the first failing one is reported (base-rule)", "child-multi",
           {"key": "u-1", "game": "stud"}, "base-rule")
    failed("prerequisites come before targets: a targeted key still fails", "child-targeted",
           {"key": "u-1"}, "base-off")
    vf.case("off comes before prerequisites: an off flag reports OFF, not its failing prerequisite",
            "child-off", {"key": "u-1"}, S, D, {"value": "off", "kind": "OFF"})
    ok("prerequisite serves the required variation by a target: satisfied", "child-of-targeted", {"key": "u-7"})
    failed("prerequisite's target does not include this key: failed", "child-of-targeted",
           {"key": "u-8"}, "base-targeted")
    failed("prerequisite's target cannot match a context without key: failed", "child-of-targeted",
           {}, "base-targeted")
    off_key, on_key = pick_keys("base-rollout", [False, True], 50000)
    ok(f"prerequisite with a 50/50 rollout serves the required variation to {on_key}: satisfied",
       "child-of-rollout", {"key": on_key})
    failed(f"prerequisite with a 50/50 rollout serves another variation to {off_key}: failed",
           "child-of-rollout", {"key": off_key}, "base-rollout")
    ok("chain of two prerequisites, all satisfied (AU)", "chain-a", {"key": "u-1", "country": "AU"})
    failed("chain of two prerequisites: the inner one fails, the outer reports its direct prerequisite",
           "chain-a", {"key": "u-1", "country": "NZ"}, "chain-b")
    vf.case("middle of the chain evaluated directly reports its own prerequisite", "chain-b",
            {"key": "u-1", "country": "NZ"}, "bool", True,
            {"value": False, "variation": 0, "kind": "PREREQUISITE_FAILED", "prerequisite_key": "chain-c"})
    vf.case("middle of the chain satisfied", "chain-b", {"key": "u-1", "country": "AU"}, "bool", False,
            {"value": True, "kind": "FALLTHROUGH"})
    return vf


# ---------------------------------------------------------------------------
# rollouts.json
# ---------------------------------------------------------------------------

# Keys whose buckets sit on rollout boundaries. Found once by an exhaustive
# search (user-0 .. user-500000); generate.py re-checks every bucket below.
BOUNDARY_KEYS = {
    ("ro-50", 49999): "user-96369",
    ("ro-50", 50000): "user-20079",
    ("ro-50", 0): "user-81277",
    ("ro-50", 99999): "user-16569",
    ("ro-weight-1-last", 99999): "user-39083",
    ("ro-weight-1-first", 0): "user-244751",
    ("ro-weight-1-first", 1): "user-336010",
    ("ro-99999", 0): "user-91167",
    ("ro-99999", 1): "user-214064",
    ("ro-3way", 33332): "user-261274",
    ("ro-3way", 33333): "user-79492",
    ("ro-3way", 66665): "user-10885",
    ("ro-3way", 66666): "user-39732",
    ("lobby-canary", 74999): "user-175131",
    ("lobby-canary", 75000): "user-11371",
    ("lobby-canary", 94999): "user-18137",
    ("lobby-canary", 95000): "user-478764",
}
for (_salt, _b), _key in BOUNDARY_KEYS.items():
    assert bucket(_salt, _key) == _b, (_salt, _key, _b)


def rollouts() -> VectorFile:
    vf = VectorFile(
        "rollouts.json",
        "Percentage rollouts: weights in thousandths of a percent; bucket = murmur3_x86_32(utf8(salt + \".\" "
        "+ value)) mod 100000; the first variation whose running weight sum exceeds the bucket is served. "
        "Boundary buckets, 0%, 0.001%, 50%, 99.999%, 100%, three-way splits, bucket_by string / integer / "
        "float / bool / list / missing attributes (missing: bucket 0, in_rollout false), salts shared by "
        "flags, and stickiness when a canary grows.",
    )
    B = [False, True]
    bk = BOUNDARY_KEYS

    def rc(name, f, ctx, hint, getter="bool", default=False):
        vf.case(name, f, ctx, getter, default, hint)

    vf.add_flag("ro-0", flag(B, fallthrough=rollout([(0, 100000), (1, 0)])))
    for k in ["user-1", "user-2", bk[("ro-50", 99999)]]:
        rc(f"0% rollout of true: {k} gets false, in_rollout false (one non-zero weight)", "ro-0", {"key": k},
           {"value": False, "in_rollout": False})
    rc("0% rollout of true, no key: false, in_rollout false", "ro-0", {}, {"value": False, "in_rollout": False})

    vf.add_flag("ro-100", flag(B, fallthrough=rollout([(0, 0), (1, 100000)])))
    for k in ["user-1", "user-2"]:
        rc(f"100% rollout of true: {k} gets true, in_rollout false (one non-zero weight)", "ro-100", {"key": k},
           {"value": True, "in_rollout": False})
    rc("100% rollout of true, no key: bucket 0 goes to the first non-zero weight (true)", "ro-100", {},
       {"value": True, "variation": 1, "in_rollout": False})

    vf.add_flag("ro-weight-1-last", flag(B, fallthrough=rollout([(0, 99999), (1, 1)])))
    rc(f"0.001% (weight 1, last): {bk[('ro-weight-1-last', 99999)]} has bucket 99999, the only one for true",
       "ro-weight-1-last", {"key": bk[("ro-weight-1-last", 99999)]}, {"value": True, "in_rollout": True})
    for k in ["user-1", bk[("ro-50", 99999)]]:
        rc(f"0.001% (weight 1, last): {k} gets false, in_rollout true", "ro-weight-1-last", {"key": k},
           {"value": False, "in_rollout": True})
    rc("0.001% (weight 1, last), no key: bucket 0, false, in_rollout false", "ro-weight-1-last", {},
       {"value": False, "in_rollout": False})

    vf.add_flag("ro-weight-1-first", flag(B, fallthrough=rollout([(1, 1), (0, 99999)])))
    rc(f"0.001% (weight 1, first): {bk[('ro-weight-1-first', 0)]} has bucket 0, the only one for true",
       "ro-weight-1-first", {"key": bk[("ro-weight-1-first", 0)]}, {"value": True, "in_rollout": True})
    rc(f"0.001% (weight 1, first): {bk[('ro-weight-1-first', 1)]} has bucket 1, gets false",
       "ro-weight-1-first", {"key": bk[("ro-weight-1-first", 1)]}, {"value": False, "in_rollout": True})
    rc("0.001% (weight 1, first), no key: bucket 0 gets the first variation (true), in_rollout false",
       "ro-weight-1-first", {}, {"value": True, "in_rollout": False})

    vf.add_flag("ro-99999", flag(B, fallthrough=rollout([(0, 1), (1, 99999)])))
    rc(f"99.999% of true: {bk[('ro-99999', 0)]} has bucket 0, the only one for false", "ro-99999",
       {"key": bk[("ro-99999", 0)]}, {"value": False, "in_rollout": True})
    rc(f"99.999% of true: {bk[('ro-99999', 1)]} has bucket 1, gets true", "ro-99999",
       {"key": bk[("ro-99999", 1)]}, {"value": True, "in_rollout": True})
    rc("99.999% of true: user-1 gets true", "ro-99999", {"key": "user-1"}, {"value": True, "in_rollout": True})
    rc("99.999% of true, no key: bucket 0 gets false, in_rollout false", "ro-99999", {},
       {"value": False, "in_rollout": False})

    vf.add_flag("ro-50", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)])))
    for b_, want in [(0, False), (49999, False), (50000, True), (99999, True)]:
        rc(f"50/50: {bk[('ro-50', b_)]} has bucket {b_}, gets {str(want).lower()}", "ro-50",
           {"key": bk[("ro-50", b_)]}, {"value": want, "in_rollout": True})
    rc(f"50/50: an empty-string key is a present key, bucketed from \"ro-50.\" (bucket {bucket('ro-50', '')}), "
       "in_rollout true", "ro-50", {"key": ""}, {"value": bucket("ro-50", "") >= 50000, "in_rollout": True})
    for k in pick_keys("ro-50", [False, True, False, True, True, False], 50000, prefix="user-"):
        rc(f"50/50: {k} (bucket {bucket('ro-50', k)})", "ro-50", {"key": k}, {"in_rollout": True})
    rc("50/50, no key: bucket 0, false, in_rollout false", "ro-50", {}, {"value": False, "in_rollout": False})

    vf.add_flag("ro-3way", flag(["a", "b", "c"], fallthrough=rollout([(0, 33333), (1, 33333), (2, 33334)])))
    for b_, want in [(33332, "a"), (33333, "b"), (66665, "b"), (66666, "c")]:
        rc(f"three-way 33333/33333/33334: {bk[('ro-3way', b_)]} has bucket {b_}, gets {want}", "ro-3way",
           {"key": bk[("ro-3way", b_)]}, {"value": want, "in_rollout": True}, "string", "dflt")
    rc("three-way, no key: bucket 0 gets a, in_rollout false", "ro-3way", {},
       {"value": "a", "in_rollout": False}, "string", "dflt")

    vf.add_flag("ro-zero-middle", flag(["x", "y", "z"], fallthrough=rollout([(0, 50000), (1, 0), (2, 50000)])))
    for k in pick_keys("ro-zero-middle", [False, True, False, True], 50000, prefix="user-"):
        rc(f"a zero-weight variation in the middle is never served: {k} (bucket {bucket('ro-zero-middle', k)})",
           "ro-zero-middle", {"key": k}, {"in_rollout": True}, "string", "dflt")

    vf.add_flag("ro-reordered", flag(B, fallthrough=rollout([(1, 50000), (0, 50000)])))
    lo, hi = pick_keys("ro-reordered", [False, True], 50000, prefix="user-")
    rc(f"rollout listing variation 1 first: {lo} (bucket < 50000) gets true", "ro-reordered", {"key": lo},
       {"value": True, "in_rollout": True})
    rc(f"rollout listing variation 1 first: {hi} (bucket >= 50000) gets false", "ro-reordered", {"key": hi},
       {"value": False, "in_rollout": True})
    rc("rollout listing variation 1 first, no key: bucket 0 gets the first listed (true)", "ro-reordered", {},
       {"value": True, "in_rollout": False})

    # bucket_by a string attribute
    vf.add_flag("ro-by-team", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)], bucket_by="team")))
    t_lo, t_hi = pick_keys("ro-by-team", [False, True], 50000, prefix="team-")
    rc(f"bucket_by team: {t_hi} gets true", "ro-by-team", {"key": "user-1", "team": t_hi},
       {"value": True, "in_rollout": True})
    rc(f"bucket_by team: another key in {t_hi} gets the same (true)", "ro-by-team", {"key": "user-2", "team": t_hi},
       {"value": True, "in_rollout": True})
    rc(f"bucket_by team: {t_lo} gets false", "ro-by-team", {"key": "user-1", "team": t_lo},
       {"value": False, "in_rollout": True})
    rc("bucket_by team, team missing: bucket 0 (false) and in_rollout false even with a key", "ro-by-team",
       {"key": "user-1"}, {"value": False, "in_rollout": False})
    rc("bucket_by team, team null: missing", "ro-by-team", {"key": "user-1", "team": None},
       {"value": False, "in_rollout": False})

    # bucket_by an integer attribute; 1017 lands in the upper half for this flag key.
    vf.add_flag("ro-by-table", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)], bucket_by="table_id")))
    assert bucket("ro-by-table", 1017) >= 50000 and bucket("ro-by-table", 0) < 50000
    table_rows = [
        (1017, True, True, "an integer is bucketed as \"1017\""),
        (1017.0, True, True, "1017.0 is the same JSON number as 1017"),
        ("1017", True, True, "the string \"1017\" buckets like the number 1017"),
        (-5, True, True, "a negative integer is bucketed as \"-5\""),
        (0, False, True, "zero is an integer"),
        (2**53, None, True, "2^53 is within range"),
        (-(2**53), None, True, "-2^53 is within range"),
        (2**53 + 2, False, False, "beyond 2^53: missing, bucket 0"),
        (1017.5, False, False, "a fraction: missing, bucket 0"),
        (True, False, False, "a bool: missing, bucket 0"),
        (["1017"], False, False, "a list: missing, bucket 0"),
        ({"id": 1017}, False, False, "an object: missing, bucket 0"),
        (None, False, False, "null: missing, bucket 0"),
    ]
    for value, want, in_rollout, why in table_rows:
        hint: dict[str, Any] = {"in_rollout": in_rollout}
        if want is not None:
            hint["value"] = want
        rc(f"bucket_by table_id={show(value)}: {why}", "ro-by-table", {"key": "user-1", "table_id": value}, hint)
    rc("bucket_by table_id, attribute missing: bucket 0 (false), in_rollout false", "ro-by-table",
       {"key": "user-1"}, {"value": False, "in_rollout": False})

    # the same weights and salt with bucket_by "key" spelled out
    vf.add_flag("ro-explicit-key", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)], bucket_by="key",
                                                               salt="ro-50")))
    for b_, want in [(49999, False), (50000, True)]:
        rc(f"bucket_by \"key\" with salt ro-50 equals flag ro-50: {bk[('ro-50', b_)]} gets "
           f"{str(want).lower()}", "ro-explicit-key", {"key": bk[("ro-50", b_)]}, {"value": want, "in_rollout": True})
    # the salt defaults to the flag key: same weights as ro-50, different cohort
    vf.add_flag("ro-50-copy", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)])))
    k_diff = next(f"user-{i}" for i in range(1000)
                  if (bucket("ro-50", f"user-{i}") >= 50000) != (bucket("ro-50-copy", f"user-{i}") >= 50000))
    rc(f"salt defaults to the flag key: {k_diff} on ro-50-copy", "ro-50-copy", {"key": k_diff}, {"in_rollout": True})
    rc(f"salt defaults to the flag key: {k_diff} on ro-50 gets the other variation", "ro-50", {"key": k_diff},
       {"in_rollout": True})

    # two flags sharing a salt share the cohort
    vf.add_flag("cohort-a", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)], salt="shared-cohort")))
    vf.add_flag("cohort-b", flag(["old", "new"], fallthrough=rollout([(0, 50000), (1, 50000)], salt="shared-cohort")))
    for k in pick_keys("shared-cohort", [False, True, True, False], 50000, prefix="member-"):
        want = bucket("shared-cohort", k) >= 50000
        rc(f"shared salt: {k} on cohort-a gets {str(want).lower()}", "cohort-a", {"key": k},
           {"value": want, "in_rollout": True})
        rc(f"shared salt: {k} on cohort-b gets the same cohort ({'new' if want else 'old'})", "cohort-b",
           {"key": k}, {"value": "new" if want else "old", "in_rollout": True}, "string", "dflt")

    # stickiness: raising "new" from 5% to 25% keeps everyone already on it
    vf.add_flag("canary-5", flag(["old", "new"], fallthrough=rollout([(0, 95000), (1, 5000)], salt="lobby-canary")))
    vf.add_flag("canary-25", flag(["old", "new"], fallthrough=rollout([(0, 75000), (1, 25000)], salt="lobby-canary")))
    for b_, at5, at25 in [(95000, "new", "new"), (94999, "old", "new"), (75000, "old", "new"),
                          (74999, "old", "old")]:
        k = bk[("lobby-canary", b_)]
        rc(f"canary at 5%: {k} (bucket {b_}) gets {at5}", "canary-5", {"key": k},
           {"value": at5, "in_rollout": True}, "string", "dflt")
        rc(f"canary at 25%: {k} (bucket {b_}) gets {at25}", "canary-25", {"key": k},
           {"value": at25, "in_rollout": True}, "string", "dflt")

    # non-ASCII keys
    vf.add_flag("ro-unicode", flag(B, fallthrough=rollout([(0, 50000), (1, 50000)])))
    for k in ["ゲーム", "Ünïcödé", "👩‍💻", "🇦🇺"]:
        rc(f"50/50 with a non-ASCII key {k} (bucket {bucket('ro-unicode', k)})", "ro-unicode", {"key": k},
           {"in_rollout": True})
    return vf


# ---------------------------------------------------------------------------
# reasons-and-errors.json
# ---------------------------------------------------------------------------


def reasons_and_errors() -> VectorFile:
    vf = VectorFile(
        "reasons-and-errors.json",
        "Every reason form, typed getters (bool, string, number, json; json when `type` is absent and "
        "accepting any flag), TYPE_MISMATCH and FLAG_NOT_FOUND errors (the caller's default, variation "
        "null), OFF with and without off_variation, and fields unknown to the SDK, which are ignored.",
    )
    vf.add_flag("re-bool", flag([False, True], fallthrough=var(1)))
    vf.add_flag("re-string", flag(["small", "medium", "large"], fallthrough=var(2)))
    vf.add_flag("re-number", flag([1, 2.5, -3], fallthrough=var(1)))
    vf.add_flag("re-number-int", flag([0, 1], fallthrough=var(0)))
    vf.add_flag("re-json", flag([{"color": "red", "size": 1},
                                 {"color": "blue", "nested": {"list": [1, "two", None], "ok": True}}],
                                fallthrough=var(1)))
    vf.add_flag("re-off", flag([False, True], on=False, off_variation=1, fallthrough=var(0)))
    vf.add_flag("re-off-no-offvar", flag([False, True], on=False, off_variation=None, fallthrough=var(1)))
    vf.add_flag("re-string-off-no-offvar", flag(["a", "b"], on=False, off_variation=None, fallthrough=var(1)))
    vf.add_flag("re-number-off", flag([10, 20], on=False, off_variation=0, fallthrough=var(1)))
    vf.add_flag("re-all-reasons", flag(
        ["off", "target", "rule", "fallthrough", "prereq-off"],
        off_variation=4,
        prerequisites=[prereq("re-bool", 1)],
        targets=[target(1, ["t-1"])],
        rules=[rule("vip-rule", [clause("tier", "in", ["vip"])], var(2))],
        fallthrough=var(3),
    ))
    vf.add_flag("re-prereq-fails", flag(["x", "y"], off_variation=0, prerequisites=[prereq("re-off", 0)],
                                        fallthrough=var(1)))
    vf.add_flag("re-split", flag(["a", "b"], fallthrough=rollout([(0, 50000), (1, 50000)])))

    unknown = flag(["plain", "fancy"], rules=[rule("fancy", [clause("tier", "in", ["gold"])], var(1))])
    unknown["future_flag_field"] = {"sampling": 0.5}
    unknown["rules"][0]["track_events"] = True
    unknown["rules"][0]["clauses"][0]["future_clause_field"] = [1, 2]
    unknown["fallthrough"]["future_serve_field"] = "x"
    vf.add_flag("re-unknown-fields", unknown)
    vf.segments["re-segment"] = {**segment(included=["s-1"]), "future_segment_field": True}
    vf.add_flag("re-unknown-fields-segment", flag(
        [False, True], rules=[rule("seg", [clause("key", "in_segment", ["re-segment"])], var(1))]))
    vf.extra_ruleset_fields["future_ruleset_field"] = {"anything": ["goes"]}

    def c(name, f, getter, default, hint, ctx=None):
        vf.case(name, f, ctx if ctx is not None else {"key": "u-1"}, getter, default, hint)

    # typed getters that match
    c("bool getter on a bool flag", "re-bool", "bool", False, {"value": True, "variation": 1, "kind": "FALLTHROUGH"})
    c("string getter on a string flag", "re-string", "string", "dflt", {"value": "large", "variation": 2})
    c("number getter on a number flag (fraction)", "re-number", "number", 0, {"value": 2.5, "variation": 1})
    c("number getter on a number flag (integer 0)", "re-number-int", "number", 7, {"value": 0, "variation": 0})
    c("json getter on an object flag", "re-json", "json", {"default": True}, {"variation": 1})
    c("json getter on a bool flag returns the bool", "re-bool", "json", None, {"value": True})
    c("json getter on a string flag returns the string", "re-string", "json", None, {"value": "large"})
    c("json getter on a number flag returns the number", "re-number", "json", None, {"value": 2.5})
    c("type absent means the json getter: string flag", "re-string", None, None, {"value": "large"})
    c("type absent means the json getter: object flag", "re-json", None, {}, {"variation": 1})

    # TYPE_MISMATCH
    mm = {"variation": None, "kind": "ERROR", "error_kind": "TYPE_MISMATCH"}
    c("TYPE_MISMATCH: bool getter on a string flag returns the default", "re-string", "bool", True,
      {**mm, "value": True})
    c("TYPE_MISMATCH: bool getter on a 0/1 number flag (numbers are not booleans)", "re-number-int", "bool", True,
      {**mm, "value": True})
    c("TYPE_MISMATCH: bool getter on an object flag", "re-json", "bool", False, {**mm, "value": False})
    c("TYPE_MISMATCH: string getter on a bool flag", "re-bool", "string", "dflt", {**mm, "value": "dflt"})
    c("TYPE_MISMATCH: string getter on a number flag", "re-number", "string", "dflt", {**mm, "value": "dflt"})
    c("TYPE_MISMATCH: string getter on an object flag", "re-json", "string", "dflt", {**mm, "value": "dflt"})
    c("TYPE_MISMATCH: number getter on a bool flag (booleans are not numbers)", "re-bool", "number", 42,
      {**mm, "value": 42})
    c("TYPE_MISMATCH: number getter on a string flag", "re-string", "number", -1.5, {**mm, "value": -1.5})
    c("TYPE_MISMATCH: number getter on an object flag", "re-json", "number", 0, {**mm, "value": 0})
    c("TYPE_MISMATCH even when the flag is off with an off_variation", "re-off", "string", "dflt",
      {**mm, "value": "dflt"})

    # FLAG_NOT_FOUND
    nf = {"variation": None, "kind": "ERROR", "error_kind": "FLAG_NOT_FOUND"}
    c("FLAG_NOT_FOUND with the bool getter returns the default", "no-such-flag", "bool", True, {**nf, "value": True})
    c("FLAG_NOT_FOUND with the string getter", "no-such-flag", "string", "fallback", {**nf, "value": "fallback"})
    c("FLAG_NOT_FOUND with the number getter", "no-such-flag", "number", 42, {**nf, "value": 42})
    c("FLAG_NOT_FOUND with the json getter", "no-such-flag", "json", {"fallback": [1, 2]},
      {**nf, "value": {"fallback": [1, 2]}})
    c("FLAG_NOT_FOUND with type absent (json) and a null default", "no-such-flag", None, None, {**nf, "value": None})
    c("flag keys are case-sensitive: RE-BOOL is not found", "RE-BOOL", "bool", False, nf)

    # OFF
    c("OFF with off_variation 1: serves true", "re-off", "bool", False,
      {"value": True, "variation": 1, "kind": "OFF"})
    c("OFF without off_variation: caller's default (true), variation null", "re-off-no-offvar", "bool", True,
      {"value": True, "variation": None, "kind": "OFF"})
    c("OFF without off_variation: caller's default (false), variation null", "re-off-no-offvar", "bool", False,
      {"value": False, "variation": None, "kind": "OFF"})
    c("OFF without off_variation, string getter: caller's default", "re-string-off-no-offvar", "string", "dflt",
      {"value": "dflt", "variation": None, "kind": "OFF"})
    c("OFF with off_variation on a number flag", "re-number-off", "number", -1,
      {"value": 10, "variation": 0, "kind": "OFF"})

    # each reason form
    A = "re-all-reasons"
    c("reason TARGET_MATCH has only kind", A, "string", "dflt", {"value": "target", "kind": "TARGET_MATCH"},
      {"key": "t-1"})
    c("reason RULE_MATCH carries rule_index, rule_id and in_rollout", A, "string", "dflt",
      {"value": "rule", "kind": "RULE_MATCH", "rule_index": 0, "rule_id": "vip-rule", "in_rollout": False},
      {"key": "u-2", "tier": "vip"})
    c("reason FALLTHROUGH carries in_rollout false for a fixed variation", A, "string", "dflt",
      {"value": "fallthrough", "kind": "FALLTHROUGH", "in_rollout": False}, {"key": "u-2"})
    c("reason PREREQUISITE_FAILED carries prerequisite_key", "re-prereq-fails", "string", "dflt",
      {"value": "x", "kind": "PREREQUISITE_FAILED", "prerequisite_key": "re-off"})
    lo, hi = pick_keys("re-split", [False, True], 50000)
    c("reason FALLTHROUGH with in_rollout true for a split", "re-split", "string", "dflt",
      {"value": "a", "kind": "FALLTHROUGH", "in_rollout": True}, {"key": lo})
    c("reason FALLTHROUGH with in_rollout true, other side of the split", "re-split", "string", "dflt",
      {"value": "b", "kind": "FALLTHROUGH", "in_rollout": True}, {"key": hi})

    # unknown fields
    c("fields unknown to the SDK are ignored (flag, rule, clause, serve, ruleset): rule matches",
      "re-unknown-fields", "string", "dflt", {"value": "fancy", "kind": "RULE_MATCH"}, {"key": "u-1", "tier": "gold"})
    c("fields unknown to the SDK are ignored: fallthrough", "re-unknown-fields", "string", "dflt",
      {"value": "plain", "kind": "FALLTHROUGH"})
    c("fields unknown to the SDK are ignored (segment)", "re-unknown-fields-segment", "bool", False,
      {"value": True, "kind": "RULE_MATCH"}, {"key": "s-1"})
    c("context attributes that are never referenced do not matter, whatever their type", "re-bool", "bool", False,
      {"value": True}, {"key": "u-1", "meta": {"a": [1, {"b": None}]}, "n": None, "list": [1, 2]})
    return vf


# ---------------------------------------------------------------------------
# typical-flag.json
# ---------------------------------------------------------------------------


def typical_flag() -> VectorFile:
    vf = VectorFile(
        "typical-flag.json",
        "The benchmark's typical flag: 100 individual targets (u1..u100 -> true), rule 0 in_segment of a "
        "segment of 10,000 keys (s1..s10000), rule 1 game in [omaha, holdem], fallthrough a 50/50 rollout.",
    )
    vf.segments["typical-segment"] = segment(included=[f"s{i}" for i in range(1, 10001)])
    vf.add_flag("typical", flag(
        [False, True],
        targets=[target(1, [f"u{i}" for i in range(1, 101)])],
        rules=[
            rule("segment", [clause("key", "in_segment", ["typical-segment"])], var(1)),
            rule("games", [clause("game", "in", ["omaha", "holdem"])], var(1)),
        ],
        fallthrough=rollout([(0, 50000), (1, 50000)]),
        version=12,
    ))
    F = "typical"

    def tc(name, ctx, hint):
        vf.case(name, F, ctx, "bool", False, hint)

    for k in ["u1", "u42", "u100"]:
        tc(f"target: {k} is one of the 100 targets", {"key": k}, {"value": True, "kind": "TARGET_MATCH"})
    tc("target wins over the rules: u1 playing omaha", {"key": "u1", "game": "omaha"},
       {"value": True, "kind": "TARGET_MATCH"})
    for k in ["s1", "s5000", "s10000"]:
        tc(f"segment rule: {k} is in the 10,000-key segment", {"key": k},
           {"value": True, "kind": "RULE_MATCH", "rule_index": 0, "rule_id": "segment"})
    tc("segment rule comes before the game rule: s7 playing holdem", {"key": "s7", "game": "holdem"},
       {"value": True, "rule_index": 0})
    tc("game rule: omaha", {"key": "player-x", "game": "omaha"},
       {"value": True, "kind": "RULE_MATCH", "rule_index": 1, "rule_id": "games"})
    tc("game rule: holdem", {"key": "player-x", "game": "holdem"}, {"value": True, "rule_index": 1})
    tc("game rule: a list attribute with holdem", {"key": "player-x", "game": ["stud", "holdem"]},
       {"value": True, "rule_index": 1})
    tc("game rule without key", {"game": "omaha"}, {"value": True, "rule_index": 1})
    for k in ["u101", "u0", "s10001", "s0", "S1"]:
        tc(f"{k} is neither a target nor in the segment: fallthrough rollout", {"key": k},
           {"kind": "FALLTHROUGH", "in_rollout": True})
    tc("Omaha is not omaha (case-sensitive): fallthrough", {"key": "player-x", "game": "Omaha"},
       {"kind": "FALLTHROUGH"})
    for k in pick_keys("typical", [False, True, False, True, False, True], 50000):
        tc(f"fallthrough 50/50: {k} (bucket {bucket('typical', k)})", {"key": k, "game": "stud"},
           {"kind": "FALLTHROUGH", "in_rollout": True, "value": bucket("typical", k) >= 50000})
    tc("no key, no game: fallthrough rollout buckets as 0 (false), in_rollout false", {"country": "AU"},
       {"value": False, "kind": "FALLTHROUGH", "in_rollout": False})
    return vf


# ---------------------------------------------------------------------------
# bucketing/bucketing.json
# ---------------------------------------------------------------------------


def bucketing_triples() -> list[dict]:
    rows: list[tuple[str, Any]] = [
        ("", ""), ("", "a"), ("a", ""), ("", "user-1"),
        # "x." + value is 3..7 bytes: every tail length (3, 0, 1, 2, 3) of the last 4-byte block
        ("x", "a"), ("x", "ab"), ("x", "abc"), ("x", "abcd"), ("x", "abcde"),
        ("new-lobby", "u-42"), ("new-lobby", "qa-1"), ("new-lobby", ""), ("new-lobby", "user-1"),
        ("new-lobby", "User-1"), ("new-lobby", " user-1"),
        ("ゲーム", "ゲーム"), ("new-lobby", "ゲーム"),
        ("Ünïcödé", "Ünïcödé"),
        ("new-lobby", "Ünïcödé"),  # composed (NFC)
        ("new-lobby", "U\u0308ni\u0308co\u0308de\u0301"),  # the same text decomposed (NFD): no normalization
        ("new-lobby", "😀"), ("new-lobby", "👩‍💻"), ("new-lobby", "👍🏽"), ("new-lobby", "🇦🇺"),
        ("😀", "😀"),
        ("new-lobby", "x" * 1000),
        ("new-lobby", ("Daylight-ゲーム-" * 100)[:1000]),
        # integers
        ("new-lobby", 0), ("new-lobby", -5), ("new-lobby", 1017), ("new-lobby", "1017"),
        ("new-lobby", 1017.0), ("new-lobby", -0.0), ("new-lobby", 42),
        ("new-lobby", 2**53), ("new-lobby", -(2**53)), ("new-lobby", 2**53 - 1), ("new-lobby", "9007199254740992"),
        ("table-rollout", 1017), ("table-rollout", 1018), ("table-rollout", -1),
        # values that count as missing
        ("new-lobby", 2**53 + 2), ("new-lobby", -(2**53 + 2)), ("new-lobby", 1.5), ("new-lobby", 1017.5),
        ("new-lobby", -0.5), ("new-lobby", 1e20), ("new-lobby", True), ("new-lobby", False),
        ("new-lobby", None), ("new-lobby", ["a"]), ("new-lobby", []), ("new-lobby", {}),
        ("new-lobby", {"a": 1}),
        # salts and keys used by the vectors
        ("typical", "u1"), ("typical", "s1"), ("typical", "player-0"), ("typical", "player-1"),
        ("shared-cohort", "member-0"), ("shared-cohort", "member-1"),
    ]
    for (salt, _b), key in sorted(BOUNDARY_KEYS.items()):
        rows.append((salt, key))
    return [{"salt": s, "value": v} for s, v in rows]


# ---------------------------------------------------------------------------
# refused/clauses.json
# ---------------------------------------------------------------------------


def refused_clauses() -> dict:
    """Rulesets every evaluator refuses to compile, each with the path of the
    refused field. The author's expected path is checked against the
    reference's."""
    cases = []

    def refused(name: str, path: str, flags: dict | None = None, segments: dict | None = None) -> None:
        ruleset = {"environment": "test", "version": 1, "flags": flags or {}, "segments": segments or {}}
        ruleset = json.loads(json.dumps(ruleset))
        got = refusal(ruleset)
        if got != path:
            raise SystemExit(f"refusal mismatch in {name!r}: expected {path!r}, reference says {got!r}")
        cases.append({"name": name, "ruleset": ruleset, "path": path})

    def one_clause(c: dict) -> dict:
        return {"f": flag([False, True], rules=[rule("r0", [c], var(1))])}

    refused("a clause with an empty values list (in)", "flags.f.rules[0].clauses[0].values",
            one_clause(clause("game", "in", [])))
    refused("a clause with an empty values list (negated semver_lt)", "flags.f.rules[0].clauses[0].values",
            one_clause(clause("appVersion", "semver_lt", [], negate=True)))
    refused("a segment rule clause with an empty values list", "segments.s.rules[0].clauses[0].values",
            segments={"s": segment(rules=[seg_rule("r0", [clause("country", "in", [])])])})
    refused("a before value with second 60 (a leap second)", "flags.f.rules[0].clauses[0].values[0]",
            one_clause(clause("signup", "before", ["2016-12-31T23:59:60Z"])))
    refused("an after value with second 60 after a valid value", "flags.f.rules[0].clauses[0].values[1]",
            one_clause(clause("signup", "after", [T0, "2016-12-31T23:59:60+01:00"])))
    return {
        "description": "Rulesets every evaluator refuses to compile (and the server refuses at save): "
        "`path` is the refused field. A known operator needs at least one value; a before / after "
        "value must be a valid timestamp, and second 60 (a leap second) is not one.",
        "cases": cases,
    }


def main() -> None:
    files = [operators(), targets_and_rules(), segments(), prerequisites(), rollouts(),
             reasons_and_errors(), typical_flag()]
    write_all(files, bucketing_triples())
    doc = refused_clauses()
    (HERE / "refused").mkdir(exist_ok=True)
    (HERE / "refused" / "clauses.json").write_text(dump(doc), encoding="utf-8")
    print(f"refused/clauses.json: {len(doc['cases'])} cases")
    print(f"total: {sum(len(f.cases) for f in files)} cases")


if __name__ == "__main__":
    main()
