#pragma once

#include <catalog/api.hpp>

#include <agora/module.hpp>

#include <optional>
#include <string>
#include <string_view>

// The pieces of a product change that the handlers and the import share. All run on the
// store thread inside the caller's transaction.
namespace agora::catalog {

variant_info info_of(const product& p, const variant& v);
// The product's default variant; throws std::logic_error when it has none (a broken row).
variant& default_variant(product& p);
// Announces every variant_info that differs between `before` and `after` (either absent):
// deletions first, so a SKU that moves between variants is free before it is taken.
void announce_variants(store::database& db, const module_context& ctx, const bus::call_context& c,
                       const std::string& now, const product* before, const product* after);
// Writes `next` (a changed `current`) as the product's next version and announces it:
// the product's event and its variants'. The variant rows are the caller's to write.
product commit_product_change(store::database& db, const module_context& ctx, const bus::call_context& c,
                              const std::string& now, const product& current, product next);
// A conflict when another variant holds `v`'s sku or barcode.
std::optional<error> check_unique(store::database& db, const variant& v);

}  // namespace agora::catalog
