# The inference module itself: its bus methods and OpenAI-compatible routes over the
# engine, scheduler, tokenizer and chat templates. Other code sees include/ only.
if(AGORA_WITH_TORCH)
  add_library(agora_inference STATIC
    src/service/conversations.cpp
    src/service/http_api.cpp
    src/service/module.cpp
    src/service/service.cpp)
  target_include_directories(agora_inference PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(agora_inference
    PUBLIC agora_inference_api agora_core
    PRIVATE agora_inference_engine agora_openai agora_tokenizer agora_chat_template
            agora_catalog_api    # grounding searches the catalog over the bus
            agora_customers_api) # the daily token allowance is the customer's quota
  agora_embed_migrations(agora_inference agora::inference::db
    ${CMAKE_CURRENT_SOURCE_DIR}/migrations/0001_init.sql
    ${CMAKE_CURRENT_SOURCE_DIR}/migrations/0002_conversations.sql)
endif()

if(AGORA_WITH_TORCH AND AGORA_BUILD_TESTS)
  # The whole app through the embedding harness, with a tiny generated model.
  add_executable(agora_inference_api_test tests/api_test.cpp)
  target_link_libraries(agora_inference_api_test PRIVATE agora_app agora_engine_fixture agora_catch_main SQLite::SQLite3)
  catch_discover_tests(agora_inference_api_test TEST_PREFIX "inference.api." PROPERTIES TIMEOUT 300)
endif()

if(AGORA_WITH_TORCH)
  # Writes a tiny deterministic model folder (random weights, byte-level tokenizer).
  add_executable(agora-make-test-model tools/make_test_model_main.cpp)
  target_link_libraries(agora-make-test-model PRIVATE agora_engine_fixture)
  if(AGORA_BUILD_TESTS)
    # --help prints the usage and makes no folder; an unknown option is an error.
    add_test(NAME inference.make_test_model_options
      COMMAND sh -c "cd \"$(mktemp -d)\" && \"$1\" --help | grep -q '^usage: agora-make-test-model DIR' && \"$1\" -h >/dev/null && ! \"$1\" --bogus 2>/dev/null && ! ls -A | grep -q ."
              sh $<TARGET_FILE:agora-make-test-model>)
  endif()
endif()

if(AGORA_WITH_TORCH AND AGORA_BUILD_TESTS)
  # The official openai JavaScript client against the real binary.
  find_program(NODE node)
  find_program(NPM npm)
  if(NODE AND NPM)
    set(agora_openai_client_dir ${CMAKE_CURRENT_SOURCE_DIR}/tests/openai_client)
    add_test(NAME inference.openai_client_setup
      COMMAND ${NPM} ci --no-audit --no-fund
      WORKING_DIRECTORY ${agora_openai_client_dir})
    set_tests_properties(inference.openai_client_setup PROPERTIES
      FIXTURES_SETUP agora_openai_client_node LABELS node TIMEOUT 600)
    add_test(NAME inference.openai_client
      COMMAND ${agora_openai_client_dir}/run.sh $<TARGET_FILE:agora> $<TARGET_FILE:agora-make-test-model> ${NODE})
    set_tests_properties(inference.openai_client PROPERTIES
      FIXTURES_REQUIRED agora_openai_client_node LABELS node TIMEOUT 300)
  endif()
endif()
