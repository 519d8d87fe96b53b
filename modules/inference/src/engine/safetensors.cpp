#include "engine/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/model_config.hpp"

namespace agora::inference {
namespace {

std::size_t element_size(st_dtype d) { return d == st_dtype::f32 ? 4 : 2; }

c10::ScalarType scalar_type(st_dtype d) {
  switch (d) {
    case st_dtype::f32:
      return torch::kFloat32;
    case st_dtype::f16:
      return torch::kFloat16;
    case st_dtype::bf16:
      return torch::kBFloat16;
  }
  return torch::kFloat32;
}

}  // namespace

std::string to_string(st_dtype dtype) {
  switch (dtype) {
    case st_dtype::f32:
      return "F32";
    case st_dtype::f16:
      return "F16";
    case st_dtype::bf16:
      return "BF16";
  }
  return "?";
}

std::shared_ptr<safetensors_file> safetensors_file::open(const std::filesystem::path& dir, const std::string& shard,
                                                         const model_file_limits& limits) {
  std::shared_ptr<safetensors_file> file(new safetensors_file);
  file->name_ = shard;
  const auto& name = file->name_;
  std::optional<model_file> f;
  try {
    f = model_file::open(dir, shard, limits.weight_file);
  } catch (const model_file_error& e) {
    throw model_error(e.what());
  }
  if (!f) throw model_error(fmt::format("{}: missing", name));
  file->size_ = static_cast<std::size_t>(f->size());
  if (file->size_ < 8) throw model_error(fmt::format("{}: too short for a safetensors header ({} bytes)", name, file->size_));
  void* base = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, f->fd(), 0);
  if (base == MAP_FAILED) throw model_error(fmt::format("{}: cannot be mapped: {}", name, std::strerror(errno)));
  file->base_ = base;

  const auto* bytes = static_cast<const unsigned char*>(base);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > file->size_ - 8)
    throw model_error(fmt::format("{}: header length {} exceeds the file size {}", name, header_len, file->size_));
  if (header_len > limits.weight_header)
    throw model_error(fmt::format("{}: header length {} is over the limit of {} bytes", name, header_len,
                                  limits.weight_header));
  const std::size_t data_start = 8 + static_cast<std::size_t>(header_len);
  const std::size_t data_size = file->size_ - data_start;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes + 8),
                                   reinterpret_cast<const char*>(bytes + data_start));
  } catch (const nlohmann::json::exception& e) {
    throw model_error(fmt::format("{}: header: {}", name, json_problem(e)));
  }
  if (!header.is_object()) throw model_error(fmt::format("{}: header must be a JSON object", name));

  for (const auto& [tensor, entry] : header.items()) {
    if (tensor == "__metadata__") continue;
    auto bad = [&](std::string_view what) {
      return model_error(fmt::format("{}: tensor {}: {}", name, shown(tensor), what));
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw bad("entry needs dtype, shape and data_offsets");
    st_tensor_info info;
    const auto& dt = entry.at("dtype");
    if (!dt.is_string()) throw bad("dtype must be a string");
    const auto dts = dt.get<std::string>();
    if (dts == "F32") {
      info.dtype = st_dtype::f32;
    } else if (dts == "F16") {
      info.dtype = st_dtype::f16;
    } else if (dts == "BF16") {
      info.dtype = st_dtype::bf16;
    } else {
      throw bad(fmt::format("unsupported dtype {} (supported: F32, F16, BF16)", shown(dts)));
    }
    std::size_t numel = 1;
    if (!entry.at("shape").is_array()) throw bad("shape must be a list");
    for (const auto& d : entry.at("shape")) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) throw bad("shape must hold non-negative integers");
      info.shape.push_back(d.get<std::int64_t>());
      numel *= static_cast<std::size_t>(d.get<std::int64_t>());
    }
    const auto& off = entry.at("data_offsets");
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    const auto begin = off[0].get<std::uint64_t>();
    const auto end = off[1].get<std::uint64_t>();
    if (begin > end || end > data_size)
      throw bad(fmt::format("data_offsets [{}, {}] lie outside the data section of {} bytes", begin, end, data_size));
    if (end - begin != numel * element_size(info.dtype))
      throw bad(fmt::format("data_offsets span {} bytes, but {} x {} needs {}", end - begin, to_string(info.dtype),
                            fmt::join(info.shape, "x"), numel * element_size(info.dtype)));
    info.offset = data_start + static_cast<std::size_t>(begin);
    info.nbytes = static_cast<std::size_t>(end - begin);
    file->tensors_.emplace(tensor, std::move(info));
  }
  return file;
}

