#!/usr/bin/env python3
"""Print how long a running server's sequencer held the write path, from its /metrics
(`warrant_store_write_seconds`): per kind of write, the count, the mean, and the bucket bound under which
half, 99 %, 99.9 % and all of the writes finished. Usage: bench/write_times.py URL"""
import re
import sys
import urllib.request

text = urllib.request.urlopen(sys.argv[1] + "/metrics").read().decode()
kinds = {}
events = 0
for line in text.splitlines():
    match = re.match(r'warrant_store_write_seconds_(bucket|sum|count)\{kind="(\w+)"(?:,le="([^"]+)")?\} (\S+)', line)
    if match:
        part, kind, bound, value = match.groups()
        entry = kinds.setdefault(kind, {"buckets": [], "sum": 0.0, "count": 0})
        if part == "bucket" and bound != "+Inf":
            entry["buckets"].append((float(bound), int(value)))
        elif part == "sum":
            entry["sum"] = float(value)
        elif part == "count":
            entry["count"] = int(value)
    elif line.startswith("warrant_store_group_committed_events_total "):
        events = int(line.split()[1])


def within(entry, share):
    for bound, below in entry["buckets"]:
        if below >= share * entry["count"]:
            return f"<= {bound * 1000:g} ms"
    return "> the largest bucket"


for kind, entry in kinds.items():
    if entry["count"] == 0:
        continue
    each = f", {events / entry['count']:.1f} events each" if kind == "append" else ""
    print(f"sequencer `{kind}` writes: {entry['count']}{each}, mean {entry['sum'] * 1000 / entry['count']:.2f} ms, "
          f"p50 {within(entry, 0.5)}, p99 {within(entry, 0.99)}, p99.9 {within(entry, 0.999)}, "
          f"max {within(entry, 1.0)}")
