#include "service/service.hpp"
#include "service/settings.hpp"

#include <catalog/api.hpp>
#include <customers/api.hpp>

#include "service/conversations.hpp"

#include <agora/ids.hpp>
#include <agora/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <deque>

namespace agora::inference {

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using steady = std::chrono::steady_clock;

struct load_deadline_passed : model_error {
  load_deadline_passed() : model_error("the load did not finish before its deadline") {}
};

void check_deadline(steady::time_point deadline) {
  if (steady::now() > deadline) throw load_deadline_passed();
}

// The chat template a model folder ships: chat_template.jinja, or tokenizer_config.json's
// "chat_template" (a string, or a list of {name, template} whose "default" is used).
// Only the folder's own files: a template never comes from anywhere else.
std::optional<std::string> find_chat_template(const std::filesystem::path& dir, const model_file_limits& limits,
                                              const std::optional<std::string>& tokenizer_config) {
  if (auto jinja = read_model_file(dir, "chat_template.jinja", limits.chat_template)) return jinja;
  if (!tokenizer_config) return std::nullopt;
  auto cfg = nlohmann::json::parse(*tokenizer_config, nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object() || !cfg.contains("chat_template")) return std::nullopt;
  const auto& t = cfg["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const auto& item : t)
      if (item.is_object() && item.value("name", "") == "default" && item.contains("template") &&
          item["template"].is_string())
        return item["template"].get<std::string>();
  }
  return std::nullopt;
}

// A generation's pieces: pushed by the engine thread, awaited by one reader. The
// doorbell channel holds at most one ring, so pushing never blocks the engine.
// The pieces of one generation, between the engine thread (which pushes them through
// a feed) and the one reader (which holds the stream). A reader that drops the stream
// before the last piece — its handler unwound, a bus reply never delivered — cancels
// the generation, so nothing runs for nobody.
class queued_stream final : public generation_stream {
 public:
  class feed {
   public:
    explicit feed(const asio::any_io_executor& ex) : bell_(ex, 1) {}

    void push(generation_piece p) {
      {
        std::lock_guard lock(mutex_);
        if (p.finish) finished_ = true;
        pieces_.push_back(std::move(p));
      }
      bell_.try_send(boost::system::error_code{});
    }

    void attach(std::shared_ptr<generation> g) {
      std::lock_guard lock(mutex_);
      gen_ = std::move(g);
      if (cancelled_) gen_->cancel();
    }

   private:
    friend class queued_stream;
    std::mutex mutex_;
    std::deque<generation_piece> pieces_;
    std::shared_ptr<generation> gen_;
    bool cancelled_ = false;
    bool finished_ = false;  // the last piece was pushed
    asio::experimental::concurrent_channel<void(boost::system::error_code)> bell_;
  };

  explicit queued_stream(const asio::any_io_executor& ex) : feed_(std::make_shared<feed>(ex)) {}
  ~queued_stream() override {
    std::lock_guard lock(feed_->mutex_);
    if (!feed_->finished_) cancel_locked();
  }

  // What the producer holds: it outlives the stream when the reader leaves early.
  const std::shared_ptr<feed>& producer() const { return feed_; }

  asio::awaitable<generation_piece> next() override {
    for (;;) {
      {
        std::lock_guard lock(feed_->mutex_);
        if (!feed_->pieces_.empty()) {
          generation_piece p = std::move(feed_->pieces_.front());
          feed_->pieces_.pop_front();
          co_return p;
        }
      }
      co_await feed_->bell_.async_receive(asio::use_awaitable);
    }
  }

  void cancel() override {
    std::lock_guard lock(feed_->mutex_);
    cancel_locked();
  }

 private:
  void cancel_locked() {
    feed_->cancelled_ = true;
    if (feed_->gen_) feed_->gen_->cancel();
  }

  std::shared_ptr<feed> feed_;
};

// A price as people read it: ISO 4217 minor units with the currency's exponent.
std::string format_price(const catalog::money& m) {
  static constexpr std::array<std::string_view, 16> whole = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                                             "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
  static constexpr std::array<std::string_view, 7> thousandths = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
  const auto in = [&](const auto& list) { return std::find(list.begin(), list.end(), m.currency) != list.end(); };
  const int digits = in(whole) ? 0 : in(thousandths) ? 3 : 2;
  if (digits == 0) return fmt::format("{} {}", m.amount, m.currency);
  const std::int64_t scale = digits == 3 ? 1000 : 100;
  return fmt::format("{}.{:0{}} {}", m.amount / scale, m.amount % scale, digits, m.currency);
}

// At most `words` words and `bytes` bytes of text, cut at a word boundary: what the
// catalog's search accepts from a chat message.
std::string search_text(std::string_view text, std::size_t words, std::size_t bytes) {
  std::string out;
  std::size_t count = 0, i = 0;
  while (i < text.size() && count < words) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) break;
    const auto word = text.substr(start, i - start);
    if (out.size() + word.size() + 1 > bytes) break;
    if (!out.empty()) out += ' ';
    out += word;
    ++count;
  }
  return out;
}

