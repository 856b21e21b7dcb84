"""Where an enrollment flow's time goes: the in-process floor of ``bench_server.py`` under pyinstrument.

    .venv/bin/python bench/profile_floor.py [--flows N] [--database-url URL] [--smoke]

Prints pyinstrument's call tree (text) for ``--flows`` flows and, below it, the functions with the most
*self* time aggregated over the whole tree — the hot spots to act on. pyinstrument is a ``bench`` extra.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from typing import Any

import bench_server


def self_times(frame: Any, totals: Counter[str]) -> None:
    """Aggregate pyinstrument's self time per ``file:function`` over the tree below ``frame``."""
    if frame is None:
        return
    children = [child for child in frame.children if child.function != "[self]"]
    path = frame.file_path or "?"
    for marker in ("site-packages/", "/src/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    # inclusive time minus the real children: the frame's own time (pyinstrument's "[self]" nodes included)
    totals[f"{path}:{frame.function}"] += frame.time - sum(child.time for child in children)
    for child in children:
        self_times(child, totals)


def main() -> int:
    from pyinstrument import Profiler

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    flows = 5 if args.smoke else args.flows
    profiler = Profiler(interval=0.0005)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/floor.db"
        profiler.start()
        summary = bench_server.in_process_floor(url, flows, 120)
        profiler.stop()
    print(summary)
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    totals: Counter[str] = Counter()
    self_times(root, totals)
    whole = sum(totals.values()) or 1.0
    print("top self time (file:function, share of profiled time):")
    for key, seconds in totals.most_common(25):
        print(f"  {seconds / whole:6.1%}  {seconds:8.3f} s  {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
