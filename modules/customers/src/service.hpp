#pragma once

#include "secrets.hpp"
#include "store.hpp"

#include <customers/api.hpp>

#include <agora/jwt.hpp>
#include <agora/module.hpp>
#include <agora/task_group.hpp>
#include <agora/worker_pool.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace agora::customers {

// One replica of the customers module (it runs one: the login throttle and the key in
// memory are per replica). State lives on its strand; SQLite on the store thread;
// Argon2id on the worker pool.
class service {
 public:
  explicit service(module_context& ctx);
  ~service();

  asio::awaitable<void> start();
  asio::awaitable<void> stop();

  asio::awaitable<result<account>> register_account(register_request req, const bus::call_context& c);
  asio::awaitable<result<token_grant>> login(login_request req, const bus::call_context& c);
  asio::awaitable<result<token_grant>> refresh(refresh_request req, const bus::call_context& c);
  asio::awaitable<result<logout_reply>> logout(refresh_request req, const bus::call_context& c);
  asio::awaitable<result<account>> get_me(get_me_request req, const bus::call_context& c);
  asio::awaitable<result<account>> update_me(update_me_request req, const bus::call_context& c);

  asio::awaitable<result<api_key_created>> create_api_key(create_api_key_request req, const bus::call_context& c);
  asio::awaitable<result<api_key_page>> list_api_keys(list_api_keys_request req, const bus::call_context& c);
  asio::awaitable<result<api_key>> revoke_api_key(revoke_api_key_request req, const bus::call_context& c);

  asio::awaitable<result<account>> create_account(create_account_request req, const bus::call_context& c);
  asio::awaitable<result<account_page>> list_accounts(list_accounts_request req, const bus::call_context& c);
  asio::awaitable<result<account>> get_account(get_account_request req, const bus::call_context& c);
  asio::awaitable<result<account>> update_account(update_account_request req, const bus::call_context& c);

  asio::awaitable<result<quota>> get_quota(get_quota_request req, const bus::call_context& c);
  asio::awaitable<result<quota>> set_quota(set_quota_request req, const bus::call_context& c);

  asio::awaitable<result<address>> create_address(create_address_request req, const bus::call_context& c);
  asio::awaitable<result<address_page>> list_addresses(list_addresses_request req, const bus::call_context& c);
  asio::awaitable<result<address>> get_address(get_address_request req, const bus::call_context& c);
  asio::awaitable<result<address>> update_address(update_address_request req, const bus::call_context& c);
  asio::awaitable<result<address_removed>> delete_address(delete_address_request req, const bus::call_context& c);

  asio::awaitable<result<rotate_keys_reply>> rotate_keys(rotate_keys_request req, const bus::call_context& c);
  asio::awaitable<result<identity::signing_keys_reply>> signing_keys(identity::signing_keys_request req,
                                                                     const bus::call_context& c);
  asio::awaitable<result<identity::verify_api_key_reply>> verify_api_key(identity::verify_api_key_request req,
                                                                         const bus::call_context& c);

  asio::awaitable<int> create_admin_command(command_context& cmd);
  asio::awaitable<int> rotate_keys_command(command_context& cmd);

 private:
  // Failed logins per key (an email, an address) within the window.
  struct throttle {
    std::unordered_map<std::string, std::deque<std::chrono::steady_clock::time_point>> failures;
    std::int64_t limit = 5;
    // Seconds until `key` may try again; 0 when it may now.
    std::int64_t wait_for(const std::string& key, std::chrono::steady_clock::time_point now,
                          std::chrono::seconds window);
    void fail(const std::string& key, std::chrono::steady_clock::time_point now, std::chrono::seconds window);
    void clear(const std::string& key) { failures.erase(key); }
  };

  asio::awaitable<result<account>> new_account(std::string email, std::string password, std::string name,
                                               std::string role, const bus::call_context& c);
  asio::awaitable<result<token_grant>> issue(const account& a, std::optional<std::string> family,
                                             const bus::call_context& c);
  asio::awaitable<result<std::string>> rotate(const bus::call_context& c);
  asio::awaitable<void> background();
  asio::awaitable<void> flush_key_uses();
  result<account> me_of(const bus::call_context& c) const;
  bus::event address_event(std::string_view type, const std::string& account_id, const address& a,
                           const bus::call_context& c) const;
  quota quota_of(std::string subject, const std::optional<sql::quota_row>& row) const;
  std::string now() const { return ctx_.clock().now_rfc3339(); }
  std::string later(std::chrono::seconds s) const;

  module_context& ctx_;
  worker_pool hashing_;
  task_group tasks_;
  secrets::argon2_cost cost_;
  std::string dummy_hash_;  // verified for unknown emails, so they take as long as wrong passwords
  std::optional<jwt::private_key> signing_key_;
  std::string signing_key_created_;
  std::string issuer_, audience_;
  std::chrono::seconds access_ttl_, refresh_ttl_, rotation_, overlap_, window_;
  throttle per_account_, per_address_;
  std::map<std::string, std::string> key_uses_;  // api key id → last use, not yet written
  metrics::counter& logins_ok_;
  metrics::counter& logins_failed_;
  metrics::counter& logins_throttled_;
  metrics::counter& refresh_reuse_;
};

}  // namespace agora::customers
