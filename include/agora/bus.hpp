#pragma once

#include <agora/log.hpp>
#include <agora/principal.hpp>
#include <agora/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <any>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// The message bus: request/reply between modules and publish/subscribe of events.
// Modules see only this interface. In one process (local_bus) messages are in-memory
// values, moved and never serialised; a networked implementation (NATS JetStream) uses
// the codecs that typed declarations register, without any change to modules.
namespace agora::bus {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using executor = asio::any_io_executor;
using trace = log::trace;

// A request or reply in flight: a plain value (a module's api.hpp struct).
using message = std::any;

struct codec;
struct method_codecs;

// Not an aggregate on purpose: GCC 12 miscompiles an aggregate prvalue holding a
// std::string when it is passed by value to a coroutine inside a co_await expression
// (the temporary is relocated bitwise and its string freed twice). The default argument
// of request() is such a prvalue; user-provided constructors (no aggregate default
// argument either) avoid the bug. Callers: name aggregate messages before co_await.
//
// The deadline travels as time remaining (`timeout`), so it means the same in another
// process; the receiving side turns it into its own call_context::deadline.
struct request_options {
  request_options() {}
  explicit request_options(std::chrono::milliseconds timeout) : timeout(timeout) {}
  request_options(std::chrono::milliseconds timeout, trace tr) : timeout(timeout), tr(std::move(tr)) {}

  std::chrono::milliseconds timeout{5000};
  trace tr;
  // Who the call is made for: the HTTP request's principal, or the caller's own
  // (bus::nested); anonymous for the platform's own calls.
  principal who;
  // The JSON forms of the method's request and reply, for a bus that serialises; set by
  // bus::call<M>, so callers never fill it.
  const method_codecs* codecs = nullptr;
};

// What a request handler is told about its call.
struct call_context {
  std::string_view method;
  const trace* tr = nullptr;
  // Who asked (request_options::who). A handler answers another customer's ids as if
  // they did not exist.
  principal who;
  // Reply by then. The caller waits a little longer (a tenth of its timeout, at most
  // 250 ms) so that a reply handed back at this time still reaches it: work bounded by
  // this deadline (store::worker::run) never finishes after its caller has given up.
  // max(): no deadline.
  clock::time_point deadline = clock::time_point::max();
};

// Options for a call made while answering `c`: the same trace and principal, and the time `c` has
// left (at most `cap`), so a nested call never outlives its caller. A deadline already
// passed gives a zero timeout (the call fails with deadline_exceeded at once).
request_options nested(const call_context& c, std::chrono::milliseconds cap = std::chrono::milliseconds::max());

using request_handler =
    std::function<asio::awaitable<result<message>>(message, const call_context&)>;

// Only a networked bus uses these: a value to JSON and back.
struct codec {
  std::function<nlohmann::json(const message&)> encode;
  std::function<result<message>(const nlohmann::json&)> decode;
};

struct method_codecs {
  codec request;
  codec reply;
};

// One replica answering one method. Replicas of a method share its request queue;
// the bus picks the replica with the fewest requests in flight.
struct responder {
  std::string method;    // "catalog.get_product"
  std::string replica;   // "catalog#0"
  executor ex;           // the handler runs here, never on the caller's thread inline
  request_handler handler;
  codec request_codec;
  codec reply_codec;
};

// A CloudEvents-shaped envelope. Immutable once published; fan-out shares it.
struct event {
  std::string id;             // unique; consumers' inboxes dedupe on it
  std::string source;         // "agora/catalog"
  std::string type;           // "product.created"
  std::string subject;        // "prod_01H..."
  std::string time;           // RFC 3339 UTC
  std::string topic;          // the stream: "catalog.products"
  std::string partition_key;  // ordering key inside a group; empty means subject
  trace tr;
  nlohmann::json data;