bool deterministic(const generate_request& r) { return r.temperature == 0.0 || r.seed.has_value(); }

std::string cache_key(const loaded_model& m, const std::vector<std::int32_t>& prompt, const generate_request& r) {
  std::string key = m.name;
  key += '\x1f';
  for (auto t : prompt) key += fmt::format("{},", t);
  key += fmt::format("\x1f{}|{}|{}|{}|{}|{}|{}|{}", r.temperature, r.top_p, r.top_k, r.repetition_penalty,
                     r.presence_penalty, r.frequency_penalty, r.seed ? std::to_string(*r.seed) : "-",
                     r.max_tokens ? std::to_string(*r.max_tokens) : "-");
  for (const auto& s : r.stop) {
    key += '\x1f';
    key += s;
  }
  key += '\x1f';
  for (const auto& [token, bias] : r.logit_bias) key += fmt::format("{}:{},", token, bias);
  return key;
}

std::string folder_name(const std::filesystem::path& dir) {
  auto p = dir.lexically_normal();
  std::string name = p.filename().string();
  return name.empty() ? p.parent_path().filename().string() : name;
}

// The limit for a model file by its name; nullopt: not a model file (not read).
std::optional<std::uint64_t> limit_of(const std::string& name, const model_file_limits& limits) {
  if (name.ends_with(".safetensors")) return limits.weight_file;
  if (name.ends_with(".jinja")) return limits.chat_template;
  if (!name.ends_with(".json")) return std::nullopt;
  if (name == "config.json" || name == "generation_config.json") return limits.config;
  if (name == "tokenizer_config.json") return limits.tokenizer_config;
  if (name == "model.safetensors.index.json") return limits.weight_index;
  return limits.tokenizer;  // tokenizer.json, vocab.json and the like
}

// The folder's model files (*.safetensors, *.json, *.jinja), in name order. Each is
// checked as it would be read: a FIFO, a device or a link out of the folder is refused.
std::vector<model_file> model_files(const std::filesystem::path& dir, const model_file_limits& limits) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    auto name = e.path().filename().string();
    if (limit_of(name, limits)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  std::vector<model_file> files;
  for (const auto& name : names)
    if (auto f = model_file::open(dir, name, *limit_of(name, limits))) files.push_back(std::move(*f));
  return files;
}

std::int64_t weight_bytes(const std::vector<model_file>& files) {
  std::int64_t total = 0;
  for (const auto& f : files)
    if (f.name().ends_with(".safetensors")) total += static_cast<std::int64_t>(f.size());
  return total;
}

// FNV-1a (64 bits) over every model file's name and bytes, in name order: tells two
// registrations of a folder apart when its files changed. Not a security hash.
std::string checksum(const std::vector<model_file>& files, steady::time_point deadline) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      h ^= static_cast<unsigned char>(p[i]);
      h *= 1099511628211ull;
    }
  };
  std::vector<char> buf(1 << 20);
  for (const auto& f : files) {
    mix(f.name().data(), f.name().size());
    for (std::uint64_t at = 0; at < f.size();) {
      check_deadline(deadline);
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), f.size() - at));
      const auto n = ::pread(f.fd(), buf.data(), want, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw model_error(fmt::format("{}: cannot be read", f.name()));
      mix(buf.data(), static_cast<std::size_t>(n));
      at += static_cast<std::uint64_t>(n);
    }
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

}  // namespace

bool valid_model_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == ':';
  });
}

