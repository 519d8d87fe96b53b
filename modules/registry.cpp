#include <agora/app.hpp>

#include <cart/api.hpp>
#include <catalog/api.hpp>
#include <customers/api.hpp>
#include <inventory/api.hpp>
#include <orders/api.hpp>
#ifdef AGORA_WITH_INFERENCE
#include <inference/api.hpp>
#endif

namespace agora {

// The one list of modules this binary ships, in a sensible start order; the runtime
// still orders them by their declared dependencies.
std::vector<module_definition> all_modules() {
  std::vector<module_definition> out;
  out.push_back(customers::module());
  out.push_back(catalog::module());
  out.push_back(inventory::module());
  out.push_back(cart::module());
  out.push_back(orders::module());
#ifdef AGORA_WITH_INFERENCE
  out.push_back(inference::module());
#endif
  return out;
}

}  // namespace agora