  const std::string& key() const noexcept { return partition_key.empty() ? subject : partition_key; }
};
void to_json(nlohmann::json& j, const event& e);
void from_json(const nlohmann::json& j, event& e);

using event_ptr = std::shared_ptr<const event>;

// A consumer in a group. Every group gets every event of its topic once; inside a
// group, events with the same key are handled one at a time, in publish order, by one
// of the group's consumers. Returning an error (or throwing) is a nack: the event is
// redelivered with backoff, and after max_attempts it goes to the dead letters.
struct subscription {
  std::string topic;
  std::string group;      // "reporting"
  std::string consumer;   // "reporting#0"
  executor ex;
  std::function<asio::awaitable<result<void>>(const event&)> handler;
};

struct dead_letter {
  std::uint64_t seq = 0;  // this bus's number for it (replay takes it); new at each start
  std::string group;
  event_ptr ev;
  int attempts = 0;
  error last_error;
  std::string failed_at;  // RFC 3339
  // Set once the publishing module keeps the letter in its own store (its outbox relay
  // writes it to _agora_dead_letters), so that it survives a restart: that module, and the
  // row's id there. Empty and 0 while the letter lives only in the bus's memory.
  std::string kept_by;
  std::int64_t kept_id = 0;
};

// Told what becomes of a dead letter its publisher keeps (dead_letter::kept_id). Called on
// a consumer's thread: it must hand the work off (the outbox relay posts to its strand).
class dead_letter_keeper {
 public:
  virtual ~dead_letter_keeper() = default;
  // A replay of letter `kept_id` was handled by its group: the letter can be forgotten.
  virtual void handled(std::int64_t kept_id) = 0;
  // A replay of letter `kept_id` was dead-lettered again: `now` is the letter as it stands.
  virtual void buried_again(std::int64_t kept_id, const dead_letter& now) = 0;
};

// What a publisher (the outbox relay) learns of an event's fate.
struct publish_hooks {
  // Once every group has acked or dead-lettered the event (at once when none listens).
  std::function<void()> on_settled;
  // For each group that dead-letters the event, before that group counts as settled (so
  // before on_settled): the letter, with its seq, as the bus lists it.
  std::function<void(const dead_letter&)> on_buried;
};

enum class overflow { block, fail };

struct options {
  std::size_t queue_capacity = 65536;          // per group; events waiting to be handled
  overflow on_full = overflow::block;
  std::size_t partitions = 16;                 // per group
  int max_attempts = 5;
  std::chrono::milliseconds backoff_initial{20};
  std::chrono::milliseconds backoff_max{2000};
  std::size_t dead_letter_capacity = 10000;    // oldest dropped beyond this, counted
  std::size_t max_in_flight_requests = 65536;  // per method; beyond: unavailable
};

class bus {
 public:
  virtual ~bus() = default;

  virtual void serve(responder r) = 0;
  // Take a replica out (fault injection, shutdown). Requests in flight finish.
  virtual void unserve(std::string_view method, std::string_view replica) = 0;

  // Sends a request to one replica of `method` and waits for its reply or the
  // deadline. Errors: not_found-free — an unknown method is `unavailable`; a missed
  // deadline is `deadline_exceeded`; the handler's own errors pass through.
  virtual asio::awaitable<result<message>> request(std::string method, message msg,
                                                   request_options opts = {}) = 0;

  virtual void subscribe(subscription s) = 0;

  // Accepts an event for every group subscribed to its topic. With overflow::block a
  // full group queue makes this wait; with overflow::fail it returns
  // resource_exhausted. `on_settled` runs once every group has acked or dead-lettered
  // the event (immediately when no group listens): the outbox relay deletes its row then.
  virtual asio::awaitable<result<void>> publish(event_ptr ev,
                                                std::function<void()> on_settled = {}) = 0;

  // publish, telling `hooks` of the event's fate (see publish_hooks).
  virtual asio::awaitable<result<void>> publish_tracked(event_ptr ev, publish_hooks hooks) = 0;

  virtual std::vector<dead_letter> dead_letters() const = 0;
  // Puts a dead letter back at the tail of its group's queue with a fresh attempt count.
  virtual result<void> replay(std::uint64_t seq) = 0;
  // Marks dead letter `seq` as kept by `module` under `kept_id`, so that `keeper` hears
  // when a replay of it is handled or buried again. False when the bus no longer lists it
  // (replayed or dropped meanwhile).
  virtual bool keep_dead_letter(std::uint64_t seq, std::string module, std::int64_t kept_id,
                                std::shared_ptr<dead_letter_keeper> keeper) = 0;
  // Lists again a dead letter its publisher kept from an earlier run (letter.kept_by and
  // kept_id set; its group is found by letter.ev->topic and letter.group). Returns its new
  // seq. A letter whose group no consumer here serves is listed, but its replay answers
  // unavailable.
  virtual std::uint64_t restore_dead_letter(dead_letter letter, std::shared_ptr<dead_letter_keeper> keeper) = 0;

