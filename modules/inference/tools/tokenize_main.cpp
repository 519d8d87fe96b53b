#include "text/tokenizer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using agora::inference::tokenizer;
using json = nlohmann::json;

constexpr std::string_view usage = R"(usage: agora-tokenize TOKENIZER_JSON [TOKENIZER_CONFIG] [--no-parse-special] [--lines | --bench]

Reads requests from stdin, one per line, and writes one JSON reply per line:
  {"op":"encode","text":"...","add_special_tokens":false}  -> {"ids":[...]}
  {"op":"decode","ids":[...],"skip_special_tokens":false}   -> {"text":"..."}
  {"op":"stream","ids":[...],"skip_special_tokens":false}   -> {"pieces":["...", ...]}
  {"op":"info"}                                             -> {"vocab_size":N,"bos_id":..,"eos_id":..}
A request that fails gets {"error":"..."}.
--lines   each stdin line is raw text; prints its ids separated by spaces
--bench   encodes all of stdin repeatedly for about two seconds and prints the rate
)";

void write_line(const json& reply) {
  const auto line = reply.dump(-1, ' ', false, json::error_handler_t::replace);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

json handle(const tokenizer& tok, const json& request) {
  const auto op = request.at("op").get<std::string>();
  if (op == "encode") {
    return {{"ids", tok.encode(request.at("text").get<std::string>(), request.value("add_special_tokens", false))}};
  }
  const bool skip = request.value("skip_special_tokens", false);
  if (op == "decode") {
    const auto ids = request.at("ids").get<std::vector<std::int32_t>>();
    return {{"text", tok.decode(ids, skip)}};
  }
  if (op == "stream") {
    tokenizer::stream_decoder stream(tok, skip);
    json pieces = json::array();
    for (const auto id : request.at("ids").get<std::vector<std::int32_t>>()) pieces.push_back(stream.push(id));
    pieces.push_back(stream.finish());
    return {{"pieces", pieces}};
  }
  if (op == "info") {
    return {{"vocab_size", tok.vocab_size()},
            {"bos_id", tok.bos_id() ? json(*tok.bos_id()) : json()},
            {"eos_id", tok.eos_id() ? json(*tok.eos_id()) : json()}};
  }
  throw std::invalid_argument(fmt::format("unknown op '{}'", op));
}

int run_requests(const tokenizer& tok) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    try {
      write_line(handle(tok, json::parse(line)));
    } catch (const std::exception& e) {
      write_line({{"error", e.what()}});
    }
  }
  return 0;
}

int run_lines(const tokenizer& tok) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string out;
    for (const auto id : tok.encode(line)) {
      if (!out.empty()) out.push_back(' ');
      out.append(std::to_string(id));
    }
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return 0;
}

int run_bench(const tokenizer& tok) {
  const std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  using clock = std::chrono::steady_clock;
  const auto cold_start = clock::now();
  const auto tokens = tok.encode(text).size();
  const std::chrono::duration<double> cold = clock::now() - cold_start;
  std::size_t rounds = 0;
  std::size_t produced = 0;
  const auto start = clock::now();
  std::chrono::duration<double> elapsed{};
  while (elapsed.count() < 2.0) {
    produced += tok.encode(text).size();
    ++rounds;
    elapsed = clock::now() - start;
  }
  if (produced != tokens * rounds) fmt::print(stderr, "encode is not deterministic\n");
  const double per_round = elapsed.count() / static_cast<double>(rounds);
  fmt::print("bytes={} tokens={} cold_s={:.4f} warm_s={:.4f} warm_MB_per_s={:.2f} warm_tokens_per_s={:.0f}\n",
             text.size(), tokens, cold.count(), per_round, static_cast<double>(text.size()) / per_round / 1e6,
             static_cast<double>(tokens) / per_round);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  tokenizer::options opts;
  enum class mode { requests, lines, bench } m = mode::requests;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-parse-special") {
      opts.parse_special = false;
    } else if (arg == "--lines") {
      m = mode::lines;
    } else if (arg == "--bench") {
      m = mode::bench;
    } else if (arg == "-h" || arg == "--help") {
      fmt::print("{}", usage);
      return 0;
    } else if (arg.starts_with("--")) {
      fmt::print(stderr, "unknown option {}\n{}", arg, usage);
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty() || files.size() > 2) {
    fmt::print(stderr, "{}", usage);
    return 2;
  }
  try {
    const auto tok = tokenizer::from_files(files[0], files.size() > 1 ? files[1] : std::string(), opts);
    switch (m) {
      case mode::lines:
        return run_lines(tok);
      case mode::bench:
        return run_bench(tok);
      case mode::requests:
        return run_requests(tok);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "agora-tokenize: {}\n", e.what());
    return 1;
  }
  return 0;
}
