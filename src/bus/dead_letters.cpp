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
  dead_letter letter{0, g->name_, d.ev, d.attempts, std::move(last), rfc3339_now()};
  if (d.kept) {
    letter.kept_by = d.kept->module;
    letter.kept_id = d.kept->id;
  }
  {
    std::lock_guard lock(dead_mu_);
    letter.seq = next_seq_++;
    dead_.push_back({letter, g, d.kept});
    while (dead_.size() > opts_.dead_letter_capacity) {
      if (dead_.front().group) dead_.front().group->dead_letters_dropped_.inc();
      dead_.pop_front();
    }
  }
  if (d.settle && d.settle->on_buried) d.settle->on_buried(letter);
  if (d.kept && d.kept->keeper) d.kept->keeper->buried_again(d.kept->id, letter);
}

bool core::keep_dead_letter(std::uint64_t seq, std::string module, std::int64_t id,
                            std::shared_ptr<dead_letter_keeper> keeper) {
  std::lock_guard lock(dead_mu_);
  auto it = std::find_if(dead_.begin(), dead_.end(), [&](const auto& e) { return e.letter.seq == seq; });
  if (it == dead_.end()) return false;
  it->letter.kept_by = module;
  it->letter.kept_id = id;
  it->kept = std::make_shared<const kept_link>(kept_link{std::move(module), id, std::move(keeper)});
  return true;
}

std::uint64_t core::restore_dead_letter(dead_letter letter, std::shared_ptr<dead_letter_keeper> keeper) {
  std::shared_ptr<group_state> group;
  if (letter.ev)
    if (auto groups = groups_of(letter.ev->topic))
      for (const auto& g : *groups)
        if (g->name_ == letter.group) group = g;
  auto kept = std::make_shared<const kept_link>(kept_link{letter.kept_by, letter.kept_id, std::move(keeper)});
  std::lock_guard lock(dead_mu_);
  letter.seq = next_seq_++;
  const auto seq = letter.seq;
  dead_.push_back({std::move(letter), std::move(group), std::move(kept)});
  while (dead_.size() > opts_.dead_letter_capacity) {
    if (dead_.front().group) dead_.front().group->dead_letters_dropped_.inc();
    dead_.pop_front();
  }
  return seq;
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
  std::shared_ptr<const kept_link> kept;
  {
    std::lock_guard lock(dead_mu_);
    auto it = std::find_if(dead_.begin(), dead_.end(), [&](const auto& e) { return e.letter.seq == seq; });
    if (it == dead_.end()) return error::not_found(fmt::format("no dead letter {}", seq));
    if (!it->group)
      return error::unavailable(
          fmt::format("dead letter {} belongs to group {}, which no consumer in this process serves", seq,
                      it->letter.group));
    if (!it->group->try_reserve())
      return error{errc::resource_exhausted, fmt::format("group {} is full", it->group->name_), {}};
    g = std::move(it->group);
    ev = std::move(it->letter.ev);
    kept = std::move(it->kept);
    dead_.erase(it);
  }
  const auto hash = partition_of(*ev);
  enqueue(g, delivery{std::move(ev), nullptr, 0, std::move(kept)}, hash);
  return ok();
}

}  // namespace agora::bus::local
