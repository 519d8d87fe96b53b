#!/usr/bin/env python3
"""Fails when a co_await operand builds a temporary that GCC 12 may relocate bitwise.

GCC 12 miscompiles class-type temporaries created inside a co_await expression from
values that live in the coroutine frame: a lambda with by-value captures, or a braced
initialiser such as `T{a, b}`, is built by copying bits, so both copies own the same
heap memory and it is freed twice (see the note on bus::request_options). The cure is
to name the value first:

    auto job = [rows](store::database& db) { ... };
    auto r = co_await store.run(std::move(job));

Lambdas without captures or with reference captures only are safe and allowed.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
DIRS = ["src", "include", "modules", "tests", "benchmarks"]


def strip_comments_and_strings(text: str) -> str:
    # Keep offsets (and so line numbers) by blanking rather than deleting.
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    pattern = r'//[^\n]*|/\*.*?\*/|R"(\w*)\(.*?\)\1"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
    return re.sub(pattern, blank, text, flags=re.S)


def operand(text: str, start: int) -> str:
    depth = 0
    for j in range(start, len(text)):
        c = text[j]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return text[start:j]
        elif c == ";" and depth == 0:
            return text[start:j]
    return text[start:]


def capture_copies(captures: str) -> bool:
    items = [c.strip() for c in captures.split(",") if c.strip()]
    return any(not c.startswith("&") and c != "this" for c in items)


def problems(path: pathlib.Path):
    text = strip_comments_and_strings(path.read_text(encoding="utf-8", errors="replace"))
    for m in re.finditer(r"\bco_await\b", text):
        expr = operand(text, m.end())
        line = text.count("\n", 0, m.start()) + 1
        for lam in re.finditer(r"\[([^\[\]]*)\]\s*(?:\(|\{|mutable|->)", expr):
            before = expr[: lam.start()].rstrip()
            if before and (before[-1].isalnum() or before[-1] in "_)]"):
                continue  # a subscript, not a lambda
            if capture_copies(lam.group(1)):
                yield line, f"lambda with by-value captures [{lam.group(1).strip()}]"
        for brace in re.finditer(r"[A-Za-z_>]\s*\{(?!\s*\})", expr):
            yield line, "braced temporary " + " ".join(expr[max(0, brace.start() - 30): brace.end() + 20].split())


def main() -> int:
    found = 0
    for d in DIRS:
        for path in sorted((ROOT / d).rglob("*.[ch]pp")):
            for line, what in problems(path):
                print(f"{path.relative_to(ROOT)}:{line}: co_await operand builds a {what}; name it first")
                found += 1
    if found:
        print(f"{found} co_await operand(s) to fix (GCC 12 coroutine temporaries, see this script's docstring)")
        return 1
    print("co_await operands ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
