#!/usr/bin/env python3
"""Where the memory live at the peak was allocated, from a dhat-heap.json (a `strata` built with
`--features dhat-heap`): the allocation sites holding the most bytes at the global peak, each named
by its first frames in Strata's own code (or the first frame outside the allocator otherwise).

Usage: bench/dhat_peak.py dhat-heap.json [sites] [per_unit]
       per_unit divides the bytes (e.g. 1000 streams -> bytes per stream)."""
import json
import re
import sys
from collections import defaultdict

path = sys.argv[1]
sites = int(sys.argv[2]) if len(sys.argv) > 2 else 25
unit = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
with open(path) as f:
    data = json.load(f)
frames = data["ftbl"]
SKIP = re.compile(r"alloc::|core::|dhat::|<alloc::|__rust|std::alloc|<dhat|hashbrown::raw|RawVec|bytes::bytes_mut::BytesMut::reserve")


def name(pp):
    """The first two frames past the allocator, preferring Strata's own and hyper's."""
    chain = [frames[i] for i in pp["fs"]]
    ours = [f for f in chain if "strata" in f]
    picked = [f for f in chain if not SKIP.search(f.split(": ", 1)[-1])][:2]
    text = " <- ".join(re.sub(r"^0x[0-9a-f]+: ", "", f)[:110] for f in picked)
    if ours and ours[0] not in picked:
        text += "  [in " + re.sub(r"^0x[0-9a-f]+: ", "", ours[0])[:90] + "]"
    return text


total = sum(pp.get("gb", 0) for pp in data["pps"])
grouped = defaultdict(lambda: [0, 0])
for pp in data["pps"]:
    if pp.get("gb", 0):
        g = grouped[name(pp)]
        g[0] += pp["gb"]
        g[1] += pp.get("gbk", 0)
print(f"live at the global peak: {total / 1024 / 1024:.1f} MiB"
      + (f" ({total / unit / 1024:.1f} KiB per unit of {unit:g})" if unit != 1 else ""))
print(f"{'KiB' + (' per unit' if unit != 1 else ''):>16} {'blocks':>9}  site")
for site, (b, n) in sorted(grouped.items(), key=lambda kv: -kv[1][0])[:sites]:
    print(f"{b / unit / 1024:16.2f} {n / unit:9.1f}  {site}")
