// agora-make-test-model DIR: writes a tiny random-weight Llama model with a byte-level
// tokenizer and a chat template to DIR, for client tests and demos. Deterministic.
// agora-make-test-model --reference-specs DIR: writes the models the engine is checked
// against llama.cpp with (reference_specs()), one folder each, for
// tools/llamacpp_reference/make_reference.mjs.
#include "model_fixture.hpp"

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage: agora-make-test-model DIR\n"
    "       agora-make-test-model --reference-specs DIR\n"
    "       agora-make-test-model -h | --help\n"
    "\n"
    "DIR: writes a tiny deterministic random-weight Llama model with a byte-level tokenizer\n"
    "and a chat template there (the folder is created), for client tests and demos.\n"
    "--reference-specs DIR: writes the models the engine is checked against llama.cpp with,\n"
    "one folder each.\n";

}  // namespace

int main(int argc, char** argv) {
  namespace fixture = agora::inference::testing;
  if (argc == 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help")) {
    std::fputs(usage, stdout);
    return 0;
  }
  const bool references = argc == 3 && std::string_view(argv[1]) == "--reference-specs";
  // A folder name that starts with '-' is a mistyped option far more often than a folder.
  const bool looks_like_option = argc == 2 && argv[1][0] == '-';
  if ((argc != 2 && !references) || looks_like_option) {
    if (looks_like_option) std::fprintf(stderr, "agora-make-test-model: unknown option '%s'\n", argv[1]);
    std::fputs(usage, stderr);
    return 2;
  }
  try {
    if (references) {
      for (const auto& [name, spec] : fixture::reference_specs()) fixture::write_model(std::filesystem::path(argv[2]) / name, spec);
      return 0;
    }
    std::filesystem::create_directories(argv[1]);
    fixture::fixture_spec spec;
    spec.vocab = 300;
    spec.max_positions = 1024;
    fixture::write_model(argv[1], spec);
    fixture::write_byte_tokenizer(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agora-make-test-model: %s\n", e.what());
    return 1;
  }
  return 0;
}