std::unique_ptr<loaded_model> load_model(const std::filesystem::path& dir, std::string name,
                                         const scheduler_options& options, const model_options& model_opts,
                                         metrics::registry& metrics, steady::time_point deadline) {
  auto m = std::make_unique<loaded_model>();
  m->dir = dir;
  m->name = std::move(name);
  if (m->name.empty()) m->name = folder_name(dir);
  if (!valid_model_name(m->name))
    throw model_error("the model's name must be 1 to 64 of A-Z a-z 0-9 . _ - : starting with a letter or digit");
  m->created = unix_now();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw model_error("the model folder does not exist");
  const auto& limits = model_opts.files;
  try {
    auto tokenizer_json = read_model_file(dir, "tokenizer.json", limits.tokenizer);
    if (!tokenizer_json) throw model_error("tokenizer.json: missing");
    auto tokenizer_config = read_model_file(dir, "tokenizer_config.json", limits.tokenizer_config);
    m->tok = std::make_unique<tokenizer>(tokenizer::from_json(*tokenizer_json, tokenizer_config.value_or(""), {},
                                                              "tokenizer.json", "tokenizer_config.json"));
    check_deadline(deadline);
    if (auto source = find_chat_template(dir, limits, tokenizer_config)) {
      try {
        m->tmpl.emplace(std::move(*source));
      } catch (const template_error& e) {
        // Its reason may quote the template; the position is enough to find the fault.
        throw model_error(fmt::format("chat template: does not parse (line {}, column {})", e.line(), e.column()));
      }
    }
    if (auto bos = m->tok->bos_id()) m->bos_token = std::string(m->tok->token(*bos));
    if (auto eos = m->tok->eos_id()) m->eos_token = std::string(m->tok->token(*eos));

    {
      auto files = model_files(dir, limits);
      m->weight_bytes = weight_bytes(files);
      m->checksum = checksum(files, deadline);
    }
    check_deadline(deadline);
    auto engine_model = model::load(dir, model_opts);
    check_deadline(deadline);
    m->stop_tokens = engine_model->config().eos_token_ids;
    if (auto eos = m->tok->eos_id();
        eos && std::find(m->stop_tokens.begin(), m->stop_tokens.end(), *eos) == m->stop_tokens.end())
      m->stop_tokens.push_back(*eos);
    auto opts = options;
    opts.model_name = m->name;
    m->sched = std::make_unique<scheduler>(std::move(engine_model), *m->tok, opts, metrics);
  } catch (const model_file_error& e) {
    throw model_error(e.what());
  } catch (const std::filesystem::filesystem_error&) {
    // Its what() holds absolute paths.
    throw model_error("the model folder cannot be read");
  }
  return m;
}

service::service(module_context& ctx)
    : ctx_(ctx),
      cache_(std::make_shared<response_cache>(static_cast<std::size_t>(ctx.get(settings::cache_entries)))),
      cache_hits_(ctx.metrics().counter_of("agora_inference_cache_total", "Response cache lookups by result",
                                           {{"result", "hit"}})),
      cache_misses_(ctx.metrics().counter_of("agora_inference_cache_total", "Response cache lookups by result",
                                             {{"result", "miss"}})),
      fallbacks_(ctx.metrics().counter_of("agora_inference_fallbacks_total",
                                          "Requests a full queue sent on to the model's fallback model")) {}

service::~service() = default;

asio::awaitable<void> service::start() {
  scheduler_options& sopts = scheduler_options_;
  model_options& mopts = model_options_;
  memory_budget_ = ctx_.get(settings::memory_budget_mb) * 1024 * 1024;
  sopts.max_running = static_cast<int>(ctx_.get(settings::max_running));
  sopts.max_waiting = static_cast<std::size_t>(ctx_.get(settings::max_waiting));
  sopts.token_budget = ctx_.get(settings::token_budget);
  mopts.max_sequences = sopts.max_running;
  mopts.max_context = ctx_.get(settings::max_context);
  mopts.files.tokenizer = static_cast<std::uint64_t>(ctx_.get(settings::tokenizer_limit_mb)) << 20;
  mopts.files.weight_file = static_cast<std::uint64_t>(ctx_.get(settings::weight_file_limit_mb)) << 20;
  load_timeout_ = std::chrono::milliseconds(ctx_.get(settings::load_timeout_ms));
  mopts.device = ctx_.get(settings::device);
  for (const auto& dir : ctx_.get(settings::models)) {
    std::shared_ptr<loaded_model> m;
    try {
      m = load_model(dir, "", sopts, mopts, ctx_.metrics());
    } catch (const std::exception& e) {
      // For the operator who started the server: the folder as given, then the problem.
      throw model_error(fmt::format("model folder {}: {}", dir, e.what()));
    }
    for (const auto& other : models_)
      if (other->name == m->name)
        throw model_error(fmt::format("two models are named '{}' (folders {} and {})", m->name, other->dir.string(), dir));
    log::info("inference", "model loaded",
              {{"model", m->name}, {"dir", dir}, {"context", m->sched->max_context()},
               {"chat_template", m->tmpl.has_value()}});
    models_.push_back(std::move(m));
  }
  std::int64_t total = 0;
  for (const auto& m : models_) total += m->weight_bytes;
  if (memory_budget_ > 0 && total > memory_budget_)
    throw model_error(fmt::format("the models' weights take {} MiB, over modules.inference.memory_budget_mb = {}",
                                  total >> 20, memory_budget_ >> 20));
  co_return;
}

asio::awaitable<void> service::stop() {
  for (auto& m : models_) m->sched->stop();
  loader_.join();  // unloads in progress finish
  // Usage and conversation writes still in flight hold `this`; let them land.
  co_await writes_.wait();
}

std::shared_ptr<loaded_model> service::find(std::string_view name) {
  if (models_.empty()) return nullptr;
  if (name.empty()) return models_.front();
  for (auto& m : models_)
    if (m->name == name) return m;
  return nullptr;
}

model_info service::info(const loaded_model& m) const {
  return {m.name,          m.created,  m.sched->max_context(), !models_.empty() && models_.front().get() == &m,
          m.dir.string(), m.checksum, m.weight_bytes,          m.fallback};
}

