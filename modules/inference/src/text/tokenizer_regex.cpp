#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/tokenizer_regex.hpp"

#include <pcre2.h>

#include <stdexcept>

namespace agora::inference {
namespace {

// Match data and a JIT stack per thread, so that matching allocates nothing.
struct thread_match_state {
  pcre2_match_data* data = pcre2_match_data_create(32, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  thread_match_state() {
    if (stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~thread_match_state() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
  thread_match_state(const thread_match_state&) = delete;
  thread_match_state& operator=(const thread_match_state&) = delete;
};

thread_match_state& match_state() {
  thread_local thread_match_state state;
  return state;
}

}  // namespace

struct split_regex::code {
  pcre2_code* compiled = nullptr;
  bool jit = false;
  ~code() { pcre2_code_free(compiled); }
};

split_regex::split_regex(const std::string& pattern) : code_(std::make_unique<code>()) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_->compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code_->compiled == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw std::invalid_argument("regex does not compile at offset " + std::to_string(offset) + ": " +
                                reinterpret_cast<const char*>(message));
  }
  code_->jit = pcre2_jit_compile(code_->compiled, PCRE2_JIT_COMPLETE) == 0;
}

split_regex::split_regex(split_regex&&) noexcept = default;
split_regex& split_regex::operator=(split_regex&&) noexcept = default;
split_regex::~split_regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> split_regex::matches(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  auto& state = match_state();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    const int rc = code_->jit ? pcre2_jit_match(code_->compiled, subject, text.size(), start, PCRE2_NO_UTF_CHECK,
                                                state.data, state.context)
                              : pcre2_match(code_->compiled, subject, text.size(), start, PCRE2_NO_UTF_CHECK,
                                            state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      throw std::runtime_error(std::string("regex match failed: ") + reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (end > begin) {
      out.emplace_back(begin, end);
      start = end;
    } else {
      // An empty match: step over one whole character.
      std::size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      start = next;
    }
  }
  return out;
}

}  // namespace agora::inference
