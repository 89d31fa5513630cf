#!/usr/bin/env python3
"""Lists the longest functions of the daemon's code (actors/src, src), test
code left out (`tests.rs`, `properties.rs`, `#[cfg(test)]` modules).

    scripts/fn-lengths.py [--max N] [--top K]

Exits 1 when a function is longer than N lines (default 120), so it can
guard the limit; prints the K longest (default 10) and the figures.
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
STRING = re.compile(r'b?r#*"(?:.|\n)*?"#*|b?"(?:\\.|[^"\\])*"', re.S)
CHAR = re.compile(r"'(?:\\.|[^'\\])'")


def code_only(text):
    """The text with strings, chars and comments blanked, lines kept."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))
    text = re.sub(r"/\*.*?\*/", blank, text, flags=re.S)
    text = STRING.sub(blank, text)
    text = CHAR.sub(blank, text)
    return re.sub(r"//[^\n]*", blank, text)


def test_ranges(lines):
    """Line ranges of `#[cfg(test)] mod … { … }`."""
    ranges = []
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and re.match(
            r"\s*(pub\s+)?mod\s+\w+\s*\{", lines[i + 1]
        ):
            end = block_end(lines, i + 1)
            ranges.append((i, end))
    return ranges


def block_end(lines, start):
    depth, opened = 0, False
    for j in range(start, len(lines)):
        for ch in lines[j]:
            if ch == "{":
                depth += 1
                opened = True
            elif ch == "}":
                depth -= 1
                if opened and depth == 0:
                    return j
        if not opened and lines[j].rstrip().endswith(";"):
            return j
    return len(lines) - 1


def functions(path):
    lines = code_only(path.read_text()).split("\n")
    skip = test_ranges(lines)
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or any(a <= i <= b for a, b in skip):
            continue
        end = block_end(lines, i)
        yield m.group(6), i + 1, end - i + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=120)
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    found = []
    for folder in ("actors/src", "src"):
        for path in sorted((ROOT / folder).rglob("*.rs")):
            if path.name in ("tests.rs", "properties.rs"):
                continue
            for name, line, length in functions(path):
                found.append((length, f"{path.relative_to(ROOT)}:{line}", name))
    found.sort(reverse=True)
    for length, where, name in found[: args.top]:
        print(f"{length:5} {where} {name}")
    over = [f for f in found if f[0] > args.max]
    lengths = sorted(f[0] for f in found)
    print(
        f"{len(found)} functions; median {lengths[len(lengths) // 2]} lines; "
        f"longest {lengths[-1]}; {len(over)} over {args.max}"
    )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