namespace {

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// One load on the loader thread, raced against its deadline: whichever comes first
// rings the bell. A load that comes back after its caller gave up drops itself.
struct pending_load {
  explicit pending_load(const asio::any_io_executor& ex) : bell(ex, 1) {}
  std::mutex mutex;
  std::optional<result<std::shared_ptr<loaded_model>>> outcome;  // guarded by mutex
  bool abandoned = false;                                        // guarded by mutex
  asio::experimental::concurrent_channel<void(boost::system::error_code)> bell;
};

}  // namespace

asio::awaitable<result<model_info>> service::register_model(register_model_request req, const bus::call_context& c) {
  if (req.path.empty()) co_return error::invalid({{"path", "required: a model folder on this machine"}});
  if (has_control(req.path)) co_return error::invalid({{"path", "must not hold control characters"}});
  if (!req.name.empty() && !valid_model_name(req.name))
    co_return error::invalid({{"name", "1 to 64 of A-Z a-z 0-9 . _ - :, starting with a letter or digit"}});
  std::string name = req.name.empty() ? folder_name(req.path) : req.name;
  if (!valid_model_name(name))
    co_return error::invalid({{"name", "the folder's name is not a valid model name: give a name (1 to 64 of A-Z a-z "
                                       "0-9 . _ - :, starting with a letter or digit)"}});
  if (find(name))
    co_return error{errc::conflict, fmt::format("a model named '{}' is already loaded", name),
                    {{"name", "already loaded; unload it first or choose another name"}}};
  if (!req.fallback.empty()) {
    if (auto bad = check_fallback(name, req.fallback)) co_return std::move(*bad);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(req.path, ec))
    co_return error::invalid({{"path", "not a folder on this machine"}});
  std::int64_t bytes = 0;
  try {
    bytes = weight_bytes(model_files(req.path, model_options_.files));
  } catch (const model_file_error& e) {
    co_return error::invalid({{"path", e.what()}}, fmt::format("the model folder was refused: {}", e.what()));
  } catch (const std::filesystem::filesystem_error&) {
    co_return error::invalid({{"path", "the model folder cannot be read"}});
  }
  std::int64_t in_use = 0;
  for (const auto& m : models_) in_use += m->weight_bytes;
  if (memory_budget_ > 0 && in_use + bytes > memory_budget_)
    co_return error{errc::conflict,
                    fmt::format("loading {} MiB would exceed the memory budget ({} MiB in use of {} MiB)", bytes >> 20,
                                in_use >> 20, memory_budget_ >> 20),
                    {{"path", "over modules.inference.memory_budget_mb; unload a model first"}}};
  {
    std::lock_guard lock(loading_mutex_);
    if (!loading_.insert(name).second)
      co_return error{errc::conflict, fmt::format("a model named '{}' is being loaded", name),
                      {{"name", "being loaded; wait for it or choose another name"}}};
  }
  const auto deadline = std::min(c.deadline, steady::now() + load_timeout_);
  auto too_late = [timeout = load_timeout_](const std::string& model) {
    return error::timeout(fmt::format("loading the model '{}' did not finish in time (modules.inference."
                                      "load_timeout_ms is {} ms); it was abandoned",
                                      model, timeout.count()));
  };
  auto pending = std::make_shared<pending_load>(ctx_.executor());
  auto load = [this, pending, too_late, path = req.path, name, deadline, sopts = scheduler_options_, mopts = model_options_,
               &metrics = ctx_.metrics()] {
    result<std::shared_ptr<loaded_model>> r = error::internal("not loaded");
    try {
      r = std::shared_ptr<loaded_model>(load_model(path, name, sopts, mopts, metrics, deadline));
    } catch (const load_deadline_passed&) {
      r = too_late(name);
    } catch (const model_error& e) {
      r = error::invalid({{"path", e.what()}}, fmt::format("the model folder was refused: {}", e.what()));
    } catch (const tokenizer_error& e) {
      r = error::invalid({{"path", e.what()}}, fmt::format("the model folder was refused: {}", e.what()));
    } catch (const std::exception& e) {
      // Anything else (libtorch's errors) may carry paths and internals: logged only.
      log::warn("inference", "a model failed to load", {{"model", name}, {"error", e.what()}});
      r = error::invalid({{"path", "the model could not be loaded"}}, "the model folder was refused");
    }
    std::unique_lock lock(pending->mutex);
    if (!pending->abandoned) {
      pending->outcome = std::move(r);
      lock.unlock();
      pending->bell.try_send(boost::system::error_code{});
      return;
    }
    lock.unlock();
    if (r) {
      auto m = std::move(r).value();
      m->sched->stop();
      ctx_.metrics().remove_series("model", name);
      m.reset();
    }
    std::lock_guard names(loading_mutex_);
    loading_.erase(name);
  };
  asio::post(loader_, std::move(load));
  asio::steady_timer timer(ctx_.executor());
  timer.expires_at(deadline);
  auto ring = [pending](boost::system::error_code ec) {
    if (!ec) pending->bell.try_send(boost::system::error_code{});
  };
  timer.async_wait(std::move(ring));
  co_await pending->bell.async_receive(asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  std::optional<result<std::shared_ptr<loaded_model>>> outcome;
  {
    std::lock_guard lock(pending->mutex);
    outcome = std::move(pending->outcome);
    if (!outcome) pending->abandoned = true;
  }
  if (!outcome) {
    log::warn("inference", "a model load took too long and was abandoned", {{"model", name}});
    co_return too_late(name);
  }
  {
    std::lock_guard lock(loading_mutex_);
    loading_.erase(name);
  }
  if (!*outcome) co_return std::move(*outcome).err();
  auto m = std::move(*outcome).value();
  if (find(m->name)) {  // cannot happen while the name was reserved; kept as a guard
    error clash{errc::conflict, fmt::format("a model named '{}' is already loaded", m->name), {{"name", "already loaded"}}};
    drop_later(std::move(m), false);
    co_return clash;
  }
  if (!req.fallback.empty()) {
    if (auto bad = check_fallback(m->name, req.fallback)) {  // unloaded meanwhile
      drop_later(std::move(m), true);
      co_return std::move(*bad);
    }
    m->fallback = req.fallback;
  }
  log::info("inference", "model registered", {{"model", m->name}, {"dir", req.path}, {"checksum", m->checksum}});
  if (req.make_default)
    models_.insert(models_.begin(), m);
  else
    models_.push_back(m);
  co_return info(*m);
}

asio::awaitable<result<model_unloaded>> service::unload_model(model_ref req, const bus::call_context&) {
  auto it = std::find_if(models_.begin(), models_.end(), [&](const auto& m) { return m->name == req.id; });
  if (it == models_.end()) co_return error::not_found(fmt::format("the model '{}' does not exist", req.id));
  auto m = std::move(*it);
  models_.erase(it);
  drop_later(std::move(m), true);
  for (auto& other : models_) {
    if (other->fallback != req.id) continue;
    log::warn("inference", "fallback cleared: its model was unloaded", {{"model", other->name}, {"fallback", req.id}});
    other->fallback.clear();
  }
  log::info("inference", "model unloaded", {{"model", req.id}});
  co_return model_unloaded{req.id};
}

asio::awaitable<result<model_info>> service::set_default_model(model_ref req, const bus::call_context&) {
  auto it = std::find_if(models_.begin(), models_.end(), [&](const auto& m) { return m->name == req.id; });
  if (it == models_.end()) co_return error::not_found(fmt::format("the model '{}' does not exist", req.id));
  std::rotate(models_.begin(), it, it + 1);
  co_return info(*models_.front());
}

std::optional<error> service::check_fallback(std::string_view model, std::string_view fallback) {
  auto refuse = [](std::string message, std::string why) {
    return error{errc::invalid_argument, std::move(message), {{"fallback", std::move(why)}}};
  };
  if (fallback == model) return refuse(fmt::format("model '{}' cannot be its own fallback", model), "the model itself");
  auto next = find(fallback);
  if (!next) return refuse(fmt::format("the fallback model '{}' is not loaded", fallback), "no model with this name is loaded");
  // Follow the chain from the fallback: reaching `model` would close a cycle.
  for (std::size_t hops = 0; next && !next->fallback.empty() && hops <= models_.size(); ++hops) {
    if (next->fallback == model)
      return refuse(fmt::format("'{}' falls back to '{}' already: a cycle", fallback, model), "would close a cycle");
    next = find(next->fallback);
  }
  return std::nullopt;
}

asio::awaitable<result<model_info>> service::set_fallback_model(set_fallback_request req, const bus::call_context&) {
  auto m = find(req.id);
  if (!m || req.id.empty()) co_return error::not_found(fmt::format("the model '{}' does not exist", req.id));
  if (!req.fallback.empty()) {
    if (auto bad = check_fallback(req.id, req.fallback)) co_return std::move(*bad);
  }
  m->fallback = req.fallback;
  log::info("inference", "fallback set", {{"model", m->name}, {"fallback", m->fallback}});
  co_return info(*m);
}

asio::awaitable<service::grounding> service::ground(const generate_request& req, const bus::call_context& c) {
  grounding out;
  auto last_user = std::find_if(req.messages.rbegin(), req.messages.rend(),
                                [](const chat_turn& t) { return t.role == "user"; });
  if (last_user == req.messages.rend()) co_return out;
  catalog::search_products_request q;
  q.query = search_text(last_user->content, 32, 500);
  q.limit = req.grounding;
  if (q.query.empty()) co_return out;
  // The generation waits for this: it may take the time its caller has left, no more.
  auto opts = bus::nested(c);
  auto found = co_await ctx_.bus().call<catalog::search_products>(std::move(q), std::move(opts));
  if (!found) {
    // A question the search cannot take (no words, say) grounds on nothing; a catalog
    // that is down or slow makes the answer degraded, not failed.
    out.unavailable = found.err().code != errc::invalid_argument;
    if (out.unavailable)
      log::warn("inference", "grounding: the catalog search failed", {{"error", found.err().message}});
    co_return out;
  }
  if (found->data.empty()) co_return out;
  out.context =
      "Products of this store that match the customer's question (answer from these; do not invent products, "
      "prices or stock):\n";
  for (const auto& hit : found->data) {
    const auto& p = hit.item;
    out.context += fmt::format("- {} (SKU {}, {}){}{}\n", p.name, p.sku, format_price(p.price),
                               hit.snippet.empty() ? "" : ": ", hit.snippet);
    out.ids.push_back(p.id);
  }
  co_return out;
}

result<std::vector<std::int32_t>> service::render(const loaded_model& m, const generate_request& req) const {
  if (req.messages.empty()) return m.tok->encode(req.prompt, /*add_special_tokens=*/true);
  if (!m.tmpl) return error{errc::invalid_argument, fmt::format("model '{}' has no chat template; use /v1/completions", m.name), {{"messages", "this model has no chat template"}}};
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const auto& t : req.messages) messages.push_back({{"role", t.role}, {"content", t.content}});
  nlohmann::ordered_json context = {{"messages", std::move(messages)},
                                    {"add_generation_prompt", true},
                                    {"bos_token", m.bos_token},
                                    {"eos_token", m.eos_token}};
  try {
    return m.tok->encode(m.tmpl->render(context), /*add_special_tokens=*/false);
  } catch (const template_error& e) {
    return error{errc::invalid_argument, fmt::format("the chat template refused these messages: {}", e.what()),
                 {{"messages", e.reason()}}};
  }
}

