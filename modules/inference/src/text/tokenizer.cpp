#include "text/tokenizer.hpp"

#include "engine/model_files.hpp"
#include "text/tokenizer_bpe.hpp"
#include "text/tokenizer_regex.hpp"
#include "text/tokenizer_text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace agora::inference {
namespace {

using json = nlohmann::json;

constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view metaspace_default = "\xE2\x96\x81";

enum token_flag : std::uint8_t { flag_added = 1, flag_special = 2 };

struct added_token {
  std::int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

struct normalizer_step {
  enum class kind { unicode, prepend, replace };
  kind type;
  text::normal_form form = text::normal_form::nfc;
  std::string content;
  std::string pattern;
  std::shared_ptr<split_regex> regex;
};

enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };
enum class prepend_scheme { always, first, never };

struct pre_tokenizer_step {
  enum class kind { split, byte_level, metaspace };
  kind type;
  std::shared_ptr<split_regex> regex;
  split_behavior behavior = split_behavior::isolated;
  bool invert = false;
  bool add_prefix_space = false;
  std::string replacement;
  prepend_scheme scheme = prepend_scheme::always;
  bool split = true;
};

struct decoder_step {
  enum class kind { byte_level, replace, byte_fallback, strip, metaspace };
  kind type;
  std::string from;
  std::string to;
  std::size_t start = 0;
  std::size_t stop = 0;
  prepend_scheme scheme = prepend_scheme::always;
};

struct split_span {
  std::size_t begin;
  std::size_t end;
  bool delimiter;
};

struct section {
  std::string_view text;
  std::size_t offset;
  std::int32_t added = -1;
};

// Reading a JSON document with errors that name the file and the field.
std::string escape_regex(std::string_view literal) {
  std::string out;
  for (const char c : literal) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80 && std::isalnum(byte) == 0) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

class reader {
 public:
  explicit reader(std::string_view file) : file_(file) {}

  [[noreturn]] void fail(std::string_view field, std::string_view message) const {
    throw tokenizer_error(fmt::format("{}: {}: {}", file_, field, message));
  }

  json parse(std::string_view content) const {
    try {
      return json::parse(content.begin(), content.end());
    } catch (const json::parse_error& e) {
      throw tokenizer_error(fmt::format("{}: {}", file_, json_problem(e)));
    }
  }

  const json& object(const json& parent, std::string_view key, std::string_view path) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail(path, "missing");
    if (!it->is_object()) fail(path, "expected an object");
    return *it;
  }

  std::string string(const json& parent, std::string_view key, std::string_view path) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail(path, "missing");
    if (!it->is_string()) fail(path, "expected a string");
    return it->get<std::string>();
  }

  std::optional<std::string> optional_string(const json& parent, std::string_view key, std::string_view path) const {
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) fail(path, "expected a string or null");
    return it->get<std::string>();
  }

  bool boolean(const json& parent, std::string_view key, std::string_view path, bool fallback) const {
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(path, "expected true or false");
    return it->get<bool>();
  }

  std::int64_t integer(const json& parent, std::string_view key, std::string_view path) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail(path, "missing");
    if (!it->is_number_integer()) fail(path, "expected an integer");
    return it->get<std::int64_t>();
  }

  std::int32_t token_id(const json& value, std::string_view path) const {
    if (!value.is_number_integer()) fail(path, "expected an integer id");
    const auto id = value.get<std::int64_t>();
    if (id < 0 || id > 0x7FFFFFFF) fail(path, fmt::format("id {} out of range", id));
    return static_cast<std::int32_t>(id);
  }

  std::shared_ptr<split_regex> regex(const std::string& pattern, std::string_view path) const {
    try {
      return std::make_shared<split_regex>(pattern);
    } catch (const std::invalid_argument& e) {
      fail(path, e.what());
    }
  }

  // A tokenizers "pattern": {"String": "..."} or {"Regex": "..."}.
  std::shared_ptr<split_regex> pattern(const json& parent, std::string_view path, std::string* literal) const {
    const auto& p = object(parent, "pattern", path);
    if (const auto it = p.find("String"); it != p.end() && it->is_string()) {
      const auto s = it->get<std::string>();
      if (literal != nullptr) *literal = s;
      return regex(escape_regex(s), path);
    }
    if (const auto it = p.find("Regex"); it != p.end() && it->is_string()) {
      return regex(it->get<std::string>(), path);
    }
    fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
  }

 private:
  std::string file_;
};

std::string read_file(const std::filesystem::path& path, std::uint64_t limit) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  try {
    return model_file::require(dir, path.filename().string(), limit).read_all();
  } catch (const model_file_error& e) {
    throw tokenizer_error(e.what());
  }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::size_t pos = s.find(from);
  if (pos == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  std::size_t last = 0;
  while (pos != std::string::npos) {
    out.append(s, last, pos - last).append(to);
    last = pos + from.size();
    pos = s.find(from, last);
  }
  out.append(s, last, std::string::npos);
  s = std::move(out);
}

