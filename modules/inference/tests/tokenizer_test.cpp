#include "text/tokenizer.hpp"
#include "text/tokenizer_text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using agora::inference::tokenizer;
using agora::inference::tokenizer_error;
using json = nlohmann::json;
using ids = std::vector<std::int32_t>;

constexpr const char* llama3_split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string bl(std::string_view raw) { return agora::inference::text::byte_level().encode(raw); }

// A byte-level tokenizer whose ids 0..255 are the 256 byte characters, followed by
// the merged tokens of `merges` in order, then the added tokens.
json byte_level_json(const std::vector<std::pair<std::string, std::string>>& merges, bool pair_form = true) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bl(std::string(1, static_cast<char>(b)))] = b;
  json merge_list = json::array();
  for (const auto& [l, r] : merges) {
    const auto left = bl(l);
    const auto right = bl(r);
    if (!vocab.contains(left + right)) vocab[left + right] = vocab.size();
    if (pair_form) {
      merge_list.push_back(json::array({left, right}));
    } else {
      merge_list.push_back(left + " " + right);
    }
  }
  const auto next = static_cast<int>(vocab.size());
  return {
      {"version", "1.0"},
      {"added_tokens",
       json::array({{{"id", next}, {"content", "<|begin|>"}, {"special", true}},
                    {{"id", next + 1}, {"content", "<|end|>"}, {"special", true}},
                    {{"id", next + 2}, {"content", "<tool>"}, {"special", false}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"}, {"pattern", {{"Regex", llama3_split}}}, {"behavior", "Isolated"}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<|begin|>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<|begin|>", {{"id", "<|begin|>"}, {"ids", {next}}, {"tokens", {"<|begin|>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
  };
}

tokenizer load(const json& j, const json& config = nullptr, tokenizer::options opts = {}) {
  return tokenizer::from_json(j.dump(), config.is_null() ? std::string() : config.dump(), opts);
}

std::int32_t id_of(const tokenizer& t, std::string_view raw) {
  const auto id = t.token_id(bl(raw));
  REQUIRE(id.has_value());
  return *id;
}

// A SentencePiece-style tokenizer in the Llama 2 shape.
json sentencepiece_json() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<unk>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false},
      {"id": 1, "content": "<s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false},
      {"id": 2, "content": "</s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false}
    ],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"},
      {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
      "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xC3>": 4, "<0xA9>": 5, "<0xF0>": 6, "<0x9F>": 7,
                "<0xA4>": 8, "<0x96>": 9, "▁": 10, "h": 11, "i": 12, "▁h": 13, "hi": 14, "▁hi": 15},
      "merges": ["▁ h", "▁h i", "h i"]}
  })");
}

}  // namespace

TEST_CASE("merges apply in rank order, not left to right", "[inference][tokenizer]") {
  const auto later_first = load(byte_level_json({{"b", "c"}, {"a", "b"}}));
  CHECK(later_first.encode("abc") == ids{'a', id_of(later_first, "bc")});

  const auto earlier_first = load(byte_level_json({{"a", "b"}, {"b", "c"}}));
  CHECK(earlier_first.encode("abc") == ids{id_of(earlier_first, "ab"), 'c'});
}

TEST_CASE("merges chain until no ranked pair is left", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({{"l", "l"}, {"e", "ll"}, {"h", "ell"}, {"hell", "o"}}));
  CHECK(t.encode("hello") == ids{id_of(t, "hello")});
  CHECK(t.encode("hellohello") == ids{id_of(t, "hello"), id_of(t, "hello")});
  CHECK(t.encode("yell") == ids{'y', id_of(t, "ell")});
}

TEST_CASE("merges are read in the string form and the pair form alike", "[inference][tokenizer]") {
  const auto pairs = load(byte_level_json({{"a", "b"}, {" ", "ab"}}, true));
  const auto strings = load(byte_level_json({{"a", "b"}, {" ", "ab"}}, false));
  CHECK(pairs.encode("ab ab") == strings.encode("ab ab"));
  CHECK(pairs.encode("ab ab") == ids{id_of(pairs, "ab"), id_of(pairs, " ab")});
}

