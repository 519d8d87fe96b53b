#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace agora::inference {

// A model folder's file that cannot be used. what() names the file relative to the
// folder and the problem, never the file's contents nor an absolute path.
class model_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The most bytes each kind of model file may have. A model folder is untrusted input:
// every read is bounded by one of these, so that no file can make a load run forever or
// take the memory. The two large ones are settings (modules.inference.tokenizer_limit_mb,
// weight_file_limit_mb).
struct model_file_limits {
  std::uint64_t config = std::uint64_t{1} << 20;            // config.json, generation_config.json
  std::uint64_t tokenizer = std::uint64_t{64} << 20;        // tokenizer.json
  std::uint64_t tokenizer_config = std::uint64_t{16} << 20; // tokenizer_config.json
  std::uint64_t chat_template = std::uint64_t{1} << 20;     // chat_template.jinja
  std::uint64_t weight_index = std::uint64_t{16} << 20;     // model.safetensors.index.json
  std::uint64_t weight_file = std::uint64_t{64} << 30;      // each *.safetensors file
  std::uint64_t weight_header = std::uint64_t{100} << 20;   // the JSON header inside one
};

// One file of a model folder, open for reading. Only regular files are opened: a FIFO,
// a device, a socket or a folder is refused without blocking (the file is opened
// non-blocking, then checked with fstat). A symbolic link is followed, and its target
// must be a regular file inside the model folder or, when the folder is a snapshot of a
// Hugging Face cache (…/snapshots/<revision>), inside that cache entry's blobs/ folder;
// a link anywhere else is refused.
class model_file {
 public:
  // nullopt when `name` is not in `dir` at all. Throws model_file_error when it is
  // there but cannot be used (see above), or is larger than `limit` bytes.
  static std::optional<model_file> open(const std::filesystem::path& dir, std::string_view name,
                                        std::uint64_t limit);
  // The same, but a missing file is an error too.
  static model_file require(const std::filesystem::path& dir, std::string_view name, std::uint64_t limit);

  model_file(model_file&& other) noexcept;
  model_file& operator=(model_file&& other) noexcept;
  model_file(const model_file&) = delete;
  model_file& operator=(const model_file&) = delete;
  ~model_file();

  int fd() const noexcept { return fd_; }
  std::uint64_t size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }
  // The whole file (size() bytes). Throws model_file_error if it cannot be read.
  std::string read_all() const;

 private:
  model_file(int fd, std::uint64_t size, std::string name) : fd_(fd), size_(size), name_(std::move(name)) {}

  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string name_;
};

// A model file's contents (see model_file::open); nullopt when it is absent.
std::optional<std::string> read_model_file(const std::filesystem::path& dir, std::string_view name,
                                           std::uint64_t limit);

// A string read from a model file, as an error message may show it: itself when it is
// a short name (1 to 64 of A-Z a-z 0-9 . _ - : < > | [ ]: architecture, dtype and
// special-token names), else "(not shown)".
std::string shown(std::string_view value);

// "not valid JSON (at byte N)" for an nlohmann parse error, "not valid JSON" for any
// other exception: unlike e.what(), never a piece of the input.
std::string json_problem(const std::exception& e);

}  // namespace agora::inference
