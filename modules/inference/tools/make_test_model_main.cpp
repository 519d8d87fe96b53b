// agora-make-test-model DIR: writes a tiny random-weight Llama model with a byte-level
// tokenizer and a chat template to DIR, for client tests and demos. Deterministic.
#include "model_fixture.hpp"

#include <cstdio>
#include <exception>
#include <filesystem>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: agora-make-test-model DIR\n");
    return 2;
  }
  try {
    std::filesystem::create_directories(argv[1]);
    agora::inference::testing::fixture_spec spec;
    spec.vocab = 300;
    spec.max_positions = 1024;
    agora::inference::testing::write_model(argv[1], spec);
    agora::inference::testing::write_byte_tokenizer(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agora-make-test-model: %s\n", e.what());
    return 1;
  }
  return 0;
}