asio::awaitable<result<generation_started>> service::generate(generate_request req, const bus::call_context& c) {
  std::shared_ptr<loaded_model> m = find(req.model);
  if (!m) {
    co_return error::not_found(req.model.empty() ? std::string("no model is loaded")
                                                 : fmt::format("the model '{}' does not exist", req.model));
  }
  // Usage counts under the principal (an API key's own id for a key); conversations
  // belong to the account.
  req.caller = c.who.usage_subject();
  if (auto spent = co_await allowance_left(req.caller, c); !spent) co_return std::move(spent).err();
  // A continued conversation: its history first, this exchange appended at the end.
  std::vector<chat_turn> new_turns;
  if (req.conversation_id) {
    auto load = [id = *req.conversation_id, caller = owner_of(c)](store::database& db) {
      return conversations::sql::find(db, id, caller);
    };
    auto stored = co_await ctx_.store().run(std::move(load));
    if (!stored) co_return std::move(stored).err();
    if (!stored.value())
      co_return error{errc::not_found, fmt::format("the conversation '{}' does not exist", *req.conversation_id),
                      {{"conversation_id", "no conversation has this id"}}};
    if (req.messages.empty())
      co_return error{errc::invalid_argument, "a conversation continues with chat messages",
                      {{"conversation_id", "only chat completions continue a conversation"}}};
    new_turns = req.messages;
    std::vector<chat_turn> history;
    for (auto& msg : stored.value()->messages) history.push_back({std::move(msg.role), std::move(msg.content)});
    history.insert(history.end(), req.messages.begin(), req.messages.end());
    req.messages = std::move(history);
  }
  // Grounding: the store's matching products go first, as (or into) the system message.
  grounding grounded;
  if (req.grounding > 0 && !req.messages.empty()) {
    grounded = co_await ground(req, c);
    if (!grounded.context.empty()) {
      if (req.messages.front().role == "system")
        req.messages.front().content += "\n\n" + grounded.context;
      else
        req.messages.insert(req.messages.begin(), chat_turn{"system", grounded.context});
    }
  }
  // A full queue (or a model being unloaded) sends the request down the fallback chain.
  const std::string asked = m->name;
  std::vector<std::string> tried;
  std::optional<error> refusal;  // the asked model's: it stands if no fallback takes the request
  for (;;) {
    auto started = co_await start_on(m, req, new_turns);
    if (started) {
      if (m->name != asked) started->fallback_from = asked;
      started->grounded = std::move(grounded.ids);
      started->grounding_unavailable = grounded.unavailable;
      co_return started;
    }
    const bool overloaded =
        started.err().code == errc::resource_exhausted || started.err().code == errc::unavailable;
    if (!refusal) refusal = std::move(started).err();
    tried.push_back(m->name);
    auto next = overloaded && !m->fallback.empty() ? find(m->fallback) : nullptr;
    if (!next || std::find(tried.begin(), tried.end(), next->name) != tried.end()) co_return std::move(*refusal);
    log::info("inference", "queue full: trying the fallback model", {{"model", m->name}, {"fallback", next->name}});
    fallbacks_.inc();
    m = std::move(next);
  }
}

