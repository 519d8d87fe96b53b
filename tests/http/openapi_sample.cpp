#include "sample_routes.hpp"

#include <cstdio>
#include <fstream>

// Writes the OpenAPI document of the sample router to the file named on the command line.
int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out.json>\n", argv[0]);
    return 2;
  }
  auto doc = agora::http::testing::sample_router().openapi("agora sample", "0.1.0");
  std::ofstream out(argv[1]);
  out << doc.dump(2) << '\n';
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
