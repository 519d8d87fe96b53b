#pragma once

#include <catalog/api.hpp>

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace agora::catalog {

// A bounded least-recently-used map of product id → the product and its JSON text.
// Not thread-safe: the service touches it only on its strand. Coherent because the
// service is the only writer of its store and writes through it.
class product_cache {
 public:
  struct entry {
    product item;
    std::shared_ptr<const std::string> json;
  };

  explicit product_cache(std::size_t capacity) : capacity_(capacity) {
    index_.reserve(capacity < 65536 ? capacity : 65536);
  }

  // The entry for `id`, now the most recently used; null when absent.
  const entry* find(std::string_view id) {
    auto it = index_.find(id);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
  }

  // Stores `e` unless a newer version of the product is already held.
  void put(entry e) {
    if (capacity_ == 0) return;
    if (auto it = index_.find(e.item.id); it != index_.end()) {
      if (it->second->item.version > e.item.version) return;
      auto node = it->second;
      index_.erase(it);
      lru_.erase(node);
    }
    lru_.push_front(std::move(e));
    index_.emplace(lru_.front().item.id, lru_.begin());
    if (lru_.size() > capacity_) {
      index_.erase(lru_.back().item.id);
      lru_.pop_back();
    }
  }

  void erase(std::string_view id) {
    auto it = index_.find(id);
    if (it == index_.end()) return;
    auto node = it->second;
    index_.erase(it);
    lru_.erase(node);
  }

  std::size_t size() const noexcept { return lru_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::size_t capacity_;
  std::list<entry> lru_;
  // Keys view the ids held by the list's nodes, which never move.
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
};

}  // namespace agora::catalog
