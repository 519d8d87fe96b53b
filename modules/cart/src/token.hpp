#pragma once

#include <string>
#include <string_view>

// Guest cart tokens: random secrets handed out once, stored only as digests.
namespace agora::cart::token {

// A new token: 32 random bytes, hex.
std::string make();
// Hex of the BLAKE2b-256 of `token` (a random 256-bit secret needs no slow hash).
std::string digest(std::string_view token);

}  // namespace agora::cart::token
