#pragma once

#include <agora/config.hpp>

namespace agora::notes::settings {

inline const config::integer_setting page_limit_max{"page_limit_max", 100, "Largest page a list of notes may ask for",
                                                    {.min = 1, .max = 1000}};

}  // namespace agora::notes::settings
