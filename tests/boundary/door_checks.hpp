#pragma once

// Included after a module's door alone, in a translation unit that links only that door's
// target. The door must leave the runtime out of reach: no agora header on the include
// path (so not <agora/module.hpp> nor <agora/store.hpp>), and no Beast or SQLite pulled in
// by the door's own includes (those live where the system puts them, so only "was it
// included" can be asked of them).

#if __has_include(<agora/module.hpp>)
#error "door leak: <agora/module.hpp> is reachable through the door target"
#endif

#if __has_include(<agora/store.hpp>)
#error "door leak: <agora/store.hpp> is reachable through the door target"
#endif

#if defined(BOOST_BEAST_VERSION) || defined(BOOST_BEAST_CORE_DETAIL_CONFIG_HPP)
#error "door leak: the door includes Beast"
#endif

#if defined(SQLITE_VERSION)
#error "door leak: the door includes SQLite"
#endif
