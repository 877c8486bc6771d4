"""Summarise a profile `python -m bench --profile DIR` wrote (py-spy `--format raw --threads
--idle`: one collapsed stack per line) as text: wall seconds per thread, then the functions of
one thread (the main one by default) with the most inclusive wall time.

    python -m bench.flame DIR/function-HHMMSS.txt [--thread MainThread] [--top 40]
"""

from __future__ import annotations

import argparse
from collections import Counter

RATE = 250  # samples per second, as bench/__main__.py asks py-spy for
_PLUMBING = ("<frozen", "runpy", "bench/child.py", "werkzeug/", "flask/", "functions_framework/")


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:12)` → `func (file path after site-packages)`."""
    func, _, where = frame.partition(" (")
    return f"{func} ({where.split(':')[0].split('site-packages/')[-1].rstrip(')')})"


def summarise(lines: list[str], thread: str, top: int) -> str:
    stacks: list[tuple[str, list[str], int]] = []
    names: dict[str, str] = {}  # thread id → name (py-spy names a thread on some lines only)
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit() or not stack.startswith("thread ("):
            continue
        head, *frames = stack.split(";")
        ident, _, name = head.removeprefix("thread (").partition(")")
        if name.strip(": "):
            names[ident] = name.strip(": ")
        stacks.append((ident, frames, int(count)))
    per_thread, inclusive = Counter(), Counter()
    for ident, frames, samples in stacks:
        name = names.get(ident, ident)
        per_thread[name] += samples
        if name.startswith(thread):
            for function in dict.fromkeys(map(frame_name, frames)):
                if not any(part in function for part in _PLUMBING):
                    inclusive[function] += samples
    out = ["wall seconds per thread:"]
    out += [f"  {n / RATE:7.2f}  {name}" for name, n in per_thread.most_common(12)]
    out += [f"\n{thread}: inclusive wall seconds"]
    out += [f"  {n / RATE:7.2f}  {function}" for function, n in inclusive.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flame", description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--thread", default="MainThread", help="thread name prefix (MainThread)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    with open(args.profile) as handle:
        print(summarise(handle.readlines(), args.thread, args.top))


if __name__ == "__main__":
    main()
