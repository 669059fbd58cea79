#!/usr/bin/env python3
"""Load a running Daylight server with the equivalent of an Unleash
client-features file (the peers' `unleash-features-{5,350}.json`).

Usage:
    setup.py --url http://127.0.0.1:8088 --token ADMIN_TOKEN \
             --unleash-file unleash-features-350.json [--env production]
    setup.py --url ... --token ... --size 350        # same flags, no file needed

Every feature becomes a `client_side` Daylight flag of the same name, turned
on in the environment. The five Unleash patterns map as follows:

    default strategy, no constraints      -> fallthrough serves `true`
    flexibleRollout R%, stickiness userId -> fallthrough rollout false/true
                                             (100-R)/R, bucketed by `key`
                                             (the OFREP targetingKey), salt =
                                             the Unleash groupId
    default + `game IN [..]` constraint   -> rule game in [..] serves `true`
    userWithId u1..u100                   -> targets u1..u100 serve `true`
    default + variants blue/green 50/50   -> variations ["blue","green"],
                                             fallthrough rollout 50/50

Then it creates one client key and one server key for the environment and
prints them as `CLIENT_KEY=...` and `SERVER_KEY=...` lines (stdout).
Python 3 standard library only.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request

PATTERN = ["plain-default", "rollout-50", "game-constraint", "user-with-id", "variants-ab"]


class Api:
    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, resp.headers, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read().decode(errors="replace")
            sys.exit(f"setup.py: {method} {path} -> {e.code}: {raw}")


def synthetic_features(size):
    """The same names, strategies and groupIds as the peers' files."""
    if size % 5:
        sys.exit("setup.py: --size must be a multiple of 5")
    ids = ",".join(f"u{i}" for i in range(1, 101))
    out = []
    for group in range(size // 5):
        sfx = "" if group == 0 else f"-{group}"
        default = {"name": "default", "parameters": {}, "constraints": []}
        out += [
            {"name": "plain-default" + sfx, "enabled": True, "strategies": [default], "variants": []},
            {"name": "rollout-50" + sfx, "enabled": True, "variants": [], "strategies": [{
                "name": "flexibleRollout", "constraints": [],
                "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "rollout-50" + sfx}}]},
            {"name": "game-constraint" + sfx, "enabled": True, "variants": [], "strategies": [{
                "name": "default", "parameters": {}, "constraints": [{
                    "contextName": "game", "operator": "IN", "values": ["omaha", "holdem"],
                    "inverted": False, "caseInsensitive": False}]}]},
            {"name": "user-with-id" + sfx, "enabled": True, "variants": [], "strategies": [{
                "name": "userWithId", "parameters": {"userIds": ids}, "constraints": []}]},
            {"name": "variants-ab" + sfx, "enabled": True, "strategies": [default], "variants": [
                {"name": "blue", "weight": 500, "payload": {"type": "string", "value": "blue"}},
                {"name": "green", "weight": 500, "payload": {"type": "string", "value": "green"}}]},
        ]
    return out


def clause_of(constraint):
    if constraint["operator"] != "IN":
        sys.exit(f"setup.py: unsupported constraint operator {constraint['operator']}")
    attribute = constraint["contextName"]
    if attribute == "userId":
        attribute = "key"
    return {
        "attribute": attribute,
        "op": "in",
        "values": constraint["values"],
        "negate": bool(constraint.get("inverted", False)),
        "case_insensitive": bool(constraint.get("caseInsensitive", False)),
    }


def translate(feature):
    """(create body, production config) for one Unleash feature."""
    name = feature["name"]
    strategies = feature.get("strategies", [])
    if len(strategies) != 1:
        sys.exit(f"setup.py: {name}: expected exactly one strategy, got {len(strategies)}")
    s = strategies[0]
    variants = feature.get("variants") or []
    variations = [False, True]
    config = {"on": False, "off_variation": 0, "prerequisites": [], "targets": [], "rules": [],
              "fallthrough": {"variation": 0}}
    if variants:
        if s["name"] != "default" or s.get("constraints"):
            sys.exit(f"setup.py: {name}: variants only supported on a plain default strategy")
        variations = [v["payload"]["value"] for v in variants]
        total = sum(v["weight"] for v in variants)
        weights = [v["weight"] * 100000 // total for v in variants]
        weights[-1] += 100000 - sum(weights)
        config["fallthrough"] = {"rollout": {"variations": [
            {"variation": i, "weight": w} for i, w in enumerate(weights)]}}
    elif s["name"] == "default":
        if s.get("constraints"):
            config["rules"] = [{"id": "constraints", "clauses": [clause_of(c) for c in s["constraints"]],
                                "serve": {"variation": 1}}]
        else:
            config["fallthrough"] = {"variation": 1}
    elif s["name"] == "flexibleRollout":
        p = s["parameters"]
        if p.get("stickiness", "default") not in ("userId", "default"):
            sys.exit(f"setup.py: {name}: stickiness {p['stickiness']} not supported")
        pct = int(p["rollout"])
        rollout = {"variations": [{"variation": 0, "weight": (100 - pct) * 1000},
                                  {"variation": 1, "weight": pct * 1000}]}
        if p.get("groupId") and p["groupId"] != name:
            rollout["salt"] = p["groupId"]
        config["fallthrough"] = {"rollout": rollout}
        if s.get("constraints"):
            sys.exit(f"setup.py: {name}: constrained rollouts not supported")
    elif s["name"] == "userWithId":
        ids = [u.strip() for u in s["parameters"]["userIds"].split(",") if u.strip()]
        config["targets"] = [{"variation": 1, "values": ids}]
    else:
        sys.exit(f"setup.py: {name}: unsupported strategy {s['name']}")
    create = {"key": name, "name": name, "variations": variations, "client_side": True}
    return create, config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True, help="admin token")
    ap.add_argument("--env", default="production")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--unleash-file", help="an Unleash client-features JSON document")
    src.add_argument("--size", type=int, help="generate the 5-flag pattern N/5 times")
    args = ap.parse_args()

    if args.unleash_file:
        with open(args.unleash_file) as f:
            features = json.load(f)["features"]
    else:
        features = synthetic_features(args.size)

    api = Api(args.url, args.token)
    env = args.env
    for n, feature in enumerate(features, 1):
        create, config = translate(feature)
        key = create["key"]
        api.call("POST", "/api/v1/flags", create)
        _, headers, _ = api.call("GET", f"/api/v1/flags/{key}/environments/{env}")
        etag = headers.get("ETag")
        api.call("PUT", f"/api/v1/flags/{key}/environments/{env}", config, {"If-Match": etag})
        if feature.get("enabled", True):
            api.call("POST", f"/api/v1/flags/{key}/environments/{env}/toggle", {"on": True})
        if n % 50 == 0:
            print(f"setup.py: {n}/{len(features)} flags", file=sys.stderr)
    print(f"setup.py: created {len(features)} flags in {env}", file=sys.stderr)

    keys = {}
    for kind in ("client", "server"):
        _, _, body = api.call("POST", f"/api/v1/environments/{env}/keys", {"kind": kind, "name": f"ofrep-bench-{kind}"})
        keys[kind] = body["secret"]
    print(f"CLIENT_KEY={keys['client']}")
    print(f"SERVER_KEY={keys['server']}")


if __name__ == "__main__":
    main()
