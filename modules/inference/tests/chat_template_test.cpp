#include <catch2/catch.hpp>

#include "chat_template.hpp"

TEST_CASE("placeholder", "[inference][template]") { REQUIRE(true); }
