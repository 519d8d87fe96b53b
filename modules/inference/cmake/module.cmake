# The inference module itself: its bus methods and OpenAI-compatible routes over the
# engine, scheduler, tokenizer and chat templates. Other code sees include/ only.
if(AGORA_WITH_TORCH)
  add_library(agora_inference STATIC
    src/http_api.cpp
    src/module.cpp
    src/service.cpp)
  target_include_directories(agora_inference
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(agora_inference
    PUBLIC agora_core
    PRIVATE agora_inference_engine agora_openai agora_tokenizer agora_chat_template)
  agora_embed_migrations(agora_inference agora::inference::db ${CMAKE_CURRENT_SOURCE_DIR}/migrations/0001_init.sql)
endif()

if(AGORA_WITH_TORCH AND AGORA_BUILD_TESTS)
  # The whole app through the embedding harness, with a tiny generated model.
  add_executable(agora_inference_api_test tests/api_test.cpp)
  target_link_libraries(agora_inference_api_test PRIVATE agora_app agora_engine_fixture agora_catch_main SQLite::SQLite3)
  catch_discover_tests(agora_inference_api_test TEST_PREFIX "inference.api." PROPERTIES TIMEOUT 300)
endif()