bool starts_with_whitespace_char(std::string_view s, std::size_t i, std::size_t& len) {
  len = text::valid_char_length(s, i);
  return len != 0 && text::is_whitespace(text::decode_char(s, i, len));
}

std::string_view trim_left(std::string_view s) {
  std::size_t i = 0;
  std::size_t len = 0;
  while (i < s.size() && starts_with_whitespace_char(s, i, len)) i += len;
  return s.substr(i);
}

std::string_view trim_right(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t begin = end - 1;
    while (begin > 0 && (static_cast<unsigned char>(s[begin]) & 0xC0) == 0x80) --begin;
    std::size_t len = 0;
    if (!starts_with_whitespace_char(s, begin, len) || begin + len != end) break;
    end = begin;
  }
  return s.substr(0, end);
}

std::optional<char32_t> char_before(std::string_view s, std::size_t pos) {
  if (pos == 0) return std::nullopt;
  std::size_t begin = pos - 1;
  while (begin > 0 && (static_cast<unsigned char>(s[begin]) & 0xC0) == 0x80) --begin;
  const auto len = text::valid_char_length(s, begin);
  if (len == 0) return std::nullopt;
  return text::decode_char(s, begin, len);
}

std::optional<char32_t> char_at(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return std::nullopt;
  const auto len = text::valid_char_length(s, pos);
  if (len == 0) return std::nullopt;
  return text::decode_char(s, pos, len);
}

split_behavior parse_behavior(const reader& r, const json& step, std::string_view path) {
  const auto b = r.string(step, "behavior", path);
  if (b == "Removed") return split_behavior::removed;
  if (b == "Isolated") return split_behavior::isolated;
  if (b == "MergedWithPrevious") return split_behavior::merged_with_previous;
  if (b == "MergedWithNext") return split_behavior::merged_with_next;
  if (b == "Contiguous") return split_behavior::contiguous;
  r.fail(path, fmt::format("unsupported behavior '{}'", shown(b)));
}

prepend_scheme parse_scheme(const reader& r, const json& step, std::string_view path) {
  if (const auto it = step.find("prepend_scheme"); it != step.end() && !it->is_null()) {
    if (!it->is_string()) r.fail(path, "expected a string");
    const auto s = it->get<std::string>();
    if (s == "always") return prepend_scheme::always;
    if (s == "first") return prepend_scheme::first;
    if (s == "never") return prepend_scheme::never;
    r.fail(path, fmt::format("unsupported prepend_scheme '{}'", shown(s)));
  }
  return r.boolean(step, "add_prefix_space", path, true) ? prepend_scheme::always : prepend_scheme::never;
}

std::string metaspace_replacement(const reader& r, const json& step, std::string_view path) {
  auto s = r.optional_string(step, "replacement", path).value_or(std::string(metaspace_default));
  if (s.empty() || text::valid_char_length(s, 0) != s.size()) r.fail(path, "expected a single character");
  return s;
}

// Splits piece on the regex matches and regroups the parts the way the tokenizers
// library's SplitDelimiterBehavior does.
void split_piece(std::string_view piece, const split_regex& regex, split_behavior behavior, bool invert,
                 std::vector<std::string>& out) {
  std::vector<split_span> spans;
  std::size_t last = 0;
  for (const auto& [b, e] : regex.matches(piece)) {
    if (b > last) spans.push_back({last, b, invert});
    spans.push_back({b, e, !invert});
    last = e;
  }
  if (last < piece.size()) spans.push_back({last, piece.size(), invert});

  const auto emit = [&](std::size_t b, std::size_t e) {
    if (e > b) out.emplace_back(piece.substr(b, e - b));
  };
  switch (behavior) {
    case split_behavior::isolated:
      for (const auto& s : spans) emit(s.begin, s.end);
      break;
    case split_behavior::removed:
      for (const auto& s : spans) {
        if (!s.delimiter) emit(s.begin, s.end);
      }
      break;
    case split_behavior::merged_with_previous: {
      std::size_t begin = 0;
      for (const auto& s : spans) {
        if (s.delimiter) {
          emit(begin, s.end);
          begin = s.end;
        }
      }
      emit(begin, piece.size());
      break;
    }
    case split_behavior::merged_with_next: {
      std::size_t begin = 0;
      for (const auto& s : spans) {
        if (s.delimiter) {
          emit(begin, s.begin);
          begin = s.begin;
        }
      }
      emit(begin, piece.size());
      break;
    }
    case split_behavior::contiguous: {
      std::size_t i = 0;
      while (i < spans.size()) {
        std::size_t j = i + 1;
        if (spans[i].delimiter) {
          while (j < spans.size() && spans[j].delimiter) ++j;
        }
        emit(spans[i].begin, spans[j - 1].end);
        i = j;
      }
      break;
    }
  }
}

}  // namespace

struct tokenizer::impl {
  struct trie_node {
    std::vector<std::pair<unsigned char, std::int32_t>> children;
    std::int32_t added = -1;
  };

