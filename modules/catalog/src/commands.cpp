#include "import.hpp"
#include "service.hpp"
#include "settings.hpp"
#include "store.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace agora::catalog {

// One import: lines in, checked rows applied a batch (one store transaction) at a time.
class service::import_run {
 public:
  import_run(service& svc, import_format f, const bus::call_context& c) : svc_(svc), reader_(f), c_(c) {}

  asio::awaitable<result<void>> line(std::string_view text, std::int64_t line_no) {
    auto item = reader_.feed(text, line_no);
    if (item.problem) {
      ++report_.rows;
      refuse(std::move(*item.problem));
    }
    if (item.row) {
      ++report_.rows;
      auto f = check_import_row(*item.row);
      if (f) {
        batch_.push_back(std::move(f).value());
      } else {
        auto it = item.row->cells.find("sku");
        refuse({item.row->line, it == item.row->cells.end() ? "" : it->second, reason(f.err())});
      }
    }
    if (batch_.size() >= batch_rows) co_return co_await flush();
    co_return result<void>{};
  }

  void refuse(import_problem p) {
    ++report_.error_count;
    if (report_.errors.size() < import_errors_listed) report_.errors.push_back(std::move(p));
  }

  asio::awaitable<result<import_report>> finish() {
    if (auto p = reader_.finish()) {
      ++report_.rows;
      refuse(std::move(*p));
    }
    if (auto r = co_await flush(); !r) co_return std::move(r).err();
    if (const auto& h = reader_.header_problem()) refuse(*h);
    std::stable_sort(report_.errors.begin(), report_.errors.end(),
                     [](const import_problem& a, const import_problem& b) { return a.line < b.line; });
    co_return std::move(report_);
  }

 private:
  static constexpr std::size_t batch_rows = 256;

  static std::string reason(const error& e) {
    std::string out;
    for (const auto& f : e.fields) out += (out.empty() ? "" : "; ") + f.field + ": " + f.message;
    return out.empty() ? e.message : out;
  }

  asio::awaitable<result<void>> flush() {
    if (batch_.empty()) co_return result<void>{};
    auto job = [rows = std::move(batch_), now = svc_.ctx_.clock().now_rfc3339(), &ctx = svc_.ctx_,
                &c = c_](store::database& db) {
      return db.transaction([&] { return apply_import_rows(db, ctx, c, now, rows); });
    };
    batch_.clear();
    auto r = co_await svc_.ctx_.store().run(std::move(job), c_.deadline);
    if (!r) co_return std::move(r).err();
    report_.created += r->created;
    report_.updated += r->updated;
    report_.unchanged += r->unchanged;
    for (auto& p : r->problems) refuse(std::move(p));
    for (const auto& id : r->touched) svc_.cache_.erase(id);
    co_return result<void>{};
  }

  service& svc_;
  import_reader reader_;
  const bus::call_context& c_;
  std::vector<import_fields> batch_;
  import_report report_;
};

asio::awaitable<result<import_report>> service::import_products(import_products_request req,
                                                                const bus::call_context& c) {
  auto format = import_format_from_string(req.format);
  if (!format) co_return error::invalid({{"format", "expected \"csv\" or \"jsonl\""}});
  import_run run(*this, *format, c);
  std::string_view rest = req.body;
  std::int64_t line_no = 0;
  while (!rest.empty()) {
    auto end = rest.find('\n');
    auto text = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    auto r = co_await run.line(text, ++line_no);
    if (!r) co_return std::move(r).err();
  }
  co_return co_await run.finish();
}

namespace {

struct file_closer {
  int fd;
  ~file_closer() {
    if (fd >= 0) ::close(fd);
  }
};

import_format sniff_format(std::string_view path, std::string_view head) {
  auto ends = [&](std::string_view ext) {
    if (path.size() < ext.size()) return false;
    auto tail = path.substr(path.size() - ext.size());
    return std::equal(tail.begin(), tail.end(), ext.begin(),
                      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  };
  if (ends(".csv")) return import_format::csv;
  if (ends(".jsonl") || ends(".ndjson") || ends(".json")) return import_format::jsonl;
  auto first = head.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  return first != std::string_view::npos && head[first] == '{' ? import_format::jsonl : import_format::csv;
}

}  // namespace

asio::awaitable<int> service::import_file(command_context& cmd) {
  if (cmd.args.size() != 1) co_return cmd.usage_error("expected one FILE");
  const std::string& path = cmd.args.front();
  // O_NOFOLLOW: the path itself is never a link; O_NONBLOCK: a FIFO does not hang the open.
  file_closer file{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (file.fd < 0) {
    cmd.err << "agora catalog import: cannot open " << path << ": " << std::strerror(errno) << '\n';
    co_return 1;
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    cmd.err << "agora catalog import: " << path << " is not a regular file\n";
    co_return 1;
  }
  auto cap = ctx_.get(settings::import_max_bytes);
  if (st.st_size > cap) {
    cmd.err << "agora catalog import: " << path << " is " << st.st_size << " bytes, more than "
            << "modules.catalog.import_max_bytes (" << cap << ")\n";
    co_return 1;
  }
  std::array<char, 64 * 1024> buf{};
  std::string carry;
  std::optional<import_run> run;
  std::int64_t line_no = 0;
  std::int64_t total = 0;
  bool skipping = false;  // inside a line longer than import_line_max
  bus::call_context c;
  for (;;) {
    auto n = ::read(file.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      cmd.err << "agora catalog import: reading " << path << ": " << std::strerror(errno) << '\n';
      co_return 1;
    }
    total += n;
    if (total > cap) {
      cmd.err << "agora catalog import: " << path << " grew past modules.catalog.import_max_bytes\n";
      co_return 1;
    }
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    if (!run) run.emplace(*this, sniff_format(path, chunk), c);
    if (n == 0) break;
    while (!chunk.empty()) {
      auto end = chunk.find('\n');
      auto piece = chunk.substr(0, end);
      chunk = end == std::string_view::npos ? std::string_view{} : chunk.substr(end + 1);
      if (!skipping) carry.append(piece);
      if (carry.size() > import_line_max) {
        carry.clear();
        skipping = true;
      }
      if (end == std::string_view::npos) break;
      ++line_no;
      if (skipping) {
        run->refuse({line_no, "", "the line is longer than 1 MiB"});
        skipping = false;
        continue;
      }
      auto r = co_await run->line(carry, line_no);
      carry.clear();
      if (!r) {
        cmd.err << "agora catalog import: " << r.err().message << '\n';
        co_return 1;
      }
    }
  }
  if (skipping)
    run->refuse({++line_no, "", "the line is longer than 1 MiB"});
  else if (!carry.empty()) {
    auto r = co_await run->line(carry, ++line_no);
    if (!r) {
      cmd.err << "agora catalog import: " << r.err().message << '\n';
      co_return 1;
    }
  }
  auto report = co_await run->finish();
  if (!report) {
    cmd.err << "agora catalog import: " << report.err().message << '\n';
    co_return 1;
  }
  cmd.out << "rows: " << report->rows << "\ncreated: " << report->created << "\nupdated: " << report->updated
          << "\nunchanged: " << report->unchanged << "\nrefused: " << report->error_count << '\n';
  for (const auto& p : report->errors)
    cmd.err << "line " << p.line << (p.sku.empty() ? "" : " (" + p.sku + ")") << ": " << p.reason << '\n';
  co_return report->error_count == 0 ? 0 : 1;
}

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
