#include "service.hpp"
#include "store.hpp"

#include <nlohmann/json.hpp>

namespace agora::catalog {

asio::awaitable<int> service::stats(command_context& cmd) {
  bool json = false;
  for (const auto& a : cmd.args) {
    if (a == "--json") json = true;
    else co_return cmd.usage_error("unexpected argument '" + a + "'");
  }
  auto job = [](store::database& db) { return sql::count_rows(db); };
  auto counts = co_await ctx_.store().run(std::move(job));
  if (!counts) {
    cmd.err << "agora catalog stats: " << counts.err().message << '\n';
    co_return 1;
  }
  auto [active, archived, categories] = *counts;
  if (json) {
    nlohmann::json out = {{"products", {{"total", active + archived}, {"active", active}, {"archived", archived}}},
                          {"categories", categories}};
    cmd.out << out.dump() << '\n';
  } else {
    cmd.out << "products: " << active + archived << "\n  active: " << active << "\n  archived: " << archived
            << "\ncategories: " << categories << '\n';
  }
  co_return 0;
}

asio::awaitable<int> service::reindex(command_context& cmd) {
  if (!cmd.args.empty()) co_return cmd.usage_error("unexpected argument '" + cmd.args.front() + "'");
  auto job = [](store::database& db) { return db.transaction([&] { return sql::rebuild_search(db); }); };
  auto indexed = co_await ctx_.store().run(std::move(job));
  if (!indexed) {
    cmd.err << "agora catalog reindex: " << indexed.err().message << '\n';
    co_return 1;
  }
  cmd.out << "reindexed " << *indexed << " products\n";
  co_return 0;
}

}  // namespace agora::catalog