  options opts;
  std::optional<bpe_model> model;
  std::vector<std::string> id_to_token;
  std::vector<std::uint8_t> flags;
  std::vector<added_token> added;
  token_map added_ids;
  std::vector<trie_node> trie;
  std::array<bool, 256> trie_first_byte{};

  std::vector<normalizer_step> normalizers;
  std::vector<pre_tokenizer_step> pre_tokenizers;
  std::vector<std::int32_t> template_prefix;
  std::vector<std::int32_t> template_suffix;

  bool has_decoder = false;
  std::vector<decoder_step> decoders;
  std::string whole_strip_content;
  std::size_t whole_strip_start = 0;
  std::size_t whole_strip_stop = 0;

  std::optional<std::int32_t> bos;
  std::optional<std::int32_t> eos;

  void set_token(std::int32_t id, std::string_view content, std::uint8_t flag) {
    if (static_cast<std::size_t>(id) >= id_to_token.size()) {
      id_to_token.resize(static_cast<std::size_t>(id) + 1);
      flags.resize(static_cast<std::size_t>(id) + 1, 0);
    }
    id_to_token[id] = std::string(content);
    flags[id] |= flag;
  }

  std::optional<std::int32_t> lookup(std::string_view token) const {
    if (const auto it = added_ids.find(token); it != added_ids.end()) return it->second;
    return model->token_id(token);
  }

  void build_trie() {
    trie.assign(1, trie_node{});
    trie_first_byte.fill(false);
    added_ids.clear();
    for (std::size_t i = 0; i < added.size(); ++i) {
      const auto& a = added[i];
      added_ids.insert_or_assign(a.content, a.id);
      if (a.content.empty() || (a.special && !opts.parse_special)) continue;
      std::int32_t node = 0;
      for (const char c : a.content) {
        const auto byte = static_cast<unsigned char>(c);
        auto& children = trie[node].children;
        const auto it =
            std::find_if(children.begin(), children.end(), [&](const auto& child) { return child.first == byte; });
        if (it != children.end()) {
          node = it->second;
        } else {
          const auto next = static_cast<std::int32_t>(trie.size());
          trie[node].children.emplace_back(byte, next);
          trie.emplace_back();
          node = next;
        }
      }
      trie[node].added = static_cast<std::int32_t>(i);
      trie_first_byte[static_cast<unsigned char>(a.content.front())] = true;
    }
  }

  // The added token matching at pos (the longest that satisfies single_word), or -1.
  std::int32_t match_added(std::string_view input, std::size_t pos) const {
    std::int32_t node = 0;
    std::int32_t best = -1;
    for (std::size_t i = pos; i < input.size(); ++i) {
      const auto byte = static_cast<unsigned char>(input[i]);
      const auto& children = trie[node].children;
      const auto it =
          std::find_if(children.begin(), children.end(), [&](const auto& child) { return child.first == byte; });
      if (it == children.end()) break;
      node = it->second;
      const auto candidate = trie[node].added;
      if (candidate < 0) continue;
      if (added[candidate].single_word) {
        const auto before = char_before(input, pos);
        const auto after = char_at(input, i + 1);
        if ((before && text::is_word_char(*before)) || (after && text::is_word_char(*after))) continue;
      }
      best = candidate;
    }
    return best;
  }

  std::vector<section> split_added(std::string_view input) const {
    std::vector<section> sections;
    std::size_t start = 0;
    std::size_t pos = 0;
    while (pos < input.size()) {
      if (!trie_first_byte[static_cast<unsigned char>(input[pos])]) {
        ++pos;
        continue;
      }
      const auto found = match_added(input, pos);
      if (found < 0) {
        ++pos;
        continue;
      }
      if (pos > start) sections.push_back({input.substr(start, pos - start), start});
      sections.push_back({input.substr(pos, added[found].content.size()), pos, found});
      pos += added[found].content.size();
      start = pos;
    }
    if (start < input.size()) sections.push_back({input.substr(start), start});

    for (std::size_t i = 0; i < sections.size(); ++i) {
      if (sections[i].added < 0) continue;
      const auto& a = added[sections[i].added];
      if (a.lstrip && i > 0 && sections[i - 1].added < 0) sections[i - 1].text = trim_right(sections[i - 1].text);
      if (a.rstrip && i + 1 < sections.size() && sections[i + 1].added < 0) {
        const auto trimmed = trim_left(sections[i + 1].text);
        sections[i + 1].offset += sections[i + 1].text.size() - trimmed.size();
        sections[i + 1].text = trimmed;
      }
    }
    return sections;
  }

  std::string normalize(std::string_view input) const {
    std::string s(input);
    for (const auto& n : normalizers) {
      switch (n.type) {
        case normalizer_step::kind::unicode:
          s = text::normalize(s, n.form);
          break;
        case normalizer_step::kind::prepend:
          if (!s.empty()) s.insert(0, n.content);
          break;
        case normalizer_step::kind::replace:
          if (!n.pattern.empty()) {
            replace_all(s, n.pattern, n.content);
          } else {
            std::string out;
            std::size_t last = 0;
            for (const auto& [b, e] : n.regex->matches(s)) {
              out.append(s, last, b - last).append(n.content);
              last = e;
            }
            out.append(s, last, std::string::npos);
            s = std::move(out);
          }
          break;
      }
    }
    return s;
  }

