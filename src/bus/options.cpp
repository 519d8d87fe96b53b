#include <agora/bus.hpp>

#include <algorithm>

namespace agora::bus {

request_options nested(const call_context& c, std::chrono::milliseconds cap) {
  // A context without a deadline (made by hand: a test, a command): the default timeout.
  auto left = c.deadline == clock::time_point::max()
                  ? request_options().timeout
                  : std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - clock::now());
  request_options o(std::clamp(left, std::chrono::milliseconds(0), cap));
  if (c.tr) o.tr = *c.tr;
  o.who = c.who;
  return o;
}

}  // namespace agora::bus