asio::awaitable<result<generation_started>> service::start_on(const std::shared_ptr<loaded_model>& m,
                                                              const generate_request& req,
                                                              const std::vector<chat_turn>& new_turns) {
  auto prompt = render(*m, req);
  if (!prompt) co_return std::move(prompt).err();

  generation_started started;
  started.model = m->name;
  started.prompt_tokens = static_cast<std::int64_t>(prompt->size());
  auto stream = std::make_shared<queued_stream>(ctx_.executor());
  started.stream = stream;

  std::optional<std::string> key;
  if (deterministic(req)) {
    key = cache_key(*m, *prompt, req);
    if (auto hit = cache_->find(*key)) {
      cache_hits_.inc();
      started.cached = true;
      stream->producer()->push({hit->text, hit->completion_tokens, hit->finish, {}});
      record_usage(req.caller, m->name, started.prompt_tokens, hit->completion_tokens);
      co_return started;
    }
    cache_misses_.inc();
  }

  generation_request g;
  g.prompt = std::move(prompt).value();
  g.sampling.temperature = req.temperature;
  g.sampling.top_p = req.top_p;
  g.sampling.top_k = req.top_k;
  g.sampling.repetition_penalty = req.repetition_penalty;
  g.sampling.presence_penalty = req.presence_penalty;
  g.sampling.frequency_penalty = req.frequency_penalty;
  g.sampling.seed = req.seed;
  g.sampling.logit_bias = req.logit_bias;
  g.max_tokens = req.max_tokens.value_or(0);
  g.stop_tokens = m->stop_tokens;
  g.stop_strings = req.stop;
  if (req.time_limit_ms > 0) g.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(req.time_limit_ms);

  // Runs on the engine thread: forward the pieces, and at the end store the text for
  // the cache and count the tokens.
  struct collected {
    std::string text;
  };
  auto acc = std::make_shared<collected>();
  auto on_event = [this, feed = stream->producer(), acc, key, cache = cache_, caller = req.caller, model = m->name,
                   conversation = req.conversation_id, new_turns,
                   prompt_tokens = started.prompt_tokens](generation_event ev) {
    generation_piece piece;
    piece.text = std::move(ev.text);
    piece.completion_tokens = ev.completion_tokens;
    if (key || conversation) acc->text += piece.text;
    if (ev.finished) {
      piece.finish = std::string(to_string(*ev.finished));
      piece.error = std::move(ev.error);
      bool complete = *ev.finished == finish_reason::stop || *ev.finished == finish_reason::length;
      if (key && complete) cache->store(*key, {acc->text, *piece.finish, ev.completion_tokens});
      if (conversation && complete) {
        auto turns = new_turns;
        turns.push_back({"assistant", acc->text});
        append_to_conversation(*conversation, std::move(turns));
      }
      record_usage(caller, model, prompt_tokens, ev.completion_tokens);
    }
    feed->push(std::move(piece));
  };
  auto submitted = m->sched->submit(std::move(g), std::move(on_event));
  if (!submitted) co_return std::move(submitted).err();
  stream->producer()->attach(std::move(submitted).value());
  co_return started;
}

