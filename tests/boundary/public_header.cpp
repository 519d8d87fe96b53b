// Another module may use catalog's public messages.
#include <catalog/api.hpp>

agora::catalog::get_product_request probe_request() { return {}; }
