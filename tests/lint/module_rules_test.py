#!/usr/bin/env python3
"""module_rules.py on small trees: a tree that keeps every rule passes, and each planted
violation fails naming its file, line and rule (and no other rule)."""
import pathlib
import subprocess
import sys
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().with_name("module_rules.py")

# Two modules, beta calling alpha, with the things the rules exempt: a store that speaks
# SQLite, a core main that prints, a tool that prints, a test that reads a database, and
# rule words inside comments and strings.
GOOD = {
    "src/store/database.cpp": '#include <sqlite3.h>\nint open(sqlite3** db) { return sqlite3_open("x", db); }\n',
    "src/main.cpp": '#include <cstdio>\nint main() { std::printf("agora\\n"); }\n',
    "include/agora/module.hpp": "#pragma once\n\nnamespace agora {\nstruct module_definition {};\n}\n",
    "values/include/agora/values.hpp": "#pragma once\n\nnamespace agora {\nstruct money {};\n}\n",
    "tests/core/x_test.cpp": "#include <alpha/api.hpp>\n",
    "modules/alpha/CMakeLists.txt": (
        "# alpha: the door, then the room.\n"
        "add_library(agora_alpha_api INTERFACE)\n"
        "target_include_directories(agora_alpha_api INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)\n"
        "add_library(agora_alpha STATIC src/module.cpp)\n"
        "target_include_directories(agora_alpha PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)\n"
        "target_link_libraries(agora_alpha PUBLIC agora_alpha_api agora_core)\n"),
    "modules/alpha/include/alpha/api.hpp": (
        "#pragma once\n"
        "\n"
        "// The door; it never includes <agora/module.hpp>.\n"
        "#include <string_view>\n"
        "\n"
        "namespace agora {\n"
        "struct module_definition;\n"
        "}\n"
        "\n"
        "namespace agora::alpha {\n"
        "struct ping {\n"
        '  static constexpr std::string_view name = "alpha.ping";\n'
        "};\n"
        "module_definition module();\n"
        "}  // namespace agora::alpha\n"),
    "modules/alpha/src/module.cpp": (
        "#include <alpha/api.hpp>\n"
        "\n"
        "namespace agora::alpha {\n"
        "namespace {\n"
        "struct service {};\n"
        "}  // namespace\n"
        "module_definition module() {\n"
        '  module_decl<service> decl("alpha");\n'
        "  return decl.definition();\n"
        "}\n"
        "}  // namespace agora::alpha\n"),
    "modules/beta/CMakeLists.txt": (
        "add_library(agora_beta_api INTERFACE)\n"
        "add_library(agora_beta STATIC src/module.cpp src/service.cpp)\n"
        "target_link_libraries(agora_beta\n"
        "  PUBLIC agora_beta_api agora_core\n"
        "  PRIVATE agora_alpha_api)  # not agora_alpha\n"
        "add_executable(beta-tool tools/main.cpp)\n"),
    "modules/beta/include/beta/api.hpp": "#pragma once\n\nnamespace agora::beta {\nstruct pong {};\n}\n",
    "modules/beta/src/module.cpp": (
        '#include "service.hpp"\n'
        "\n"
        "namespace agora::beta {\n"
        "module_definition module() {\n"
        '  module_decl<service> decl("beta");\n'
        '  decl.replicas(1).depends_on("alpha");\n'
        "  return decl.definition();\n"
        "}\n"
        "}  // namespace agora::beta\n"),
    "modules/beta/src/service.hpp": "#pragma once\n\n#include <alpha/api.hpp>\n",
    "modules/beta/src/service.cpp": (
        '#include "service.hpp"\n'
        "\n"
        "namespace agora::beta {\n"
        "namespace al = agora::alpha;\n"
        "// Not std::cout, not sqlite3_exec: this module logs and goes through agora::store.\n"
        "asio::awaitable<void> service::run() {\n"
        "  auto a = co_await ctx_.bus().call<alpha::ping>({});\n"
        "  auto b = co_await ctx_.bus().call<al::ping>({});\n"
        '  auto c = co_await ctx_.bus().request("alpha.ping", {});\n'
        '  log::info("beta", "printf(\\"%d\\") is not called here");\n'
        "  auto d = invalid_request(\"alpha.x\");\n"
        "}\n"
        "}  // namespace agora::beta\n"),
    "modules/beta/tools/main.cpp": '#include <iostream>\nint main() { std::cout << "beta\\n"; }\n',
    "modules/beta/tests/store_test.cpp": "#include <sqlite3.h>\nvoid f(sqlite3* db) { sqlite3_close(db); }\n",
}


