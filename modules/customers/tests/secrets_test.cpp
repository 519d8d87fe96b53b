#include "secrets.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace agora::customers;

namespace {

std::set<std::string> fields_of(const std::vector<agora::field_error>& errors) {
  std::set<std::string> out;
  for (const auto& e : errors) out.insert(e.field);
  return out;
}

}  // namespace

TEST_CASE("passwords hash to salted Argon2id strings that verify only the same password", "[customers][secrets]") {
  secrets::argon2_cost cheap{1, 64};
  auto a = secrets::hash_password("correct horse battery", cheap);
  auto b = secrets::hash_password("correct horse battery", cheap);
  CHECK(a.rfind("$argon2id$", 0) == 0);
  CHECK(a.find("m=64,t=1") != std::string::npos);
  CHECK(a != b);  // a fresh salt each time
  CHECK(secrets::verify_password("correct horse battery", a));
  CHECK(secrets::verify_password("correct horse battery", b));
  CHECK_FALSE(secrets::verify_password("correct horse batterY", a));
  CHECK_FALSE(secrets::verify_password("", a));
  CHECK_FALSE(secrets::verify_password("correct horse battery", "not a hash"));
  // The default cost is the one documented: OWASP's m = 19 MiB, t = 2.
  auto real = secrets::hash_password("x", secrets::argon2_cost{});
  CHECK(real.find("m=19456,t=2,p=1") != std::string::npos);
}

TEST_CASE("random secrets are long, distinct and stored as digests compared in constant time", "[customers][secrets]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) CHECK(seen.insert(secrets::random_token(32)).second);
  CHECK(secrets::random_token(32).size() == 43);  // 256 bits, unpadded base64url
  auto prefix = secrets::random_alnum(10);
  CHECK(prefix.size() == 10);
  CHECK(prefix.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos);
  CHECK(secrets::digest("agk_x") == secrets::digest("agk_x"));
  CHECK(secrets::digest("agk_x") != secrets::digest("agk_y"));
  CHECK(secrets::digest("agk_x").size() == 64);
  CHECK(secrets::equal(secrets::digest("a"), secrets::digest("a")));
  CHECK_FALSE(secrets::equal(secrets::digest("a"), secrets::digest("b")));
  CHECK_FALSE(secrets::equal("abc", "abcd"));
}

TEST_CASE("account fields: emails, passwords and names are checked by name", "[customers][secrets]") {
  for (std::string_view good : {"a@b.co", "Ada.Lovelace+shop@example.com", "x@localhost"}) {
    std::vector<agora::field_error> e;
    secrets::check_email(good, "email", e);
    CHECK(e.empty());
  }
  for (std::string_view bad : {"", "ab", "no-at-sign", "@example.com", "a@", "a@@b.com", "a b@c.com", "a@b..com",
                               "a@.b.com", "<a>@b.com", "a@b.com\n"}) {
    std::vector<agora::field_error> e;
    secrets::check_email(bad, "email", e);
    CHECK(fields_of(e) == std::set<std::string>{"email"});
  }
  CHECK(secrets::email_key("  Ada@Example.COM ") == "ada@example.com");

  auto password_errors = [](std::string_view p) {
    std::vector<agora::field_error> e;
    secrets::check_password(p, "password", e);
    return e.size();
  };
  CHECK(password_errors("long enough!") == 0);
  CHECK(password_errors("ünïcödé pässwörd") == 0);
  CHECK(password_errors("short") == 1);
  CHECK(password_errors(std::string(257, 'x') + "y") == 1);
  CHECK(password_errors("aaaaaaaaaaaa") == 1);
  CHECK(password_errors("bad \xff utf-8 here") == 1);

  std::vector<agora::field_error> e;
  secrets::check_name("", "name", e);
  secrets::check_name(std::string(201, 'n'), "name", e);
  CHECK(e.size() == 2);
}
