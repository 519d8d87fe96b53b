#include <customers/api.hpp>

#include <agora/app.hpp>
#include <agora/ids.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

using namespace agora;
using json = nlohmann::json;

namespace {

bus::request_options as(principal who) {
  bus::request_options o;
  o.who = std::move(who);
  return o;
}

principal customer_of(const customers::account& a) {
  return principal{a.id, principal_kind::customer, {"customer"}, {}, ""};
}

std::vector<std::string> types(const std::vector<bus::event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.type);
  return out;
}

struct temp_dir {
  temp_dir() : path(std::filesystem::temp_directory_path() / ("agora-customers-" + new_id("t"))) {
    std::filesystem::create_directories(path);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

}  // namespace

TEST_CASE("account and credential changes are published through the outbox", "[customers]") {
  testing::module_fixture f(customers::module(), {.settings = {{"modules.customers.password_memory_kib", 64},
                                                               {"modules.customers.password_iterations", 1}}});
  REQUIRE(f.settle());  // the start's own events (the first admin, the first key) are out of the way
  auto& accounts = f.subscribe(std::string(customers::accounts_topic));
  auto& credentials = f.subscribe(std::string(customers::credentials_topic));

  auto made = f.call<customers::register_account>({"ev@example.com", "an event password", "Eve"});
  REQUIRE(made);
  auto me = customer_of(*made);
  customers::update_me_request rename;
  rename.name = "Eve B";
  REQUIRE(f.call<customers::update_me>(rename, as(me)));
  auto key = f.call<customers::create_api_key>({"k", {}, std::nullopt}, as(me));
  REQUIRE(key);
  REQUIRE(f.call<customers::revoke_api_key>({key->item.id}, as(me)));
  principal admin{"cus_admin", principal_kind::staff, {"admin"}, {}, ""};
  REQUIRE(f.call<customers::rotate_keys>({}, as(admin)));
  REQUIRE(f.settle());

  CHECK(types(accounts.events()) == std::vector<std::string>{"customer.registered", "customer.updated"});
  CHECK(accounts.events().front().subject == made->id);
  CHECK(accounts.events().front().data.dump().find("ev@example.com") == std::string::npos);  // no email in events
  CHECK(types(credentials.events()) ==
        std::vector<std::string>{"apikey.created", "apikey.revoked", "signing_key.rotated"});
  // Over the bus too, nobody but an admin rotates keys, and only a principal has a "me".
  CHECK(f.call<customers::rotate_keys>({}, as(me)).err().code == errc::permission_denied);
  CHECK(f.call<customers::get_me>({}).err().code == errc::unauthenticated);
}

TEST_CASE("a verified API key's use is recorded without a write per request", "[customers]") {
  testing::module_fixture f(customers::module(), {.settings = {{"modules.customers.password_memory_kib", 64},
                                                               {"modules.customers.password_iterations", 1}}});
  auto made = f.call<customers::register_account>({"use@example.com", "a use password!", "Use"});
  REQUIRE(made);
  auto key = f.call<customers::create_api_key>({"k", {"account"}, std::nullopt}, as(customer_of(*made)));
  REQUIRE(key);
  for (int i = 0; i < 3; ++i) {
    auto v = f.call<identity::verify_api_key>({key->key});
    REQUIRE(v);
    CHECK(v->who.subject == made->id);
    CHECK(v->who.kind == principal_kind::api_key);
    CHECK(v->who.scopes == std::vector<std::string>{"account"});
  }
  CHECK(f.call<identity::verify_api_key>({key->key + "x"}).err().code == errc::unauthenticated);
  CHECK(f.call<identity::verify_api_key>({"agk_short"}).err().code == errc::unauthenticated);
  auto last_used = [&] {
    return f.store().run_sync([id = key->item.id](store::database& db) {
      auto& s = db.prepare("SELECT last_used_at FROM api_keys WHERE id = ?");
      s.bind(1, id);
      return s.step() ? s.opt_text(0) : std::nullopt;
    });
  };
  CHECK_FALSE(last_used().value().has_value());  // not written yet: uses are kept in memory
  f.restart();                                   // a stop writes them
  CHECK(last_used().value().has_value());
}

TEST_CASE("agora customers create-admin reads the password from standard input and never overwrites", "[customers]") {
  temp_dir dir;
  auto run = [&](std::vector<std::string> args, std::string input, std::string& out, std::string& err) {
    auto modules = all_modules();
    config::config cfg(all_settings(modules));
    cfg.set("data_dir", dir.path.string());
    cfg.set("modules.customers.password_memory_kib", 64);
    app a(std::move(cfg), std::move(modules));
    std::ostringstream o, e;
    std::istringstream in(input);
    int code = a.run_command("customers", "create-admin", std::move(args), o, e, in);
    out = o.str();
    err = e.str();
    return code;
  };
  std::string out, err;
  CHECK(run({"--email", "root@example.com"}, "a strong admin password\n", out, err) == 0);
  CHECK(out.rfind("cus_", 0) == 0);
  CHECK(run({"--email", "ROOT@example.com"}, "another password entirely\n", out, err) == 1);
  CHECK(err.find("already exists") != std::string::npos);
  CHECK(run({"--email", "weak@example.com"}, "short\n", out, err) == 1);
  CHECK(err.find("password") != std::string::npos);
  CHECK(run({"--email", "none@example.com"}, "", out, err) == 2);
  CHECK(run({}, "a strong admin password\n", out, err) == 2);
  CHECK(run({"--bogus"}, "", out, err) == 2);

  // The admin made there can log in over HTTP.
  testing::options o;
  o.data_dir = dir.path;
  testing::harness h(o);
  auto c = h.connect();
  CHECK_NOTHROW(testing::login(c, "root@example.com", "a strong admin password"));
}