def run_lint(files):
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        for rel, text in files.items():
            if text is None:
                continue
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        p = subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr


def edit(path, old, new):
    assert old in GOOD[path], (path, old)
    return {**GOOD, path: GOOD[path].replace(old, new, 1)}


def add(path, text):
    return {**GOOD, path: text}


class planted(unittest.TestCase):
    def fails(self, files, rule, *where):
        rc, out = run_lint(files)
        self.assertEqual(rc, 1, out)
        for w in where:
            self.assertIn(f"{w}: [{rule}]", out)
        problems = [ln for ln in out.splitlines() if ": [" in ln]
        self.assertEqual(len(problems), len(where), out)
        self.assertTrue(all(f"[{rule}]" in ln for ln in problems), out)
        return out

    def test_the_good_tree_passes(self):
        rc, out = run_lint(GOOD)
        self.assertEqual(rc, 0, out)
        self.assertIn("house rules ok (2 modules)", out)

    def test_a_header_without_pragma_once(self):
        self.fails(add("modules/beta/src/store.hpp", "// The store.\n#include <string>\n"), "pragma-once",
                   "modules/beta/src/store.hpp:1")

    def test_a_banner(self):
        self.fails(edit("modules/beta/src/service.cpp", "namespace agora::beta {\n",
                        "namespace agora::beta {\n// ====== handlers ======\n"),
                   "banner", "modules/beta/src/service.cpp:4")

    def test_sqlite_in_a_module(self):
        self.fails(edit("modules/beta/src/service.cpp", "  auto d =", "  sqlite3_exec(db, q, nullptr, nullptr, nullptr);\n  auto d ="),
                   "sqlite-outside-store", "modules/beta/src/service.cpp:11")

    def test_sqlite_in_the_core_outside_the_store(self):
        self.fails(add("src/runtime/app.cpp", "\n#include <sqlite3.h>\n"), "sqlite-outside-store",
                   "src/runtime/app.cpp:2")

    def test_cout_in_a_module(self):
        self.fails(edit("modules/beta/src/service.cpp", "  auto d =", '  std::cout << "hi";\n  auto d ='),
                   "console-output", "modules/beta/src/service.cpp:11")

    def test_printf_in_a_module_header(self):
        self.fails(edit("modules/beta/include/beta/api.hpp", "struct pong {};", 'inline void f() { std::printf("x"); }'),
                   "console-output", "modules/beta/include/beta/api.hpp:4")

    def test_fmt_print_in_a_module(self):
        self.fails(edit("modules/beta/src/service.cpp", "  auto d =", '  fmt::print("{}", 1);\n  auto d ='),
                   "console-output", "modules/beta/src/service.cpp:11")

    def test_an_include_of_another_modules_src(self):
        self.fails(edit("modules/beta/src/service.hpp", "#include <alpha/api.hpp>\n",
                        '#include <alpha/api.hpp>\n#include "../../alpha/src/store.hpp"\n'),
                   "module-internals", "modules/beta/src/service.hpp:4")

    def test_an_include_of_another_modules_other_header(self):
        self.fails(edit("modules/beta/src/service.hpp", "#include <alpha/api.hpp>\n",
                        "#include <alpha/api.hpp>\n#include <alpha/module.hpp>\n"),
                   "module-internals", "modules/beta/src/service.hpp:4")

    def test_core_tests_reaching_into_a_module(self):
        self.fails(add("tests/core/x_test.cpp", '#include <alpha/api.hpp>\n#include "modules/alpha/src/store.hpp"\n'),
                   "module-internals", "tests/core/x_test.cpp:2")

    def test_a_door_that_includes_the_runtime(self):
        self.fails(edit("modules/alpha/include/alpha/api.hpp", "#include <string_view>\n",
                        "#include <agora/module.hpp>\n#include <string_view>\n"),
                   "door-includes", "modules/alpha/include/alpha/api.hpp:4")

    def test_a_door_may_include_the_value_types(self):
        rc, out = run_lint(edit("modules/alpha/include/alpha/api.hpp", "#include <string_view>\n",
                                "#include <agora/values.hpp>\n#include <string_view>\n"))
        self.assertEqual(rc, 0, out)

    def test_a_door_that_includes_beast(self):
        self.fails(edit("modules/beta/include/beta/api.hpp", "#pragma once\n",
                        "#pragma once\n#include <boost/beast/http/message.hpp>\n"),
                   "door-includes", "modules/beta/include/beta/api.hpp:2")

    def test_calls_without_depends_on(self):
        out = self.fails(edit("modules/beta/src/module.cpp", '.depends_on("alpha")', ""), "undeclared-dependency",
                         "modules/beta/src/service.cpp:7", "modules/beta/src/service.cpp:8",
                         "modules/beta/src/service.cpp:9", "modules/beta/src/service.hpp:3")
        self.assertIn('beta calls alpha::ping but does not declare .depends_on("alpha")', out)
        self.assertIn('beta requests "alpha.ping"', out)

    def test_a_request_by_name_alone_without_depends_on(self):
        files = edit("modules/beta/src/module.cpp", '.depends_on("alpha")', "")
        files["modules/beta/src/service.hpp"] = "#pragma once\n"
        files["modules/beta/src/service.cpp"] = 'void f(bus& b) { b.request("alpha.ping", {}); }\n'
        self.fails(files, "undeclared-dependency", "modules/beta/src/service.cpp:1")

    def test_a_dependency_on_no_module(self):
        self.fails(edit("modules/beta/src/module.cpp", '.depends_on("alpha")', '.depends_on("alpha").depends_on("gamma")'),
                   "unknown-dependency", "modules/beta/src/module.cpp:6")

    def test_a_module_declared_under_another_name(self):
        self.fails(edit("modules/beta/src/module.cpp", 'decl("beta")', 'decl("betta")'), "module-declaration",
                   "modules/beta/src/module.cpp:5")

    def test_a_module_without_a_declaration(self):
        self.fails(add("modules/alpha/src/module.cpp", "namespace agora::alpha {\n}\n"), "module-declaration",
                   "modules/alpha/CMakeLists.txt:1")

    def test_a_module_in_another_modules_namespace(self):
        self.fails(edit("modules/beta/src/service.cpp", "namespace agora::beta {\n", "namespace agora::alpha {\n"),
                   "module-namespace", "modules/beta/src/service.cpp:3")

    def test_a_module_at_agora_scope(self):
        self.fails(add("modules/beta/src/extra.cpp", "namespace agora {\nint helper() { return 1; }\n}\n"),
                   "module-namespace", "modules/beta/src/extra.cpp:1")

    def test_a_module_without_a_door_target(self):
        self.fails(edit("modules/beta/CMakeLists.txt", "add_library(agora_beta_api INTERFACE)\n", ""),
                   "cmake-door", "modules/beta/CMakeLists.txt:1")

    def test_cmake_linking_another_modules_implementation(self):
        self.fails(edit("modules/beta/CMakeLists.txt", "PRIVATE agora_alpha_api)", "PRIVATE agora_alpha)"),
                   "cmake-internals", "modules/beta/CMakeLists.txt:3")

    def test_cmake_reaching_into_another_modules_folder(self):
        self.fails(edit("modules/beta/CMakeLists.txt", "add_executable", "target_include_directories(agora_beta PRIVATE "
                        "${CMAKE_CURRENT_SOURCE_DIR}/../alpha/src)\nadd_executable"),
                   "cmake-internals", "modules/beta/CMakeLists.txt:6")

    def test_cmake_in_a_module_cmake_folder(self):
        self.fails(add("modules/beta/cmake/extra.cmake", "\n\ntarget_link_libraries(beta-tool PRIVATE agora_alpha)\n"),
                   "cmake-internals", "modules/beta/cmake/extra.cmake:3")


if __name__ == "__main__":
    unittest.main(verbosity=2)
