#!/usr/bin/env python3
"""Checks the house rules of STYLE.md that a script can check cheaply.

Usage: module_rules.py [ROOT]   (ROOT defaults to the repository holding this script)
Prints one `path:line: [rule] why` per problem and exits 1 when there is any.

A module is a folder modules/<name>/ with a CMakeLists.txt; its door is
include/<name>/api.hpp and its door target agora_<name>_api. "Module code" is a module's
src/ and include/; its tools/ and tests/ are programs and tests, exempt from the rules on
output and SQLite. "Production code" is module code plus the core (src/, include/) and
modules/*.cpp (the registry). "The store" is src/store/ and its public header
include/agora/store.hpp, which names the sqlite3 handle types: the one place that may speak
SQLite; a module's own store.cpp goes through agora::store.

Rules:
  pragma-once            a header's first line of code is `#pragma once`
  banner                 no banner comments (a run of = - * / # ~)
  sqlite-outside-store   no sqlite3_* / SQLITE_* / <sqlite3.h> in production code
                         outside the store (tests may read a module's file directly)
  console-output         no std::cout/cerr/clog, printf-family or fmt::print in module
                         code: modules log through agora::log
  module-internals       no include of another module's header other than <name/api.hpp>,
                         nor of any path into another module's folder (core and tests
                         included); a quoted "service.hpp" from another module cannot be
                         seen here, the build refuses it (tests/boundary)
  door-includes          a door includes no <agora/...> header but the door-safe value types
                         of values/include/ (agora_values), and no Beast or SQLite header:
                         its target carries none of them (tests/boundary proves the build
                         agrees)
  undeclared-dependency  a module that calls another module's bus method
                         (call<other::method>, request("other.method", ...)) or includes its
                         door declares .depends_on("other") in its module declaration
  unknown-dependency     depends_on names a module that exists
  module-declaration     a module declares itself once, module_decl<...>(...) with its
                         folder's name
  module-namespace       module code opens, at file scope, only namespace agora::<name>
                         (or one inside it), an anonymous namespace, an alias, or a
                         namespace agora holding only forward declarations
  cmake-door             a module's CMake defines its door target agora_<name>_api
  cmake-internals        a module's CMake links no other module's target but its door, and
                         names no path into another module's folder

Not checked, and why: that a detached co_spawn has an owner (the two there are today are
owned by a counter and a connection, which a script cannot see); commented-out code
(no cheap test that does not also flag prose).
"""
import pathlib
import re
import sys

CPP = {".cpp", ".hpp", ".h", ".cc"}
HEADERS = {".hpp", ".h"}
TREES = ["src", "include", "modules", "tests", "benchmarks"]


def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def strip_comments(text):
    """Blanks comments (keeping offsets, so line numbers) and leaves strings."""
    pattern = r'(//[^\n]*|/\*.*?\*/)|(R"(\w*)\(.*?\)\3"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')'
    return re.sub(pattern, lambda m: blank(m) if m.group(1) else m.group(0), text, flags=re.S)