  std::vector<std::string> pre_tokenize(std::string normalized, bool first_section) const {
    std::vector<std::string> pieces;
    pieces.push_back(std::move(normalized));
    std::vector<std::string> next;
    for (const auto& step : pre_tokenizers) {
      next.clear();
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        auto& piece = pieces[i];
        switch (step.type) {
          case pre_tokenizer_step::kind::split:
            split_piece(piece, *step.regex, step.behavior, step.invert, next);
            break;
          case pre_tokenizer_step::kind::byte_level: {
            if (step.add_prefix_space && !piece.starts_with(' ')) piece.insert(0, " ");
            if (step.regex) {
              const auto start = next.size();
              split_piece(piece, *step.regex, split_behavior::isolated, false, next);
              for (auto j = start; j < next.size(); ++j) next[j] = text::byte_level().encode(next[j]);
            } else {
              next.push_back(text::byte_level().encode(piece));
            }
            break;
          }
          case pre_tokenizer_step::kind::metaspace: {
            replace_all(piece, " ", step.replacement);
            const bool prepend = step.scheme == prepend_scheme::always ||
                                 (step.scheme == prepend_scheme::first && first_section && i == 0);
            if (prepend && !piece.starts_with(step.replacement)) piece.insert(0, step.replacement);
            if (!step.split) {
              next.push_back(std::move(piece));
              break;
            }
            std::size_t begin = 0;
            std::size_t pos = piece.find(step.replacement, 1);
            while (pos != std::string::npos) {
              next.emplace_back(piece.substr(begin, pos - begin));
              begin = pos;
              pos = piece.find(step.replacement, pos + step.replacement.size());
            }
            if (begin < piece.size()) next.emplace_back(piece.substr(begin));
            break;
          }
        }
      }
      pieces.swap(next);
    }
    return pieces;
  }

  void encode_text(std::string_view section_text, bool first_section, std::vector<std::int32_t>& out) const {
    auto normalized = normalize(section_text);
    if (normalized.empty()) return;
    for (const auto& piece : pre_tokenize(std::move(normalized), first_section)) model->encode(piece, out);
  }

  // The bytes id contributes to decoded text; whole-text stripping is the caller's.
  void token_bytes(std::int32_t id, bool first, std::string& out) const {
    const std::string& token = id_to_token[id];
    if (!has_decoder) {
      if (!first) out.push_back(' ');
      out.append(token);
      return;
    }
    const bool is_added = (flags[id] & flag_added) != 0;
    std::string s = token;
    for (const auto& step : decoders) {
      switch (step.type) {
        case decoder_step::kind::byte_level:
          if (!is_added) {
            std::string bytes;
            if (text::byte_level().decode(s, bytes)) s = std::move(bytes);
          }
          break;
        case decoder_step::kind::replace:
          replace_all(s, step.from, step.to);
          break;
        case decoder_step::kind::byte_fallback:
          if (s.size() == 6 && s.starts_with("<0x") && s.back() == '>' && std::isxdigit(s[3]) != 0 &&
              std::isxdigit(s[4]) != 0) {
            s = std::string(1, static_cast<char>(std::stoi(s.substr(3, 2), nullptr, 16)));
          }
          break;
        case decoder_step::kind::strip: {
          std::size_t begin = 0;
          for (std::size_t k = 0; k < step.start && s.compare(begin, step.from.size(), step.from) == 0; ++k) {
            begin += step.from.size();
          }
          std::size_t end = s.size();
          for (std::size_t k = 0; k < step.stop && end >= begin + step.from.size() &&
                                  s.compare(end - step.from.size(), step.from.size(), step.from) == 0;
               ++k) {
            end -= step.from.size();
          }
          s = s.substr(begin, end - begin);
          break;
        }
        case decoder_step::kind::metaspace:
          replace_all(s, step.from, " ");
          if (first && step.scheme != prepend_scheme::never && s.starts_with(' ')) s.erase(0, 1);
          break;
      }
    }
    out.append(s);
  }

  void strip_leading(std::string& piece, std::size_t& left) const {
    if (left == 0 || whole_strip_content.empty()) return;
    std::size_t begin = 0;
    while (left > 0 && piece.compare(begin, whole_strip_content.size(), whole_strip_content) == 0) {
      begin += whole_strip_content.size();
      --left;
    }
    if (begin < piece.size()) left = 0;
    piece.erase(0, begin);
  }

  bool decodable(std::int32_t id, bool skip_special) const {
    if (id < 0 || static_cast<std::size_t>(id) >= id_to_token.size()) return false;
    if ((flags[id] & (flag_added | flag_special)) == 0 && id_to_token[id].empty()) return false;
    return !(skip_special && (flags[id] & flag_special) != 0);
  }
};