asio::awaitable<result<model_list>> service::list_models(list_models_request, const bus::call_context&) {
  model_list out;
  for (const auto& m : models_) out.data.push_back(info(*m));
  co_return out;
}

asio::awaitable<result<conversation>> service::create_conversation(create_conversation_request req,
                                                                   const bus::call_context& c) {
  if (!find(req.model))
    co_return error{errc::not_found, fmt::format("the model '{}' does not exist", req.model),
                    {{"model", "no model with this name is loaded"}}};
  conversation conv;
  conv.id = ctx_.clock().new_id("conv");
  conv.model = std::move(req.model);
  conv.title = std::move(req.title);
  conv.created_at = conv.updated_at = ctx_.clock().now_rfc3339();
  auto job = [conv, caller = owner_of(c)](store::database& db) {
    conversations::sql::insert(db, conv, caller);
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return conv;
}

asio::awaitable<result<conversation>> service::get_conversation(conversation_ref req, const bus::call_context& c) {
  req.caller = owner_of(c);
  auto job = [req](store::database& db) { return conversations::sql::find(db, req.id, req.caller); };
  auto found = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!found) co_return std::move(found).err();
  if (!found.value()) co_return error::not_found("no conversation has this id");
  co_return std::move(*found.value());
}

asio::awaitable<result<conversation_page>> service::list_conversations(list_conversations_request req,
                                                                       const bus::call_context& c) {
  auto fetch = [caller = owner_of(c)](store::database& db, const std::string& after, std::int64_t n) {
    return conversations::sql::list(db, caller, after, n);
  };
  page_rules rules{conversations::default_page_limit, conversations::max_page_limit, "conv"};
  co_return co_await read_page<conversation>(ctx_.store(), req.limit, std::move(req.cursor), rules,
                                             std::move(fetch), c.deadline);
}