TEST_CASE("ignore_merges emits a pre-token found whole in the vocabulary", "[inference][tokenizer]") {
  auto j = byte_level_json({{"b", "c"}, {"a", "b"}});
  j["model"]["vocab"][bl("abc")] = 900;
  CHECK(load(j).encode("abc") == ids{'a', id_of(load(j), "bc")});
  j["model"]["ignore_merges"] = true;
  CHECK(load(j).encode("abc") == ids{900});
}

TEST_CASE("the split regex isolates contractions, letters, digit triples and spaces", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({}));
  // Without merges every byte is a token, so the ids spell the input back.
  const std::string text = "It'S 12345  x\n\n";
  const auto out = t.encode(text);
  REQUIRE(out.size() == text.size());
  CHECK(t.decode(out) == text);
  CHECK(t.encode("héllo 🤖").size() == std::string("héllo 🤖").size());
}

TEST_CASE("a Split with a String pattern matches the string literally", "[inference][tokenizer]") {
  auto j = byte_level_json({{"a", "b"}});
  j["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Split"}, {"pattern", {{"String", "."}}}, {"behavior", "Removed"}};
  const auto t = load(j);
  CHECK(t.encode("ab.ab") == ids{id_of(t, "ab"), id_of(t, "ab")});
  CHECK(t.encode("axb") == ids{'a', 'x', 'b'});
}

TEST_CASE("added tokens split the input before BPE sees it", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({{"a", "b"}}));
  const auto begin = *t.token_id("<|begin|>");
  const auto end = *t.token_id("<|end|>");
  const auto tool = *t.token_id("<tool>");
  CHECK(t.encode("ab<|end|>ab") == ids{id_of(t, "ab"), end, id_of(t, "ab")});
  CHECK(t.encode("<tool>ab", true) == ids{begin, tool, id_of(t, "ab")});
  CHECK(t.is_special(end));
  CHECK_FALSE(t.is_special(tool));

  SECTION("with parse_special off, special tokens are plain text but other added tokens still match") {
    const auto plain = load(byte_level_json({{"a", "b"}}), nullptr, {.parse_special = false});
    const auto out = plain.encode("<|end|><tool>");
    CHECK(out.back() == tool);
    CHECK(std::find(out.begin(), out.end(), end) == out.end());
    CHECK(plain.decode(out) == "<|end|><tool>");
  }
}

TEST_CASE("lstrip, rstrip and single_word added tokens", "[inference][tokenizer]") {
  auto j = byte_level_json({});
  j["added_tokens"][2]["lstrip"] = true;
  j["added_tokens"][2]["rstrip"] = true;
  const auto stripping = load(j);
  const auto tool = *stripping.token_id("<tool>");
  CHECK(stripping.encode("a  <tool>  b") == ids{'a', tool, 'b'});

  auto w = byte_level_json({});
  w["added_tokens"][2]["content"] = "cat";
  w["added_tokens"][2]["single_word"] = true;
  const auto word = load(w);
  const auto cat = *word.token_id("cat");
  CHECK(word.encode("a cat") == ids{'a', ' ', cat});
  CHECK(word.encode("concat") == ids{'c', 'o', 'n', 'c', 'a', 't'});
}

TEST_CASE("the post-processor's template adds BOS only when asked", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({}));
  const auto begin = *t.token_id("<|begin|>");
  CHECK(t.encode("a", false) == ids{'a'});
  CHECK(t.encode("a", true) == ids{begin, 'a'});
  CHECK(t.encode("", true) == ids{begin});
  CHECK(t.decode(ids{begin, 'a'}) == "<|begin|>a");
  CHECK(t.decode(ids{begin, 'a'}, true) == "a");
}

TEST_CASE("a byte-level tokenizer without a template adds nothing", "[inference][tokenizer]") {
  auto j = byte_level_json({});
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}};
  CHECK(load(j).encode("a", true) == ids{'a'});
}

TEST_CASE("NFC composes combining marks before BPE", "[inference][tokenizer]") {
  auto j = byte_level_json({{"\xC3", "\xA9"}});
  j["normalizer"] = {{"type", "NFC"}};
  const auto t = load(j);
  const auto e_acute = id_of(t, "é");
  CHECK(t.encode("e\xCC\x81") == ids{e_acute});
  CHECK(t.encode("é") == ids{e_acute});
}