namespace {

void load_model(tokenizer::impl& t, const reader& r, const json& root) {
  const auto& model = r.object(root, "model", "model");
  if (const auto it = model.find("type"); it != model.end()) {
    if (!it->is_string()) r.fail("model.type", "expected a string");
    if (it->get<std::string>() != "BPE") r.fail("model.type", fmt::format("unsupported model '{}'", shown(it->get<std::string>())));
  }
  if (const auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() != 0.0) r.fail("model.dropout", "BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto path = fmt::format("model.{}", key);
    if (const auto v = r.optional_string(model, key, path); v && !v->empty()) r.fail(path, "not supported");
  }

  const auto& vocab = r.object(model, "vocab", "model.vocab");
  token_map map;
  map.reserve(vocab.size());
  for (const auto& [token, value] : vocab.items()) {
    const auto id = r.token_id(value, fmt::format("model.vocab[\"{}\"]", shown(token)));
    map.emplace(token, id);
    t.set_token(id, token, 0);
  }

  bpe_model::settings s;
  s.byte_fallback = r.boolean(model, "byte_fallback", "model.byte_fallback", false);
  s.ignore_merges = r.boolean(model, "ignore_merges", "model.ignore_merges", false);
  s.fuse_unk = r.boolean(model, "fuse_unk", "model.fuse_unk", false);
  s.cache_capacity = t.opts.cache_capacity;
  if (const auto unk = r.optional_string(model, "unk_token", "model.unk_token")) {
    const auto it = map.find(*unk);
    if (it == map.end()) r.fail("model.unk_token", fmt::format("'{}' is not in the vocabulary", shown(*unk)));
    s.unk_id = it->second;
  }
  t.model.emplace(std::move(map), s);

  const auto merges = model.find("merges");
  if (merges == model.end()) r.fail("model.merges", "missing");
  if (!merges->is_array()) r.fail("model.merges", "expected an array");
  std::size_t index = 0;
  for (const auto& m : *merges) {
    const auto path = fmt::format("model.merges[{}]", index++);
    try {
      if (m.is_string()) {
        const auto& line = m.get_ref<const std::string&>();
        const auto space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
          r.fail(path, "expected \"left right\"");
        }
        t.model->add_merge(std::string_view(line).substr(0, space), std::string_view(line).substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        t.model->add_merge(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>());
      } else {
        r.fail(path, "expected a string or a pair of strings");
      }
    } catch (const std::invalid_argument& e) {
      r.fail(path, e.what());
    }
  }
}

void load_added_tokens(tokenizer::impl& t, const reader& r, const json& root) {
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) r.fail("added_tokens", "expected an array");
  std::size_t index = 0;
  for (const auto& a : *it) {
    const auto path = fmt::format("added_tokens[{}]", index++);
    if (!a.is_object()) r.fail(path, "expected an object");
    added_token token;
    token.id = r.token_id(a.contains("id") ? a["id"] : json(), path + ".id");
    token.content = r.string(a, "content", path + ".content");
    if (token.content.empty()) r.fail(path + ".content", "empty");
    token.special = r.boolean(a, "special", path + ".special", false);
    token.lstrip = r.boolean(a, "lstrip", path + ".lstrip", false);
    token.rstrip = r.boolean(a, "rstrip", path + ".rstrip", false);
    token.single_word = r.boolean(a, "single_word", path + ".single_word", false);
    t.set_token(token.id, token.content, token.special ? flag_added | flag_special : flag_added);
    t.added.push_back(std::move(token));
  }
}

void load_normalizer(tokenizer::impl& t, const reader& r, const json& n, const std::string& path) {
  if (n.is_null()) return;
  if (!n.is_object()) r.fail(path, "expected an object or null");
  const auto type = r.string(n, "type", path + ".type");
  normalizer_step step{};
  if (type == "Sequence") {
    const auto it = n.find("normalizers");
    if (it == n.end() || !it->is_array()) r.fail(path + ".normalizers", "expected an array");
    for (std::size_t i = 0; i < it->size(); ++i) load_normalizer(t, r, (*it)[i], fmt::format("{}.normalizers[{}]", path, i));
    return;
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.type = normalizer_step::kind::unicode;
    step.form = type == "NFC"   ? text::normal_form::nfc
                : type == "NFD" ? text::normal_form::nfd
                : type == "NFKC" ? text::normal_form::nfkc
                                 : text::normal_form::nfkd;
  } else if (type == "Prepend") {
    step.type = normalizer_step::kind::prepend;
    step.content = r.string(n, "prepend", path + ".prepend");
  } else if (type == "Replace") {
    step.type = normalizer_step::kind::replace;
    step.content = r.string(n, "content", path + ".content");
    std::string literal;
    step.regex = r.pattern(n, path + ".pattern", &literal);
    step.pattern = literal;
  } else {
    r.fail(path + ".type", fmt::format("unsupported normalizer '{}'", shown(type)));
  }
  t.normalizers.push_back(std::move(step));
}

