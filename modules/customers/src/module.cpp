#include "address_http.hpp"
#include "http_codec.hpp"
#include "service.hpp"
#include "settings.hpp"

#include <customers/api.hpp>

#include "agora_customers_migrations.hpp"

namespace agora::customers {

module_definition module() {
  module_decl<service> decl("customers");
  decl.replicas(1)
      .migrations(db::migrations())
      .setting(settings::admin_email)
      .setting(settings::admin_password)
      .setting(settings::password_memory_kib)
      .setting(settings::password_iterations)
      .setting(settings::hash_threads)
      .setting(settings::token_algorithm)
      .setting(settings::access_token_ttl_s)
      .setting(settings::refresh_token_ttl_s)
      .setting(settings::key_rotation_s)
      .setting(settings::key_overlap_s)
      .setting(settings::login_failures_per_account)
      .setting(settings::login_failures_per_address)
      .setting(settings::login_window_s)
      .setting(settings::default_requests_per_minute)
      .setting(settings::default_requests_per_hour)
      .setting(settings::default_daily_tokens)
      .handle<register_account>(&service::register_account)
      .handle<login>(&service::login)
      .handle<refresh>(&service::refresh)
      .handle<logout>(&service::logout)
      .handle<get_me>(&service::get_me)
      .handle<update_me>(&service::update_me)
      .handle<create_api_key>(&service::create_api_key)
      .handle<list_api_keys>(&service::list_api_keys)
      .handle<revoke_api_key>(&service::revoke_api_key)
      .handle<create_account>(&service::create_account)
      .handle<list_accounts>(&service::list_accounts)
      .handle<get_account>(&service::get_account)
      .handle<update_account>(&service::update_account)
      .handle<get_quota>(&service::get_quota)
      .handle<set_quota>(&service::set_quota)
      .handle<create_address>(&service::create_address)
      .handle<list_addresses>(&service::list_addresses)
      .handle<get_address>(&service::get_address)
      .handle<update_address>(&service::update_address)
      .handle<delete_address>(&service::delete_address)
      .handle<rotate_keys>(&service::rotate_keys)
      .handle<identity::signing_keys>(&service::signing_keys)
      .handle<identity::verify_api_key>(&service::verify_api_key)
      .command({.name = "create-admin",
                .summary = "Make an admin account; the password is read from standard input",
                .usage = "--email EMAIL [--name NAME]"},
               &service::create_admin_command)
      .command({.name = "rotate-keys", .summary = "Sign tokens with a new key; the old one stays published a while"},
               &service::rotate_keys_command)
      .publishes(std::string(accounts_topic), {std::string(customer_registered), std::string(customer_updated)})
      .publishes(std::string(credentials_topic),
                 {std::string(apikey_created), std::string(apikey_revoked), std::string(signing_key_rotated)})
      .publishes(std::string(addresses_topic),
                 {std::string(address_created), std::string(address_updated), std::string(address_deleted)});
  http_codec::add_routes(decl);
  add_address_routes(decl);
  return std::move(decl).build();
}

}  // namespace agora::customers