TEST_CASE("SentencePiece BPE: prepended ▁, merges, byte fallback and BOS", "[inference][tokenizer]") {
  const auto t = load(sentencepiece_json());
  CHECK(t.encode("hi") == ids{15});
  CHECK(t.encode("hi", true) == ids{1, 15});
  CHECK(t.encode("hi é") == ids{15, 10, 4, 5});
  CHECK(t.encode("x") == ids{10, 0});
  CHECK(t.encode("xx") == ids{10, 0});
  CHECK(t.decode(ids{1, 15, 10, 4, 5}) == "<s> hi é");
  CHECK(t.decode(ids{1, 15, 10, 4, 5}, true) == "hi é");
  CHECK(t.decode(ids{15, 3, 13}) == "hi\n h");
}

TEST_CASE("the Metaspace pre-tokenizer and decoder form of SentencePiece BPE", "[inference][tokenizer]") {
  auto j = sentencepiece_json();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", true}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", true}};
  const auto t = load(j);
  CHECK(t.encode("hi hi") == ids{15, 15});
  CHECK(t.encode("<s>hi") == ids{1, 14});
  CHECK(t.decode(ids{15, 15}) == "hi hi");

  j["pre_tokenizer"]["prepend_scheme"] = "always";
  CHECK(load(j).encode("<s>hi") == ids{1, 15});
}

TEST_CASE("decode skips ids outside the vocabulary and repairs broken UTF-8", "[inference][tokenizer]") {
  const auto t = load(sentencepiece_json());
  CHECK(t.decode(ids{15, -1, 99999}) == "hi");
  CHECK(t.decode(ids{15, 4}) == "hi\xEF\xBF\xBD");
}

TEST_CASE("stream_decoder holds the bytes of a partial character", "[inference][tokenizer]") {
  const auto t = load(sentencepiece_json());
  tokenizer::stream_decoder stream(t, true);
  CHECK(stream.push(1).empty());
  CHECK(stream.push(15) == "hi");
  CHECK(stream.push(10) == " ");
  CHECK(stream.push(4).empty());
  CHECK(stream.push(5) == "é");
  CHECK(stream.push(6).empty());
  CHECK(stream.push(7).empty());
  CHECK(stream.push(8).empty());
  CHECK(stream.push(9) == "🤖");
  CHECK(stream.push(6).empty());
  CHECK(stream.finish() == "\xEF\xBF\xBD");

  SECTION("a byte that can never start a character is replaced, not held") {
    tokenizer::stream_decoder s(t);
    CHECK(s.push(8) == "\xEF\xBF\xBD");
  }
}

TEST_CASE("stream_decoder pieces add up to decode()", "[inference][tokenizer]") {
  const auto sp = load(sentencepiece_json());
  const auto bl_tok = load(byte_level_json({{"a", "b"}}));
  const std::vector<std::pair<const tokenizer*, ids>> cases = {
      {&sp, ids{1, 10, 15, 10, 4, 5, 3, 6, 7, 8, 9, 13}},
      {&sp, ids{10, 10, 15}},
      {&bl_tok, bl_tok.encode("ab 🤖 é <|end|> ab\n", true)},
  };
  for (const auto& [tok, sequence] : cases) {
    for (const bool skip : {false, true}) {
      tokenizer::stream_decoder stream(*tok, skip);
      std::string joined;
      for (const auto id : sequence) {
        const auto piece = stream.push(id);
        CHECK(agora::inference::text::is_valid_utf8(piece));
        joined += piece;
      }
      joined += stream.finish();
      CHECK(joined == tok->decode(sequence, skip));
    }
  }
}

TEST_CASE("byte-level decode round-trips any valid UTF-8", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({{"a", "b"}, {" ", "ab"}}));
  for (const std::string text : {"", " ", "ab ab", "\t\n  \r\n", "naïve café 🤖 中文 ", "x<|end|>y"}) {
    CHECK(t.decode(t.encode(text)) == text);
  }
}

TEST_CASE("input that is not UTF-8 is encoded with U+FFFD in place of bad bytes", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({}));
  CHECK(t.decode(t.encode("a\xFF" "b")) == "a\xEF\xBF\xBD" "b");
}

