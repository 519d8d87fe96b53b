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

int main(int argc, char** argv) {
  namespace fixture = agora::inference::testing;
  const bool references = argc == 3 && std::string_view(argv[1]) == "--reference-specs";
  if (argc != 2 && !references) {
    std::fprintf(stderr, "usage: agora-make-test-model DIR | agora-make-test-model --reference-specs DIR\n");
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
