#!/usr/bin/env python3
"""Compare Unleash Edge's and Daylight's bulk answers for one context.

Usage: compare.py UNLEASH_FILE EDGE_FRONTEND.json DAYLIGHT_OFREP_BULK.json [USER_ID]

EDGE_FRONTEND.json is the body of `GET /api/frontend?userId=u1&properties[game]=omaha`
(only enabled toggles are listed); DAYLIGHT_OFREP_BULK.json is the body of
`POST /ofrep/v1/evaluate/flags` for {"targetingKey": "u1", "game": "omaha"}
(every client-side flag with its value). A flag is "on" in Daylight when its
value is `true` or a non-boolean variation (the blue/green flags).

Percentage rollouts hash different strings in the two products (Unleash:
murmur3("groupId:userId") % 100 + 1 <= pct, variants with seed 86028157;
Daylight: murmur3("salt.key") % 100000), so a given user may land on
different sides. Each server is therefore also checked against its own
bucketing formula; only a difference that neither formula explains is an
error (exit 1).
"""

import json
import sys


def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & 0xFFFFFFFF
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
        h = ((h << 13) | (h >> 19)) & 0xFFFFFFFF
        h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    tail = data[n:]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def unleash_expected(feature, user, game):
    """(on, variant name or None) by Unleash's rules, for the patterns used."""
    if not feature.get("enabled", True):
        return False, None
    on = False
    for s in feature["strategies"]:
        ok = True
        for c in s.get("constraints", []):
            value = user if c["contextName"] == "userId" else (game if c["contextName"] == "game" else None)
            hit = value is not None and value in c["values"]
            ok = ok and (hit != bool(c.get("inverted")))
        if not ok:
            continue
        p = s.get("parameters", {})
        if s["name"] == "default":
            on = True
        elif s["name"] == "userWithId":
            on = user in [u.strip() for u in p["userIds"].split(",")]
        elif s["name"] == "flexibleRollout":
            group = p.get("groupId", feature["name"])
            on = murmur3_32(f"{group}:{user}".encode()) % 100 + 1 <= int(p["rollout"])
        if on:
            break
    variant = None
    variants = feature.get("variants") or []
    if on and variants:
        total = sum(v["weight"] for v in variants)
        target = murmur3_32(f"{feature['name']}:{user}".encode(), 86028157) % total + 1
        acc = 0
        for v in variants:
            acc += v["weight"]
            if target <= acc:
                variant = v["name"]
                break
    return on, variant


def daylight_expected(create, config, user, game):
    """The value Daylight's contract gives (docs/flag-format.md)."""
    variations = create["variations"]
    for t in config["targets"]:
        if user in t["values"]:
            return variations[t["variation"]]
    for r in config["rules"]:
        if all((game in c["values"]) != c.get("negate", False) for c in r["clauses"] if c["attribute"] == "game"):
            return variations[r["serve"]["variation"]]
    ft = config["fallthrough"]
    if "variation" in ft:
        return variations[ft["variation"]]
    ro = ft["rollout"]
    bucket = murmur3_32(f"{ro.get('salt', create['key'])}.{user}".encode()) % 100000
    acc = 0
    for wv in ro["variations"]:
        acc += wv["weight"]
        if acc > bucket:
            return variations[wv["variation"]]
    return None


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    sys.dont_write_bytecode = True  # no __pycache__ in the repository
    import setup  # the same translation the loader used

    features = json.load(open(sys.argv[1]))["features"]
    edge = {t["name"]: t for t in json.load(open(sys.argv[2]))["toggles"]}
    daylight = {f["key"]: f for f in json.load(open(sys.argv[3]))["flags"]}
    user = sys.argv[4] if len(sys.argv) > 4 else "u1"
    game = "omaha"

    same = differ_hash = errors = 0
    rows = []
    for feature in features:
        name = feature["name"]
        e_on = name in edge and edge[name].get("enabled", True)
        e_variant = edge[name].get("variant", {}).get("name") if name in edge else None
        if e_variant == "disabled":
            e_variant = None
        d = daylight.get(name)
        d_value = d.get("value") if d else None
        d_on = d_value is True or (d_value is not None and not isinstance(d_value, bool))
        u_on, u_variant = unleash_expected(feature, user, game)
        create, config = setup.translate(feature)
        d_exp = daylight_expected(create, config, user, game)
        edge_ok = (e_on, e_variant) == (u_on, u_variant)
        day_ok = d is not None and d_value == d_exp
        agree = e_on == d_on and (e_variant is None or e_variant == d_value)
        if not (edge_ok and day_ok):
            errors += 1
            status = "ERROR"
        elif agree:
            same += 1
            status = "same"
        else:
            differ_hash += 1
            status = "differ (bucketing hash)"
        rows.append((name, e_on, e_variant, d_value, status))

    extra = sorted(set(daylight) - {f["name"] for f in features})
    shown = [r for r in rows if r[4] != "same"][:20]
    print(f"  {'flag':<22} {'edge on':<8} {'edge variant':<13} {'daylight value':<15} verdict")
    for name, e_on, e_var, d_val, status in rows[:5] + [r for r in shown if r not in rows[:5]]:
        print(f"  {name:<22} {str(e_on):<8} {str(e_var):<13} {json.dumps(d_val):<15} {status}")
    edge_on = sum(1 for r in rows if r[1])
    day_on = sum(1 for r in rows if r[3] is True or (r[3] is not None and not isinstance(r[3], bool)))
    print(f"  flags: {len(rows)}; on in Edge: {edge_on}; on in Daylight: {day_on}; "
          f"same answer: {same}; differ only by rollout bucketing: {differ_hash}; unexplained: {errors}; "
          f"extra flags in Daylight: {len(extra)}")
    sys.exit(1 if errors or extra else 0)


if __name__ == "__main__":
    main()
