#include "token.hpp"

#include <sodium.h>

#include <stdexcept>

namespace agora::cart::token {

namespace {

void init() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium could not start");
}

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

}  // namespace

std::string make() {
  init();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  return hex(raw, sizeof raw);
}

std::string digest(std::string_view token) {
  init();
  unsigned char d[32];
  crypto_generichash(d, sizeof d, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  return hex(d, sizeof d);
}

}  // namespace agora::cart::token
