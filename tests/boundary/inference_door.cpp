// A module that only sends the inference messages: it links agora_inference_api alone.
#include <inference/api.hpp>

#include "door_checks.hpp"

agora::inference::generate::request probe_inference_request() { return {}; }