  // Depths, in-flight counts, consumers per group, responders per method.
  virtual nlohmann::json stats() const = 0;

  // Stops accepting new requests and events (they fail with unavailable), lets what is
  // queued be handled until `deadline`, then drops the rest (their outbox rows remain
  // and are published again at the next start).
  virtual asio::awaitable<void> drain(clock::time_point deadline) = 0;

  template <class M>
  asio::awaitable<result<typename M::reply>> call(typename M::request req,
                                                  request_options opts = {});
};

// A bus method declared by a module's api.hpp:
//   struct get_product { static constexpr std::string_view name = "catalog.get_product";
//                        using request = get_product_request; using reply = product; };
template <class M>
concept method = requires {
  { M::name } -> std::convertible_to<std::string_view>;
  typename M::request;
  typename M::reply;
};

template <class T>
concept json_convertible = requires(const T& t, nlohmann::json& j) { nlohmann::json(t); j.get<T>(); };

// Every bus method's request and reply have a JSON form, so every module can leave the
// process: a method whose types have none does not compile.
template <class M>
concept splittable_method = method<M> && json_convertible<typename M::request> && json_convertible<typename M::reply>;

template <class T>
codec json_codec();

// The codecs of method M, made once.
template <class M>
const method_codecs& codecs_of() {
  static const method_codecs c{json_codec<typename M::request>(), json_codec<typename M::reply>()};
  return c;
}

template <class M>
asio::awaitable<result<typename M::reply>> bus::call(typename M::request req, request_options opts) {
  static_assert(splittable_method<M>,
                "a bus method's request and reply need a JSON form (declare json_fields or to_json/from_json)");
  opts.codecs = &codecs_of<M>();
  auto r = co_await request(std::string(M::name), message(std::move(req)), std::move(opts));
  if (!r) co_return std::move(r).err();
  if (auto* v = std::any_cast<typename M::reply>(&r.value())) co_return std::move(*v);
  co_return error::internal("reply of unexpected type");
}

template <class T>
codec json_codec() {
  return {
      [](const message& m) { return nlohmann::json(std::any_cast<const T&>(m)); },
      [](const nlohmann::json& j) -> result<message> {
        try {
          return message(j.get<T>());
        } catch (const std::exception& e) {
          return error{errc::bad_request, e.what(), {}};
        }
      },
  };
}

namespace detail {
template <method M, class F>
asio::awaitable<result<message>> invoke_typed(std::shared_ptr<F> f, message m, const call_context& ctx) {
  auto* req = std::any_cast<typename M::request>(&m);
  if (!req) co_return error{errc::bad_request, "request of unexpected type", {}};
  auto reply = co_await (*f)(std::move(*req), ctx);
  if (!reply) co_return std::move(reply).err();
  co_return message(std::move(reply).value());
}
}  // namespace detail

// Builds the responder for a typed handler:
//   F: asio::awaitable<result<M::reply>>(M::request, const call_context&)
// The bus keeps `ctx` alive until the handler's awaitable completes.
template <method M, class F>
responder make_responder(std::string replica, executor ex, F f) {
  responder r;
  r.method = std::string(M::name);
  r.replica = std::move(replica);
  r.ex = std::move(ex);
  r.handler = [fp = std::make_shared<F>(std::move(f))](message m, const call_context& ctx) {
    return detail::invoke_typed<M>(fp, std::move(m), ctx);
  };
  static_assert(splittable_method<M>,
                "a bus method's request and reply need a JSON form (declare json_fields or to_json/from_json)");
  r.request_codec = codecs_of<M>().request;
  r.reply_codec = codecs_of<M>().reply;
  return r;
}

}  // namespace agora::bus
