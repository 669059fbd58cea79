#!/usr/bin/env python3
"""Hostile input against a running Daylight server, while /healthz is
probed: issue 26's H1 (a public client key sends contexts of 120,000
attributes, 1.5 MB, and bodies of 8 MiB) and H3 (an editor saves regex
rules: ones that fill the flag's compiled-size budget, and 150 rules of
`.{1000}`, far over it). Reports /healthz latency without and with the
attack, and what the attack requests got.

Usage:
    abuse.py --url http://127.0.0.1:8089 --token ADMIN_TOKEN [--seconds 30]

Python 3 standard library only. Loopback targets only.
"""

import argparse
import http.client
import json
import threading
import time
import urllib.parse

PROBE_TIMEOUT_S = 5.0


def request(url, method, path, body=None, headers=None, timeout=60.0):
    """(status, seconds, body bytes); status 0 on a timeout or socket error."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # Answered (413) from the headers and closed while the body was
            # still going out: the answer is waiting to be read.
            pass
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, time.perf_counter() - started, data
    except OSError:
        return 0, time.perf_counter() - started, b""


def admin(url, token, method, path, body):
    status, _, data = request(
        url,
        method,
        path,
        json.dumps(body).encode(),
        {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status} {data[:300]!r}")
    return json.loads(data) if data else None


def setup(url, token):
    """A client-side flag, on, whose rule reads the last of the 120,000
    attributes; and a client key for production."""
    admin(url, token, "POST", "/api/v1/flags", {"key": "abuse", "client_side": True})
    path = "/api/v1/flags/abuse/environments/production"
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    config, etag = json.loads(resp.read()), resp.getheader("ETag")
    conn.close()
    config.update(
        on=True,
        rules=[
            {
                "id": "r",
                "clauses": [{"attribute": "a119999", "op": "in", "values": ["x"]}],
                "serve": {"variation": 1},
            }
        ],
    )
    status, _, data = request(
        url,
        "PUT",
        path,
        json.dumps(config).encode(),
        {"Authorization": "Bearer " + token, "Content-Type": "application/json", "If-Match": etag},
    )
    if status >= 300:
        raise SystemExit(f"configure abuse: {status} {data[:300]!r}")
    key = admin(url, token, "POST", "/api/v1/environments/production/keys", {"kind": "client"})
    return key["secret"]


def attributes_body(n):
    members = ",".join(f'"a{i}":"x"' for i in range(n))
    return ('{"context":{"targetingKey":"u1",' + members + "}}").encode()


def sized_body(size):
    """A context of short attributes filling `size` bytes."""
    parts, i, length = [], 0, len('{"context":{}}')
    while length < size - 32:
        member = f'"attribute-{i}":"value",'
        parts.append(member)
        length += len(member)
        i += 1
    return ('{"context":{' + "".join(parts) + '"last":1}}').encode()


class Probe(threading.Thread):
    """GET /healthz every `interval` s; latencies in ms (a timeout counts
    as PROBE_TIMEOUT_S and as a failure)."""

    def __init__(self, url, interval):
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.samples, self.failures = [], 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            started = time.perf_counter()
            status, seconds, _ = request(self.url, "GET", "/healthz", timeout=PROBE_TIMEOUT_S)
            self.samples.append(seconds * 1000)
            if status != 200:
                self.failures += 1
            self.stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))


class Attacker(threading.Thread):
    def __init__(self, url, key, body, until):
        super().__init__(daemon=True)
        self.url, self.key, self.body, self.until = url, key, body, until
        self.results = []  # (status, seconds)

    def run(self):
        headers = {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"}
        while time.monotonic() < self.until:
            status, seconds, _ = request(self.url, "POST", "/ofrep/v1/evaluate/flags", self.body, headers)
            self.results.append((status, seconds))


class RegexEditor(threading.Thread):
    """An editor saving regex rules to flag `flag` in a loop (GET for the
    ETag, then PUT): `rules` rules of `pattern` each."""

    def __init__(self, url, token, flag, pattern, rules, until):
        super().__init__(daemon=True)
        self.url, self.token, self.flag, self.until = url, token, flag, until
        self.rules = [
            {
                "id": f"r{i}",
                "clauses": [{"attribute": "ua", "op": "matches", "values": [pattern + f"x{i}"]}],
                "serve": {"variation": 1},
            }
            for i in range(rules)
        ]
        self.results = []

    def run(self):
        path = f"/api/v1/flags/{self.flag}/environments/production"
        auth = {"Authorization": "Bearer " + self.token}
        flip = False
        while time.monotonic() < self.until:
            parts = urllib.parse.urlsplit(self.url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            conn.request("GET", path, headers=auth)
            resp = conn.getresponse()
            config, etag = json.loads(resp.read()), resp.getheader("ETag")
            conn.close()
            # Alternate between two rule sets so every save compiles anew.
            flip = not flip
            config.update(on=True, rules=self.rules if flip else self.rules[:1])
            status, seconds, _ = request(
                self.url,
                "PUT",
                path,
                json.dumps(config).encode(),
                {**auth, "Content-Type": "application/json", "If-Match": etag},
            )
            self.results.append((status, seconds))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def probe_line(label, probe):
    s = probe.samples
    return (
        f"| {label} | {len(s)} | {probe.failures} | {percentile(s, 50):.1f} | "
        f"{percentile(s, 99):.1f} | {max(s):.1f} |"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--probe-ms", type=float, default=100)
    args = ap.parse_args()

    key = setup(args.url, args.token)
    big = attributes_body(120_000)
    huge = sized_body(8 * 1024 * 1024 - 1024)
    print(f"bodies: 120,000 attributes = {len(big):,} bytes; 8 MiB = {len(huge):,} bytes")

    quiet = Probe(args.url, args.probe_ms / 1000)
    quiet.start()
    time.sleep(min(10, args.seconds))
    quiet.stop.set()
    quiet.join()

    editor = admin(args.url, args.token, "POST", "/api/v1/tokens", {"name": "abuse-editor", "role": "editor"})["secret"]
    for flag in ("regex-budget", "regex-bomb"):
        admin(args.url, args.token, "POST", "/api/v1/flags", {"key": flag})

    until = time.monotonic() + args.seconds
    attackers = [Attacker(args.url, key, big, until) for _ in range(2)]
    attackers.append(Attacker(args.url, key, huge, until))
    # H3: near the per-flag compiled budget (accepted), and 150 rules of
    # `.{1000}` (refused at save).
    attackers.append(RegexEditor(args.url, editor, "regex-budget", "^.{400}", 4, until))
    attackers.append(RegexEditor(args.url, editor, "regex-bomb", "^.{1000}", 150, until))
    loud = Probe(args.url, args.probe_ms / 1000)
    loud.start()
    for a in attackers:
        a.start()
    for a in attackers:
        a.join()
    loud.stop.set()
    loud.join()

    print()
    print("| /healthz | probes | failed | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    print(probe_line("no attack", quiet))
    print(probe_line("under attack", loud))
    print()
    print("| attack | requests | statuses | mean s | max s |")
    print("|---|---|---|---|---|")
    groups = (
        ("120,000 attributes x2", attackers[:2]),
        ("8 MiB body", attackers[2:3]),
        ("editor: 4 rules of ^.{400}", attackers[3:4]),
        ("editor: 150 rules of ^.{1000}", attackers[4:5]),
    )
    for label, group in groups:
        results = [r for a in group for r in a.results]
        statuses = {}
        for status, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        times = [t for _, t in results]
        mean = sum(times) / len(times) if times else float("nan")
        status_text = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        print(f"| {label} | {len(results)} | {status_text} | {mean:.3f} | {max(times, default=float('nan')):.3f} |")


if __name__ == "__main__":
    main()