safetensors_file::~safetensors_file() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

const st_tensor_info& safetensors_file::info(const std::string& tensor) const {
  auto it = tensors_.find(tensor);
  if (it == tensors_.end()) throw model_error(fmt::format("{}: tensor {} is missing", name_, tensor));
  return it->second;
}

at::Tensor safetensors_file::view(const std::string& tensor) const {
  const auto& i = info(tensor);
  auto* data = static_cast<char*>(base_) + i.offset;
  auto options = torch::TensorOptions().dtype(scalar_type(i.dtype)).device(torch::kCPU);
  if (reinterpret_cast<std::uintptr_t>(data) % element_size(i.dtype) != 0) {
    auto out = torch::empty(i.shape, options);
    std::memcpy(out.data_ptr(), data, i.nbytes);
    return out;
  }
  auto keep = std::const_pointer_cast<safetensors_file>(shared_from_this());
  return torch::from_blob(data, i.shape, [keep](void*) {}, options);
}

tensor_store tensor_store::open_folder(const std::filesystem::path& dir, const model_file_limits& limits) {
  tensor_store store;
  std::vector<std::string> shards;
  std::set<std::string> declared;
  std::optional<std::string> index;
  std::optional<model_file> single;
  try {
    index = read_model_file(dir, "model.safetensors.index.json", limits.weight_index);
    if (!index) single = model_file::open(dir, "model.safetensors", limits.weight_file);
  } catch (const model_file_error& e) {
    throw model_error(e.what());
  }
  if (index) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(*index);
    } catch (const nlohmann::json::exception& e) {
      throw model_error(fmt::format("model.safetensors.index.json: {}", json_problem(e)));
    }
    if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object())
      throw model_error("model.safetensors.index.json: weight_map: missing or not an object");
    std::set<std::string> seen;
    for (const auto& [tensor, file] : j.at("weight_map").items()) {
      if (!file.is_string())
        throw model_error(fmt::format("model.safetensors.index.json: weight_map.{}: must be a file name", shown(tensor)));
      auto f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f.find('\0') != std::string::npos || f == "." ||
          f == ".." || !f.ends_with(".safetensors"))
        throw model_error(fmt::format("model.safetensors.index.json: weight_map.{}: '{}' is not a .safetensors file name",
                                      shown(tensor), shown(f)));
      if (seen.insert(f).second) shards.push_back(f);
    }
    for (const auto& item : j.at("weight_map").items()) declared.insert(item.key());
  } else if (single) {
    shards.push_back("model.safetensors");
  } else {
    throw model_error("model.safetensors: missing (and no model.safetensors.index.json)");
  }
  for (std::size_t k = 0; k < shards.size(); ++k) {
    store.files_.push_back(safetensors_file::open(dir, shards[k], limits));
    for (const auto& [tensor, _] : store.files_.back()->tensors()) {
      auto [it, inserted] = store.where_.emplace(tensor, k);
      if (!inserted)
        throw model_error(fmt::format("{}: tensor {} is also in {}", shown(shards[k]), shown(tensor),
                                      shown(shards[it->second])));
    }
  }
  for (const auto& tensor : declared)
    if (!store.contains(tensor))
      throw model_error(fmt::format("model.safetensors.index.json: tensor {} is listed but in no shard", shown(tensor)));
  return store;
}

const st_tensor_info& tensor_store::info(const std::string& tensor) const {
  auto it = where_.find(tensor);
  if (it == where_.end()) throw model_error(fmt::format("model.safetensors: tensor {} is missing", tensor));
  return files_[it->second]->info(tensor);
}

const std::string& tensor_store::file_of(const std::string& tensor) const {
  static const std::string fallback = "model.safetensors";
  auto it = where_.find(tensor);
  return it == where_.end() ? fallback : files_[it->second]->name();
}

at::Tensor tensor_store::view(const std::string& tensor) const {
  auto it = where_.find(tensor);
  if (it == where_.end()) throw model_error(fmt::format("model.safetensors: tensor {} is missing", tensor));
  return files_[it->second]->view(tensor);
}

std::vector<std::string> tensor_store::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [tensor, _] : where_) out.push_back(tensor);
  return out;
}

}  // namespace agora::inference
