#!/usr/bin/env python3
"""Catch2 test names that ctest cannot run.

catch_discover_tests registers each TEST_CASE under its name, and CMake splits a list on
';': a name holding one becomes two ctest entries that match no test case, so Catch2 runs
nothing and ctest reports them passed. A name may not hold ';'.
Usage: test_names.py ROOT
"""
import pathlib
import re
import sys

CASE = re.compile(r'TEST_CASE\(\s*"((?:[^"\\]|\\.)*)"', re.S)


def main(root: str) -> int:
    problems = []
    for path in pathlib.Path(root).rglob("*.cpp"):
        if any(part in ("node_modules", ".git") or part.startswith("build") for part in path.parts):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in CASE.finditer(text):
            name = m.group(1)
            bad = [c for c in ";" if c in name]
            if bad:
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{path}:{line}: test name holds {' '.join(bad)}: {name}")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} test name(s) ctest would not run; see tests/lint/test_names.py")
        return 1
    print("test names ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