void load_pre_tokenizer(tokenizer::impl& t, const reader& r, const json& p, const std::string& path) {
  if (p.is_null()) return;
  if (!p.is_object()) r.fail(path, "expected an object or null");
  const auto type = r.string(p, "type", path + ".type");
  pre_tokenizer_step step{};
  if (type == "Sequence") {
    const auto it = p.find("pretokenizers");
    if (it == p.end() || !it->is_array()) r.fail(path + ".pretokenizers", "expected an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      load_pre_tokenizer(t, r, (*it)[i], fmt::format("{}.pretokenizers[{}]", path, i));
    }
    return;
  }
  if (type == "Split") {
    step.type = pre_tokenizer_step::kind::split;
    step.regex = r.pattern(p, path + ".pattern", nullptr);
    step.behavior = parse_behavior(r, p, path + ".behavior");
    step.invert = r.boolean(p, "invert", path + ".invert", false);
  } else if (type == "ByteLevel") {
    step.type = pre_tokenizer_step::kind::byte_level;
    step.add_prefix_space = r.boolean(p, "add_prefix_space", path + ".add_prefix_space", true);
    if (r.boolean(p, "use_regex", path + ".use_regex", true)) step.regex = r.regex(std::string(gpt2_pattern), path);
  } else if (type == "Metaspace") {
    step.type = pre_tokenizer_step::kind::metaspace;
    step.replacement = metaspace_replacement(r, p, path + ".replacement");
    step.scheme = parse_scheme(r, p, path + ".prepend_scheme");
    step.split = r.boolean(p, "split", path + ".split", true);
  } else if (type == "Digits") {
    step.type = pre_tokenizer_step::kind::split;
    const bool individual = r.boolean(p, "individual_digits", path + ".individual_digits", false);
    step.regex = r.regex(individual ? "\\p{N}" : "\\p{N}+", path);
    step.behavior = split_behavior::isolated;
  } else if (type == "WhitespaceSplit") {
    step.type = pre_tokenizer_step::kind::split;
    step.regex = r.regex("\\s+", path);
    step.behavior = split_behavior::removed;
  } else if (type == "Whitespace") {
    step.type = pre_tokenizer_step::kind::split;
    step.regex = r.regex("\\w+|[^\\w\\s]+", path);
    step.behavior = split_behavior::removed;
    step.invert = true;
  } else {
    r.fail(path + ".type", fmt::format("unsupported pre-tokenizer '{}'", shown(type)));
  }
  t.pre_tokenizers.push_back(std::move(step));
}

void template_token(const reader& r, const json& specials, const std::string& name,
                            const std::string& path, std::vector<std::int32_t>& out) {
  const auto it = specials.find(name);
  if (it == specials.end() || !it->is_object()) r.fail(path, fmt::format("special token '{}' is not defined", shown(name)));
  const auto ids = it->find("ids");
  if (ids == it->end() || !ids->is_array()) r.fail(path, fmt::format("special token '{}' has no ids", shown(name)));
  for (const auto& id : *ids) out.push_back(r.token_id(id, path));
}

void load_post_processor(tokenizer::impl& t, const reader& r, const json& p, const std::string& path) {
  if (p.is_null()) return;
  if (!p.is_object()) r.fail(path, "expected an object or null");
  const auto type = r.string(p, "type", path + ".type");
  if (type == "Sequence") {
    const auto it = p.find("processors");
    if (it == p.end() || !it->is_array()) r.fail(path + ".processors", "expected an array");
    for (std::size_t i = 0; i < it->size(); ++i) load_post_processor(t, r, (*it)[i], fmt::format("{}.processors[{}]", path, i));
    return;
  }
  if (type == "ByteLevel") return;
  if (type == "TemplateProcessing") {
    const auto single = p.find("single");
    if (single == p.end() || !single->is_array()) r.fail(path + ".single", "expected an array");
    json specials = json::object();
    if (const auto it = p.find("special_tokens"); it != p.end() && it->is_object()) specials = *it;
    bool seen_sequence = false;
    for (std::size_t i = 0; i < single->size(); ++i) {
      const auto& item = (*single)[i];
      const auto item_path = fmt::format("{}.single[{}]", path, i);
      if (const auto s = item.find("SpecialToken"); s != item.end()) {
        const auto name = r.string(*s, "id", item_path + ".SpecialToken.id");
        template_token(r, specials, name, item_path, seen_sequence ? t.template_suffix : t.template_prefix);
      } else if (const auto q = item.find("Sequence"); q != item.end()) {
        if (seen_sequence) r.fail(item_path, "more than one sequence in a single template");
        seen_sequence = true;
      } else {
        r.fail(item_path, "expected SpecialToken or Sequence");
      }
    }
    return;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const auto it = p.find(key);
      if (it == p.end() || !it->is_array() || it->size() != 2) r.fail(path + "." + key, "expected [token, id]");
      (std::string_view(key) == "cls" ? t.template_prefix : t.template_suffix).push_back(r.token_id((*it)[1], path + "." + key));
    }
    return;
  }
  r.fail(path + ".type", fmt::format("unsupported post-processor '{}'", shown(type)));
}

