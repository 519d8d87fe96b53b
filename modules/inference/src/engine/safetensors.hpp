#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "engine/model_files.hpp"

namespace agora::inference {

enum class st_dtype { f32, f16, bf16 };

// One tensor's entry in a safetensors header, validated against the file: its byte
// range lies inside the data section and matches dtype x shape.
struct st_tensor_info {
  st_dtype dtype = st_dtype::f32;
  std::vector<std::int64_t> shape;
  std::size_t offset = 0;  // from the start of the file
  std::size_t nbytes = 0;
};

// A read-only memory mapping of one .safetensors file and its parsed header. Tensors
// are CPU views over the mapping (no copy); each view keeps the mapping alive, so the
// file object may be dropped while views are in use. Throws model_error naming the
// file on any malformed header, unsupported dtype (only F32, F16, BF16) or offsets
// outside the file.
class safetensors_file : public std::enable_shared_from_this<safetensors_file> {
 public:
  // `name` in the model folder `dir`: a regular file (see model_file) of at most
  // limits.weight_file bytes, whose header takes at most limits.weight_header.
  static std::shared_ptr<safetensors_file> open(const std::filesystem::path& dir, const std::string& name,
                                                const model_file_limits& limits = {});
  ~safetensors_file();
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;

  const std::string& name() const { return name_; }
  const std::map<std::string, st_tensor_info>& tensors() const { return tensors_; }
  bool contains(const std::string& tensor) const { return tensors_.count(tensor) != 0; }
  const st_tensor_info& info(const std::string& tensor) const;
  // A CPU tensor viewing the mapped bytes; must not be written to.
  at::Tensor view(const std::string& tensor) const;

 private:
  safetensors_file() = default;

  std::string name_;
  std::map<std::string, st_tensor_info> tensors_;
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

// All tensors of a model folder: model.safetensors, or the shards listed by
// model.safetensors.index.json. Names are unique across shards. Messages name files
// relative to the folder.
class tensor_store {
 public:
  static tensor_store open_folder(const std::filesystem::path& dir, const model_file_limits& limits = {});

  bool contains(const std::string& tensor) const { return where_.count(tensor) != 0; }
  const st_tensor_info& info(const std::string& tensor) const;
  // Name of the file holding tensor, for messages.
  const std::string& file_of(const std::string& tensor) const;
  at::Tensor view(const std::string& tensor) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::shared_ptr<safetensors_file>> files_;
  std::map<std::string, std::size_t> where_;
};

std::string to_string(st_dtype dtype);

}  // namespace agora::inference