asio::awaitable<result<conversation_deleted>> service::delete_conversation(conversation_ref req,
                                                                           const bus::call_context& c) {
  req.caller = owner_of(c);
  auto job = [req](store::database& db) {
    return db.transaction([&]() -> result<conversation_deleted> {
      auto version = conversations::sql::version_of(db, req.id, req.caller);
      if (!version) return error::not_found("no conversation has this id");
      if (req.expected_version && !req.expected_version->matches(*version))
        return version_mismatch("the conversation", *version);
      conversations::sql::remove(db, req.id, req.caller);
      return conversation_deleted{req.id};
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

void service::drop_later(std::shared_ptr<loaded_model> m, bool forget) {
  // On the loader thread, in order with loads: a model loaded again under this name
  // after the unload gets fresh series.
  auto drop = [m = std::move(m), forget, cache = cache_, &metrics = ctx_.metrics()]() mutable {
    m->sched->stop();
    if (forget) {
      metrics.remove_series("model", m->name);
      cache->erase_prefix(m->name + '\x1f');
    }
    m.reset();
  };
  asio::post(loader_, std::move(drop));
}

template <class F>
void service::write_later(F job, std::string_view what) {
  // Parameters, not captures: a coroutine lambda's captures die with the lambda.
  auto write = [](service* self, F j, std::string_view what) -> asio::awaitable<void> {
    auto r = co_await self->ctx_.store().run(std::move(j));
    if (!r) log::warn("inference", fmt::format("could not store {}", what), {{"error", r.err().message}});
  };
  writes_.spawn(ctx_.executor(), write(this, std::move(job), what), "inference write");
}

void service::append_to_conversation(std::string id, std::vector<chat_turn> turns) {
  auto job = [id = std::move(id), turns = std::move(turns), now = ctx_.clock().now_rfc3339()](store::database& db) {
    db.transaction([&] {
      if (!conversations::sql::append(db, id, turns, now))
        log::info("inference", "conversation deleted before its reply was stored", {{"conversation", id}});
    });
  };
  write_later(std::move(job), "a conversation's messages");
}

std::string service::owner_of(const bus::call_context& c) {
  return c.who.authenticated() && !c.who.subject.empty() ? c.who.subject : std::string("anonymous");
}

asio::awaitable<result<void>> service::allowance_left(const std::string& subject, const bus::call_context& c) {
  if (!c.who.authenticated()) co_return ok();
  customers::get_quota_request q{subject};
  auto opts = bus::nested(c, std::chrono::milliseconds(2000));
  auto quota = co_await ctx_.bus().call<customers::get_quota>(std::move(q), std::move(opts));
  if (!quota) {
    // Without the identity module there is no allowance to enforce; say so once in a while.
    if (quota.err().code != errc::unavailable) co_return std::move(quota).err();
    co_return ok();
  }
  auto day = ctx_.clock().now_rfc3339().substr(0, 10);
  auto used = [subject, day](store::database& db) {
    auto& s = db.prepare("SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage WHERE caller = ? AND day = ?");
    s.bind_all(subject, day);
    return s.step() ? s.int64(0) : std::int64_t{0};
  };
  auto tokens = co_await ctx_.store().run(std::move(used), c.deadline);
  if (!tokens) co_return std::move(tokens).err();
  if (*tokens >= quota->daily_tokens) {
    auto now = ctx_.clock().now();
    auto midnight = std::chrono::floor<std::chrono::days>(now) + std::chrono::days(1);
    auto wait = std::chrono::ceil<std::chrono::seconds>(midnight - now).count();
    co_return error::exhausted(fmt::format("the daily token allowance ({} tokens) is spent; it renews at 00:00 UTC",
                                           quota->daily_tokens),
                               wait);
  }
  co_return ok();
}

void service::record_usage(std::string caller, std::string model, std::int64_t prompt_tokens,
                           std::int64_t completion_tokens) {
  auto job = [caller = std::move(caller), model = std::move(model), day = ctx_.clock().now_rfc3339().substr(0, 10), prompt_tokens,
              completion_tokens](store::database& db) {
    db.prepare(
          "INSERT INTO usage(caller, day, model, requests, prompt_tokens, completion_tokens) VALUES (?, ?, ?, 1, ?, ?) "
          "ON CONFLICT(caller, day, model) DO UPDATE SET requests = requests + 1, "
          "prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
          "completion_tokens = completion_tokens + excluded.completion_tokens")
        .bind_all(caller, day, model, prompt_tokens, completion_tokens)
        .run();
  };
  write_later(std::move(job), "token usage");
}

}  // namespace agora::inference