def strip_strings(text):
    """Blanks string and character literals of comment-free text."""
    pattern = r'R"(\w*)\(.*?\)\1"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
    return re.sub(pattern, blank, text, flags=re.S)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def includes(code):
    """(line, target) of each #include in comment-free text."""
    for m in re.finditer(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', code, flags=re.M):
        yield line_of(code, m.start()), m.group(2).strip()


class tree:
    def __init__(self, root):
        self.root = root
        base = root / "modules"
        self.modules = sorted(p.name for p in base.iterdir() if (p / "CMakeLists.txt").is_file()) if base.is_dir() else []
        self.files = []
        for d in TREES:
            if (root / d).is_dir():
                self.files += sorted(p for p in (root / d).rglob("*") if p.suffix in CPP and p.is_file())
        self.texts = {}

    def rel(self, path):
        return path.relative_to(self.root).as_posix()

    def read(self, path):
        if path not in self.texts:
            raw = path.read_text(encoding="utf-8", errors="replace")
            code = strip_comments(raw)
            self.texts[path] = (raw, code, strip_strings(code))
        return self.texts[path]

    def module_of(self, path):
        """(module, part) for a file in modules/<m>/<part>/..., else (None, None)."""
        parts = path.relative_to(self.root).parts
        if len(parts) >= 3 and parts[0] == "modules" and parts[1] in self.modules:
            return parts[1], parts[2]
        return None, None

    def is_module_code(self, path):
        m, part = self.module_of(path)
        return m is not None and part in ("src", "include")

    def is_production(self, path):
        parts = path.relative_to(self.root).parts
        if parts[0] in ("src", "include"):
            return True
        if parts[0] == "modules":
            return len(parts) == 2 or self.is_module_code(path)
        return False

    def is_store(self, path):
        r = self.rel(path)
        return r.startswith("src/store/") or r == "include/agora/store.hpp"


def check_headers(t, out):
    for path in t.files:
        raw, code, _ = t.read(path)
        if path.suffix in HEADERS:
            first = next((ln.strip() for ln in code.splitlines() if ln.strip()), "")
            if first != "#pragma once":
                out.append((path, 1, "pragma-once", "a header starts with #pragma once"))
        for m in re.finditer(r"^[ \t]*(//|/\*)[ \t]*([=*/#~-])\2{3,}", raw, flags=re.M):
            out.append((path, line_of(raw, m.start()), "banner", "no banner comments"))


SQLITE = re.compile(r"\bsqlite3\w*|\bSQLITE_\w+")
CONSOLE = re.compile(r"\bstd::(?:cout|cerr|clog)\b|(?<![\w.>])(?:std::)?(?:printf|puts|fprintf|fputs|putchar|perror"
                     r"|vprintf|vfprintf)\s*\(|\bfmt::print(?:ln)?\s*\(")


def check_calls(t, out):
    for path in t.files:
        _, _, bare = t.read(path)
        if t.is_production(path) and not t.is_store(path):
            for m in SQLITE.finditer(bare):
                out.append((path, line_of(bare, m.start()), "sqlite-outside-store",
                            f"`{m.group(0)}` outside the store (src/store/): go through agora::store"))
        if t.is_module_code(path):
            for m in CONSOLE.finditer(bare):
                what = " ".join(m.group(0).rstrip("(").split())
                out.append((path, line_of(bare, m.start()), "console-output",
                            f"`{what}` in module code: log through agora::log"))


def other_module_of_include(t, target, own):
    """The module whose internals an include names, or None when it is allowed."""
    norm = re.sub(r"^(\.\./)+", "", target)
    m = re.search(r"(?:^|/)modules/(\w+)(?:/|$)", target)
    if m and m.group(1) in t.modules and m.group(1) != own:
        return m.group(1)
    first = norm.split("/")[0]
    if first in t.modules and first != own and "/" in norm:
        rest = norm.split("/", 1)[1]
        if rest != "api.hpp" or target != norm:
            return first
    return None


def check_includes(t, out):
    for path in t.files:
        own, part = t.module_of(path)
        _, code, _ = t.read(path)
        for line, target in includes(code):
            other = other_module_of_include(t, target, own)
            if other:
                out.append((path, line, "module-internals",
                            f"includes {target}: another module's internals ({other}); use <{other}/api.hpp>"))
    for name in t.modules:
        door = t.root / "modules" / name / "include" / name / "api.hpp"
        if not door.is_file():
            continue
        _, code, _ = t.read(door)
        for line, target in includes(code):
            if (t.root / "values" / "include" / target).is_file():
                continue
            if target.startswith(("agora/", "boost/beast")) or target == "sqlite3.h":
                out.append((door, line, "door-includes",
                            f"the door includes <{target}>: a door carries only values (its target has no runtime)"))


def module_files(t, name):
    return [p for p in t.files if t.module_of(p)[0] == name and t.is_module_code(p)]


def check_dependencies(t, out):
    for name in t.modules:
        files = module_files(t, name)
        declared, decls = set(), []
        for path in files:
            _, code, bare = t.read(path)
            for m in re.finditer(r'\.\s*depends_on\s*\(\s*"([^"]*)"', code):
                declared.add(m.group(1))
                if m.group(1) not in t.modules:
                    out.append((path, line_of(code, m.start()), "unknown-dependency",
                                f'depends_on("{m.group(1)}"): no such module under modules/'))
            for m in re.finditer(r'\bmodule_decl\s*<[^<>;]*>\s*\w*\s*[({]\s*"([^"]*)"', code):
                decls.append((path, line_of(code, m.start()), m.group(1)))
        if len(decls) != 1 or decls[0][2] != name:
            where = (decls[0][0], decls[0][1]) if decls else (t.root / "modules" / name / "CMakeLists.txt", 1)
            found = ", ".join(f'"{d[2]}"' for d in decls) or "none"
            out.append((*where, "module-declaration",
                        f'module {name} declares itself once as module_decl<...>("{name}") (found: {found})'))
        for path in files:
            _, code, bare = t.read(path)
            aliases = {a: m for a, m in re.findall(r"\bnamespace\s+(\w+)\s*=\s*(?:::)?(?:agora::)?(\w+)\s*;", bare)}
            used = []
            for m in re.finditer(r"\bcall\s*<\s*(?:::)?(?:agora::)?(\w+)::(\w+)\s*>", bare):
                used.append((m.start(), aliases.get(m.group(1), m.group(1)), f"calls {m.group(1)}::{m.group(2)}"))
            for m in re.finditer(r'(?<![\w])request\s*\(\s*(?:std::string\s*\(\s*)?"(\w+)\.(\w+)"', code):
                used.append((m.start(), m.group(1), f'requests "{m.group(1)}.{m.group(2)}"'))
            for line, target in includes(code):
                inc = re.fullmatch(r"(\w+)/api\.hpp", target)
                if inc:
                    used.append((None, inc.group(1), f"includes <{target}>", line))
            for u in used:
                other = u[1]
                if other == name or other not in t.modules or other in declared:
                    continue
                line = u[3] if u[0] is None else line_of(code, u[0])
                out.append((path, line, "undeclared-dependency",
                            f'{name} {u[2]} but does not declare .depends_on("{other}")'))


def check_namespaces(t, out):
    for name in t.modules:
        for path in module_files(t, name):
            _, _, bare = t.read(path)
            depth = 0
            tokens = re.finditer(r"\bnamespace\b\s*([\w:]*)\s*([{=])|[{}]", bare)
            for m in tokens:
                tok = m.group(0)
                if tok == "{":
                    depth += 1
                elif tok == "}":
                    depth -= 1
                else:
                    if m.group(2) == "{":
                        depth += 1
                    ns = m.group(1)
                    if m.group(2) == "=" or depth != 1 or ns == "":
                        continue
                    if ns == "agora":
                        body = bare[m.end():]
                        if re.match(r"(?:\s*(?:struct|class)\s+\w+\s*;)+\s*}", body):
                            continue  # forward declarations of the runtime's types
                        nxt = re.match(r"\s*namespace\s+([\w:]+)", body)
                        ns = "agora::" + nxt.group(1) if nxt else ns
                    if ns != f"agora::{name}" and not ns.startswith(f"agora::{name}::"):
                        out.append((path, line_of(bare, m.start()), "module-namespace",
                                    f"namespace {m.group(1)} at file scope: module {name} lives in agora::{name}"))


def cmake_commands(text):
    """(offset, command, args) of each command in CMake text with comments removed."""
    text = re.sub(r'#[^\n"]*(?=\n|$)', lambda m: " " * len(m.group(0)), text)
    for m in re.finditer(r"\b(\w+)\s*\(", text):
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        yield m.start(), m.group(1).lower(), text[m.end():j - 1].split(), text


def check_cmake(t, out):
    files = {n: [t.root / "modules" / n / "CMakeLists.txt"] + sorted((t.root / "modules" / n).rglob("*.cmake"))
             + sorted(p for p in (t.root / "modules" / n).glob("*/**/CMakeLists.txt")) for n in t.modules}
    owned = {}
    for name, paths in files.items():
        for path in paths:
            for _, cmd, args, _ in cmake_commands(path.read_text(encoding="utf-8", errors="replace")):
                if cmd in ("add_library", "add_executable") and args:
                    owned[args[0]] = name
    for name, paths in files.items():
        door = f"agora_{name}_api"
        if owned.get(door) != name:
            out.append((paths[0], 1, "cmake-door", f"module {name} defines its door target {door}"))
        for path in paths:
            text = path.read_text(encoding="utf-8", errors="replace")
            for offset, cmd, args, clean in cmake_commands(text):
                if cmd == "target_link_libraries":
                    for a in args[1:]:
                        other = owned.get(a)
                        if other and other != name and a != f"agora_{other}_api":
                            out.append((path, line_of(clean, offset), "cmake-internals",
                                        f"links {a}, module {other}'s implementation: link its door agora_{other}_api"))
                for a in args:
                    m = re.search(r"(?:modules/|\.\./)(\w+)(?:/|$)", a)
                    if m and m.group(1) in t.modules and m.group(1) != name:
                        out.append((path, line_of(clean, offset), "cmake-internals",
                                    f"{cmd} names {a}: a path into module {m.group(1)}"))


def run(root):
    t = tree(root)
    out = []
    for check in (check_headers, check_calls, check_includes, check_dependencies, check_namespaces, check_cmake):
        check(t, out)
    return [(t.rel(p), line, rule, why) for p, line, rule, why in sorted(out, key=lambda o: (str(o[0]), o[1], o[2]))]


def main():
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
    problems = run(root.resolve())
    for path, line, rule, why in problems:
        print(f"{path}:{line}: [{rule}] {why}")
    if problems:
        print(f"{len(problems)} house rule problem(s); the rules are in tests/lint/module_rules.py")
        return 1
    print(f"house rules ok ({len(tree(root.resolve()).modules)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
