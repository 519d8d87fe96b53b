# The libtorch engine: safetensors loading, the Llama-family decoder with its slot KV
# cache, the sampler, and the continuous-batching scheduler. Built only with
# AGORA_WITH_TORCH; the test fixture library (tiny random-weight models written in C++)
# is shared with the benchmark.
if(AGORA_WITH_TORCH)
  add_library(agora_inference_engine STATIC
    src/engine/safetensors.cpp
    src/engine/model_config.cpp
    src/engine/model.cpp
    src/engine/sampler.cpp
    src/engine/scheduler.cpp)
  target_include_directories(agora_inference_engine PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(agora_inference_engine
    PUBLIC ${TORCH_LIBRARIES} agora_core agora_tokenizer nlohmann_json::nlohmann_json fmt::fmt)

  add_library(agora_engine_fixture STATIC tests/model_fixture.cpp)
  target_include_directories(agora_engine_fixture PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/tests)
  target_link_libraries(agora_engine_fixture PUBLIC agora_inference_engine)

  if(AGORA_BUILD_TESTS)
    add_executable(agora_engine_test tests/engine_test.cpp)
    target_link_libraries(agora_engine_test PRIVATE agora_engine_fixture agora_inference_engine agora_catch_main)
    target_compile_definitions(agora_engine_test PRIVATE
      AGORA_ENGINE_FIXTURES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures"
      AGORA_LLAMACPP_REFERENCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}/tests/reference/llamacpp")
    catch_discover_tests(agora_engine_test TEST_PREFIX "inference.engine.")

    add_executable(agora_scheduler_test tests/scheduler_test.cpp)
    target_link_libraries(agora_scheduler_test PRIVATE agora_engine_fixture agora_inference_engine agora_catch_main)
    catch_discover_tests(agora_scheduler_test TEST_PREFIX "inference.scheduler.")
  endif()
endif()
