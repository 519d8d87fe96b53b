#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace agora::inference {

// Finished generations of deterministic requests (temperature 0 or a fixed seed),
// keyed by model, prompt tokens and every sampling parameter; least recently used
// entries leave first. Thread-safe: the engine thread stores, request handlers look up.
class response_cache {
 public:
  struct entry {
    std::string text;
    std::string finish;  // "stop" or "length"
    std::int64_t completion_tokens = 0;
  };

  explicit response_cache(std::size_t capacity) : capacity_(capacity) {}

  std::optional<entry> find(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  void store(std::string key, entry e) {
    if (capacity_ == 0) return;
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(e);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, std::move(e));
    index_.emplace(std::move(key), order_.begin());
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  // Drops every entry whose key starts with `prefix` (a model's, when its keys start
  // with its name and a separator); returns how many.
  std::size_t erase_prefix(std::string_view prefix) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto it = order_.begin(); it != order_.end();) {
      if (std::string_view(it->first).starts_with(prefix)) {
        index_.erase(it->first);
        it = order_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return order_.size();
  }

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<std::string, entry>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, entry>>::iterator> index_;
};

}  // namespace agora::inference
