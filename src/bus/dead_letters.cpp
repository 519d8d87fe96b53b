#include "bus/local_core.hpp"

#include <algorithm>
#include <ctime>

namespace agora::bus::local {

namespace {

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace

void core::bury(const std::shared_ptr<group_state>& g, const delivery& d, error last) {
  g->dead_letters_.inc();
  log::warn("bus", "event dead-lettered",
            {{"topic", g->topic_}, {"group", g->name_}, {"id", d.ev->id}, {"attempts", d.attempts},
             {"error", last.message}},
            &d.ev->tr);
  std::lock_guard lock(dead_mu_);
  dead_.push_back({{next_seq_++, g->name_, d.ev, d.attempts, std::move(last), rfc3339_now()}, g});
  while (dead_.size() > opts_.dead_letter_capacity) {
    dead_.front().group->dead_letters_dropped_.inc();
    dead_.pop_front();
  }
}

std::vector<dead_letter> core::dead_letters() const {
  std::lock_guard lock(dead_mu_);
  std::vector<dead_letter> out;
  out.reserve(dead_.size());
  for (const auto& e : dead_) out.push_back(e.letter);
  return out;
}

result<void> core::replay(std::uint64_t seq) {
  if (draining_.load()) return error::unavailable("bus is draining");
  std::shared_ptr<group_state> g;
  event_ptr ev;
  {
    std::lock_guard lock(dead_mu_);
    auto it = std::find_if(dead_.begin(), dead_.end(), [&](const auto& e) { return e.letter.seq == seq; });
    if (it == dead_.end()) return error::not_found(fmt::format("no dead letter {}", seq));
    if (!it->group->try_reserve())
      return error{errc::resource_exhausted, fmt::format("group {} is full", it->group->name_), {}};
    g = std::move(it->group);
    ev = std::move(it->letter.ev);
    dead_.erase(it);
  }
  const auto hash = partition_of(*ev);
  enqueue(g, delivery{std::move(ev), nullptr, 0}, hash);
  return ok();
}

}  // namespace agora::bus::local
