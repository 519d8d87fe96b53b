#pragma once

#include <agora/bus.hpp>
#include <agora/metrics.hpp>

#include <memory>

namespace agora::bus {

// The in-process bus. `timers` runs deadlines and redelivery backoff (any executor of
// the process's io threads). Metrics: agora_bus_* (queue depth, deliveries,
// redeliveries, dead letters, request latency).
std::unique_ptr<bus> make_local_bus(executor timers, options opts, metrics::registry& metrics);

}  // namespace agora::bus