TEST_CASE("tokenizer_config supplies bos, eos and added token flags", "[inference][tokenizer]") {
  const auto j = byte_level_json({});
  const auto begin = j["added_tokens"][0]["id"].get<int>();
  const auto tool = j["added_tokens"][2]["id"].get<int>();
  const json config = {
      {"bos_token", "<|begin|>"},
      {"eos_token", {{"content", "<|end|>"}, {"lstrip", false}}},
      {"added_tokens_decoder",
       {{std::to_string(tool), {{"content", "<tool>"}, {"special", true}, {"lstrip", true}}}}}};
  const auto t = load(j, config);
  CHECK(t.bos_id() == begin);
  CHECK(t.eos_id() == begin + 1);
  CHECK(t.is_special(tool));
  CHECK(t.encode("a <tool>") == ids{'a', tool});
  CHECK(t.vocab_size() == static_cast<std::size_t>(tool) + 1);
  CHECK(t.token(tool) == "<tool>");
  CHECK(t.token(-3).empty());

  const auto plain = load(j);
  CHECK_FALSE(plain.bos_id());
  CHECK_FALSE(plain.eos_id());
}

TEST_CASE("malformed or unsupported files are refused, naming file and field", "[inference][tokenizer]") {
  using Catch::Matchers::Contains;
  using Catch::Matchers::Equals;
  CHECK_THROWS_WITH(tokenizer::from_json("{\"model\": ", {}, {}, "bad.json"),
                    Contains("bad.json") && Contains("not valid JSON"));
  CHECK_THROWS_WITH(tokenizer::from_json("{}", {}, {}, "t.json"), Contains("t.json: model: missing"));

  auto wordpiece = byte_level_json({});
  wordpiece["model"]["type"] = "WordPiece";
  CHECK_THROWS_WITH(load(wordpiece), Contains("model.type") && Contains("WordPiece"));

  auto bad_merge = byte_level_json({{"a", "b"}});
  bad_merge["model"]["merges"] = json::array({"a b", "a zz"});
  CHECK_THROWS_WITH(load(bad_merge), Contains("model.merges[1]") && Contains("zz"));

  auto bad_merge_shape = byte_level_json({});
  bad_merge_shape["model"]["merges"] = json::array({42});
  CHECK_THROWS_WITH(load(bad_merge_shape), Contains("model.merges[0]"));

  auto bad_regex = byte_level_json({});
  bad_regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  CHECK_THROWS_WITH(load(bad_regex), Contains("pre_tokenizer.pretokenizers[0].pattern"));

  auto bad_vocab = byte_level_json({});
  bad_vocab["model"]["vocab"]["a"] = "one";
  CHECK_THROWS_WITH(load(bad_vocab), Contains("model.vocab[\"a\"]"));

  auto unknown_normalizer = byte_level_json({});
  unknown_normalizer["normalizer"] = {{"type", "Lowercase"}};
  CHECK_THROWS_WITH(load(unknown_normalizer), Contains("normalizer.type") && Contains("Lowercase"));

  CHECK_THROWS_WITH(tokenizer::from_json(byte_level_json({}).dump(), R"({"eos_token": "<nope>"})", {}, "t.json",
                                         "config.json"),
                    Contains("config.json: eos_token") && Contains("<nope>"));

  CHECK_THROWS_AS(tokenizer::from_files("/nonexistent/tokenizer.json"), tokenizer_error);
  CHECK_THROWS_WITH(tokenizer::from_files("/nonexistent/tokenizer.json"),
                    Equals("tokenizer.json: missing"));
}

TEST_CASE("from_files reads tokenizer.json and tokenizer_config.json", "[inference][tokenizer]") {
  const auto dir = std::filesystem::temp_directory_path() / "agora_tokenizer_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << sentencepiece_json().dump();
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<s>", "eos_token": "</s>"})";
  const auto t = tokenizer::from_files(dir / "tokenizer.json", dir / "tokenizer_config.json");
  CHECK(t.bos_id() == 1);
  CHECK(t.eos_id() == 2);
  CHECK(t.encode("hi", true) == ids{1, 15});
  std::filesystem::remove_all(dir);
}

TEST_CASE("one tokenizer serves concurrent encoders", "[inference][tokenizer]") {
  const auto t = load(byte_level_json({{"a", "b"}, {" ", "ab"}}));
  const auto expected = t.encode("ab ab ab cab");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 500; ++k) {
        if (t.encode("ab ab ab cab") != expected) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(mismatches == 0);
}
