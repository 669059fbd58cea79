#!/usr/bin/env python3
"""Markdown tables from bench/load/run.sh results (one JSON per run).

    python3 bench/load/report.py [/tmp/load-results]

Latencies are from just before the admin API call (or POST /broadcast) to
the moment each connection received the patch/changed message. "p99" is the
median over the changes of each change's p99 (robust to one disturbed
change); "pooled p99" pools every connection of every change.
"""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/load-results"
runs = {}
for name in sorted(os.listdir(out)):
    if name.endswith(".json"):
        try:
            runs[name[:-5]] = json.load(open(os.path.join(out, name)))
        except (ValueError, OSError):
            pass


def f(x, nd=0):
    if x is None:
        return "–"
    return f"{x:,.{nd}f}"


def tries(name):
    try:
        return int(open(os.path.join(out, name + ".try")).read())
    except (OSError, ValueError):
        return 1


def row(label, d, bare=None):
    o = d["overall"]
    mem = d["memory"]["per_idle_connection_kib"]
    if tries(label) > 1:
        mem = None  # a repeated run reuses the server: its idle RSS is not fresh
    ratio = ""
    if bare:
        b = bare["overall"]
        ratio = f'{o["p99_median_of_changes_ms"] / b["p99_median_of_changes_ms"]:.2f} / {o["last_has_it_median_ms"] / b["last_has_it_median_ms"]:.2f}'
    return (
        f'| {label} | {d["connected"]:,} | {f(o["p50_ms"])} | {f(o["p99_median_of_changes_ms"])} | {f(o["p99_ms"])} '
        f'| {f(o["max_ms"])} | {f(o["last_has_it_median_ms"])} | {f(d["connect"]["p50_ms"])} / {f(d["connect"]["p99_ms"])} '
        f'| {f(d["connect"]["total_s"], 1)} | {f(mem, 1)} '
        f'| {f(o["server_cpu_ms_per_change_median"])} ({f(o["server_cpu_us_per_connection_per_change"], 1)}) | {ratio} |'
    )


HEAD = (
    "| run | connected | p50 ms | p99 ms | pooled p99 ms | max ms | last has it (median) ms | connect p50 / p99 ms "
    "| all connected s | KiB per idle conn | server CPU per change ms (µs/conn) | Daylight/bare p99 / last |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)

print(HEAD)
pairs = {}
for name, d in runs.items():
    if d["target"] == "daylight" and "-daylight" in name:
        bare_name = name.replace("-daylight", "-bare")
        if "flags" in name:
            bare_name = "client-10000-bare"
        pairs[name] = runs.get(bare_name)
for name, d in runs.items():
    print(row(name, d, pairs.get(name)))

print()
for name, d in runs.items():
    if len(d.get("nodes", [])) > 1 and "by_node" in d:
        print(f"{name} by node: " + "; ".join(
            f'{n["node"]}: p50 {f(n["p50_ms"])} p99 {f(n["p99_ms"])} last (median) {f(n["last_has_it_median_ms"])} ms'
            for n in d["by_node"]))
