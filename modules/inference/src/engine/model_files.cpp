#include "engine/model_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace agora::inference {

namespace {

namespace fs = std::filesystem;

bool inside(const fs::path& root, const fs::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end() && q != p.end();
}

// Where a link in `dir` may point: the folder itself, and for a Hugging Face cache
// snapshot (<entry>/snapshots/<revision>) the entry's blobs/ folder.
bool allowed_target(const fs::path& real_dir, const fs::path& target) {
  if (inside(real_dir, target)) return true;
  const auto snapshots = real_dir.parent_path();
  if (snapshots.filename() != "snapshots") return false;
  return inside(snapshots.parent_path() / "blobs", target);
}

}  // namespace

std::optional<model_file> model_file::open(const fs::path& dir, std::string_view name, std::uint64_t limit) {
  const std::string shown_name(name);
  auto fail = [&](std::string_view what) { return model_file_error(fmt::format("{}: {}", shown_name, what)); };
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    throw fail("not a plain file name");
  const fs::path path = dir / fs::path(std::string(name));
  struct stat link{};
  if (::lstat(path.c_str(), &link) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw fail("cannot be read");
  }
  fs::path target = path;
  if (S_ISLNK(link.st_mode)) {
    std::error_code ec;
    target = fs::canonical(path, ec);
    if (ec) throw fail("is a link to nothing");
    const auto real_dir = fs::canonical(dir, ec);
    if (ec || !allowed_target(real_dir, target)) throw fail("is a link to a file outside the model folder");
  }
  // Non-blocking, so that a FIFO cannot hold the open; no link is followed any more.
  const int fd = ::open(target.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw fail(errno == ELOOP ? "changed while it was opened" : "cannot be opened");
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw fail("cannot be read");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw fail("is not a regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > limit) {
    ::close(fd);
    throw fail(fmt::format("{} bytes, over the limit of {} bytes for this file", size, limit));
  }
  return model_file(fd, size, shown_name);
}

model_file model_file::require(const fs::path& dir, std::string_view name, std::uint64_t limit) {
  auto f = open(dir, name, limit);
  if (!f) throw model_file_error(fmt::format("{}: missing", name));
  return std::move(*f);
}

model_file::model_file(model_file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), name_(std::move(other.name_)) {}

model_file& model_file::operator=(model_file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    name_ = std::move(other.name_);
  }
  return *this;
}

model_file::~model_file() {
  if (fd_ >= 0) ::close(fd_);
}

std::string model_file::read_all() const {
  std::string out(static_cast<std::size_t>(size_), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const auto n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw model_file_error(fmt::format("{}: cannot be read", name_));
    if (n == 0) throw model_file_error(fmt::format("{}: shrank while it was read", name_));
    done += static_cast<std::size_t>(n);
  }
  return out;
}

std::optional<std::string> read_model_file(const fs::path& dir, std::string_view name, std::uint64_t limit) {
  auto f = model_file::open(dir, name, limit);
  if (!f) return std::nullopt;
  return f->read_all();
}

std::string shown(std::string_view value) {
  const bool plain = !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("._-:<>|[]").find(c) != std::string_view::npos;
  });
  return plain ? std::string(value) : std::string("(not shown)");
}

std::string json_problem(const std::exception& e) {
  if (const auto* parse = dynamic_cast<const nlohmann::json::parse_error*>(&e))
    return fmt::format("not valid JSON (at byte {})", parse->byte);
  return "not valid JSON";
}

}  // namespace agora::inference
