# The OpenAI-compatible wire format: request parsing and validation, response
# objects, streaming chunks and SSE framing. Plain JSON with no torch dependency,
# so it builds and tests everywhere.
add_library(agora_openai STATIC src/service/openai.cpp)
target_include_directories(agora_openai PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(agora_openai
  PUBLIC agora_core nlohmann_json::nlohmann_json
  PRIVATE fmt::fmt)

if(AGORA_BUILD_TESTS)
  add_executable(agora_openai_test tests/openai_test.cpp)
  target_link_libraries(agora_openai_test PRIVATE agora_openai agora_catch_main nlohmann_json::nlohmann_json)
  catch_discover_tests(agora_openai_test TEST_PREFIX "inference.openai.")
endif()
