// Another module reaching into catalog's internals: this must not compile.
#include "service.hpp"
