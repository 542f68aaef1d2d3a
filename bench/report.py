#!/usr/bin/env python3
"""Folds the figures every benchmark prints into one table (standard library only).

Each benchmark prints, beside its own human-readable table, one machine-readable line per
measurement (one round of one thing):

    @fig <TAB> section <TAB> what <TAB> unit <TAB> value

and one line per comparison it wants made:

    @ref <TAB> section <TAB> what <TAB> reference what <TAB> label

A comparison is made between medians and says how much better `what` does than its
reference: for a rate (a unit ending in "/s") it is what / reference, for a cost (ns, us,
ms, s, bytes) reference / what, so that 11.6x means "11.6 times better" and 87% means "87%
as good" whatever the unit. Counts (the unit "calls", "requests", ...) are compared as
they are: what / reference.

    bench/report.py target/bench-raw.txt     # prints the markdown table
"""

import statistics
import sys

COST_UNITS = {"ns", "us", "µs", "ms", "s", "B", "bytes", "KiB", "MiB"}


def performance(unit, value):
    if unit.endswith("/s"):
        return value
    if unit in COST_UNITS:
        return 1.0 / value if value else float("inf")
    return value


def fmt_value(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_ratio(r):
    if r != r or r == float("inf"):
        return "n/a"
    if r < 1:
        return f"{r * 100:.1f}%"
    if r < 10:
        return f"{r:.2f}x"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x"


def main(paths):
    figs = {}  # (section, what) -> (unit, [values])
    order = []
    refs = []  # (section, what, ref, label)
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if parts[0] == "@fig" and len(parts) == 5:
                    _, section, what, unit, value = parts
                    try:
                        v = float(value)
                    except ValueError:
                        continue
                    key = (section, what)
                    if key not in figs:
                        figs[key] = (unit, [])
                        order.append(key)
                    figs[key][1].append(v)
                elif parts[0] == "@ref" and len(parts) == 5:
                    refs.append(tuple(parts[1:]))

    ratios = {}
    for section, what, ref, label in refs:
        a, b = figs.get((section, what)), figs.get((section, ref))
        if not a or not b:
            continue
        pa = performance(a[0], statistics.median(a[1]))
        pb = performance(b[0], statistics.median(b[1]))
        r = pa / pb if pb else float("nan")
        ratios.setdefault((section, what), []).append(f"{label} {fmt_ratio(r)}")

    print("| benchmark | what | unit | min | median | max | runs | compared |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    last = None
    for key in order:
        section, what = key
        unit, values = figs[key]
        shown = section if section != last else ""
        last = section
        print(
            f"| {shown} | {what} | {unit} | {fmt_value(min(values))} | "
            f"{fmt_value(statistics.median(values))} | {fmt_value(max(values))} | "
            f"{len(values)} | {'; '.join(ratios.get(key, []))} |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: bench/report.py FILE...")
    main(sys.argv[1:])