void load_decoder(tokenizer::impl& t, const reader& r, const json& d, const std::string& path, bool& fused) {
  if (d.is_null()) return;
  if (!d.is_object()) r.fail(path, "expected an object or null");
  t.has_decoder = true;
  const auto type = r.string(d, "type", path + ".type");
  decoder_step step{};
  if (type == "Sequence") {
    const auto it = d.find("decoders");
    if (it == d.end() || !it->is_array()) r.fail(path + ".decoders", "expected an array");
    for (std::size_t i = 0; i < it->size(); ++i) load_decoder(t, r, (*it)[i], fmt::format("{}.decoders[{}]", path, i), fused);
    return;
  }
  if (type == "Fuse") {
    fused = true;
    return;
  }
  if (type == "ByteLevel") {
    step.type = decoder_step::kind::byte_level;
  } else if (type == "ByteFallback") {
    step.type = decoder_step::kind::byte_fallback;
  } else if (type == "Replace") {
    step.type = decoder_step::kind::replace;
    std::string literal;
    r.pattern(d, path + ".pattern", &literal);
    if (literal.empty()) r.fail(path + ".pattern", "only a String pattern is supported in a decoder");
    step.from = literal;
    step.to = r.string(d, "content", path + ".content");
  } else if (type == "Strip") {
    step.type = decoder_step::kind::strip;
    step.from = r.string(d, "content", path + ".content");
    step.start = static_cast<std::size_t>(std::max<std::int64_t>(0, r.integer(d, "start", path + ".start")));
    step.stop = static_cast<std::size_t>(std::max<std::int64_t>(0, r.integer(d, "stop", path + ".stop")));
    if (fused) {
      t.whole_strip_content = step.from;
      t.whole_strip_start = step.start;
      t.whole_strip_stop = step.stop;
      return;
    }
  } else if (type == "Metaspace") {
    step.type = decoder_step::kind::metaspace;
    step.from = metaspace_replacement(r, d, path + ".replacement");
    step.scheme = parse_scheme(r, d, path + ".prepend_scheme");
  } else {
    r.fail(path + ".type", fmt::format("unsupported decoder '{}'", shown(type)));
  }
  t.decoders.push_back(std::move(step));
}

// A token named in tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> config_token(const reader& r, const json& config, std::string_view key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return r.string(*it, "content", fmt::format("{}.content", key));
  r.fail(key, "expected a string, an object with content, or null");
}

void load_config(tokenizer::impl& t, const reader& r, const json& config) {
  if (!config.is_object()) r.fail("(root)", "expected an object");
  if (const auto it = config.find("added_tokens_decoder"); it != config.end() && !it->is_null()) {
    if (!it->is_object()) r.fail("added_tokens_decoder", "expected an object");
    for (const auto& [key, value] : it->items()) {
      const auto path = fmt::format("added_tokens_decoder[\"{}\"]", shown(key));
      std::int32_t id = 0;
      try {
        std::size_t used = 0;
        const auto parsed = std::stol(key, &used);
        if (used != key.size() || parsed < 0 || parsed > 0x7FFFFFFF) throw std::invalid_argument(key);
        id = static_cast<std::int32_t>(parsed);
      } catch (const std::exception&) {
        r.fail(path, "key is not a token id");
      }
      if (!value.is_object()) r.fail(path, "expected an object");
      added_token token;
      token.id = id;
      token.content = r.string(value, "content", path + ".content");
      if (token.content.empty()) r.fail(path + ".content", "empty");
      token.special = r.boolean(value, "special", path + ".special", false);
      token.lstrip = r.boolean(value, "lstrip", path + ".lstrip", false);
      token.rstrip = r.boolean(value, "rstrip", path + ".rstrip", false);
      token.single_word = r.boolean(value, "single_word", path + ".single_word", false);
      const auto existing = std::find_if(t.added.begin(), t.added.end(), [&](const auto& a) { return a.id == id; });
      if (existing != t.added.end()) {
        if (existing->content != token.content) {
          r.fail(path, fmt::format("'{}' disagrees with tokenizer.json's '{}'", shown(token.content), shown(existing->content)));
        }
        *existing = token;
        t.flags[id] &= static_cast<std::uint8_t>(~flag_special);
      } else {
        t.added.push_back(token);
      }
      t.set_token(id, token.content, token.special ? flag_added | flag_special : flag_added);
    }
  }
  t.build_trie();
  const auto mark_special = [&](const std::string& token, std::string_view field) {
    const auto id = t.lookup(token);
    if (!id) r.fail(field, fmt::format("'{}' is not in the vocabulary", shown(token)));
    t.flags[*id] |= flag_special;
    return *id;
  };
  if (const auto it = config.find("additional_special_tokens"); it != config.end() && !it->is_null()) {
    if (!it->is_array()) r.fail("additional_special_tokens", "expected an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& v = (*it)[i];
      const auto path = fmt::format("additional_special_tokens[{}]", i);
      if (v.is_string()) {
        mark_special(v.get<std::string>(), path);
      } else if (v.is_object()) {
        mark_special(r.string(v, "content", path + ".content"), path);
      } else {
        r.fail(path, "expected a string or an object with content");
      }
    }
  }
  if (const auto bos = config_token(r, config, "bos_token")) t.bos = mark_special(*bos, "bos_token");
  if (const auto eos = config_token(r, config, "eos_token")) t.eos = mark_special(*eos, "eos_token");
  for (const char* key : {"unk_token", "pad_token"}) {
    if (const auto token = config_token(r, config, key)) mark_special(*token, key);
  }
}

}  // namespace

tokenizer::tokenizer(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
tokenizer::tokenizer(tokenizer&&) noexcept = default;
tokenizer& tokenizer::operator=(tokenizer&&) noexcept = default;
tokenizer::~tokenizer() = default;

tokenizer tokenizer::from_files(const std::filesystem::path& tokenizer_json,
                                const std::filesystem::path& tokenizer_config, options opts) {
  const model_file_limits limits;
  const auto json_text = read_file(tokenizer_json, limits.tokenizer);
  const auto config_text = tokenizer_config.empty() ? std::string() : read_file(tokenizer_config, limits.tokenizer_config);
  return from_json(json_text, config_text, opts, tokenizer_json.filename().string(),
                   tokenizer_config.filename().string());
}

tokenizer tokenizer::from_json(std::string_view tokenizer_json, std::string_view tokenizer_config, options opts,
                               std::string_view json_name, std::string_view config_name) {
  auto t = std::make_unique<impl>();
  t->opts = opts;
  const reader r(json_name);
  const auto root = r.parse(tokenizer_json);
  if (!root.is_object()) r.fail("(root)", "expected an object");
  load_model(*t, r, root);
  load_added_tokens(*t, r, root);
  load_normalizer(*t, r, root.value("normalizer", json()), "normalizer");
  load_pre_tokenizer(*t, r, root.value("pre_tokenizer", json()), "pre_tokenizer");
  load_post_processor(*t, r, root.value("post_processor", json()), "post_processor");
  bool fused = false;
  load_decoder(*t, r, root.value("decoder", json()), "decoder", fused);
  if (!tokenizer_config.empty()) {
    const reader cr(config_name);
    load_config(*t, cr, cr.parse(tokenizer_config));
  }
  t->build_trie();
  return tokenizer(std::move(t));
}

std::vector<std::int32_t> tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!text::is_valid_utf8(text)) {
    repaired = text::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), impl_->template_prefix.begin(), impl_->template_prefix.end());
  for (const auto& s : impl_->split_added(text)) {
    if (s.added >= 0) {
      ids.push_back(impl_->added[s.added].id);
    } else {
      impl_->encode_text(s.text, s.offset == 0, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), impl_->template_suffix.begin(), impl_->template_suffix.end());
  return ids;
}

std::string tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  std::string piece;
  bool first = true;
  std::size_t strip_left = impl_->whole_strip_start;
  for (const auto id : ids) {
    if (!impl_->decodable(id, skip_special_tokens)) continue;
    piece.clear();
    impl_->token_bytes(id, first, piece);
    first = false;
    impl_->strip_leading(piece, strip_left);
    out.append(piece);
  }
  const auto& content = impl_->whole_strip_content;
  for (std::size_t k = 0; k < impl_->whole_strip_stop && !content.empty() && out.ends_with(content); ++k) {
    out.resize(out.size() - content.size());
  }
  return text::to_valid_utf8(out);
}

std::optional<std::int32_t> tokenizer::token_id(std::string_view token) const { return impl_->lookup(token); }

std::string_view tokenizer::token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= impl_->id_to_token.size()) return {};
  return impl_->id_to_token[id];
}

std::size_t tokenizer::vocab_size() const { return impl_->id_to_token.size(); }
std::optional<std::int32_t> tokenizer::bos_id() const { return impl_->bos; }
std::optional<std::int32_t> tokenizer::eos_id() const { return impl_->eos; }

bool tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < impl_->flags.size() && (impl_->flags[id] & flag_special) != 0;
}

tokenizer::stream_decoder::stream_decoder(const tokenizer& tok, bool skip_special_tokens)
    : tok_(&tok), skip_special_(skip_special_tokens), strip_left_(tok.impl_->whole_strip_start) {}

std::string tokenizer::stream_decoder::push(std::int32_t id) {
  const auto& t = *tok_->impl_;
  if (!t.decodable(id, skip_special_)) return {};
  std::string piece;
  t.token_bytes(id, first_, piece);
  first_ = false;
  t.strip_leading(piece, strip_left_);
  pending_.append(piece);
  const auto complete = text::complete_prefix_length(pending_);
  auto out = text::to_valid_utf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string tokenizer::stream_decoder::finish() {
  auto out = text::to_valid_utf8(pending_);
  pending_.clear();
  first_ = true;
  strip_left_ = tok_->impl_->whole_strip_start;
  return out;
}

}  // namespace agora::inference
