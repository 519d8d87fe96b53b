# Chat templates: a Jinja2-subset interpreter (agora_chat_template), its Catch2
# tests, the agora-render-template CLI, and a byte-for-byte reference check
# against @huggingface/jinja on real chat templates shipped in npm packages.
add_library(agora_chat_template STATIC
  src/text/chat_template.cpp
  src/text/jinja_interpreter.cpp
  src/text/jinja_parser.cpp
  src/text/jinja_value.cpp)
target_include_directories(agora_chat_template PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(agora_chat_template PUBLIC nlohmann_json::nlohmann_json PRIVATE fmt::fmt agora_tokenizer)

add_executable(agora-render-template tools/render_template_main.cpp)
target_link_libraries(agora-render-template PRIVATE agora_chat_template nlohmann_json::nlohmann_json)

if(AGORA_BUILD_TESTS)
  add_executable(agora_chat_template_test tests/chat_template_test.cpp)
  target_link_libraries(agora_chat_template_test PRIVATE agora_chat_template agora_catch_main nlohmann_json::nlohmann_json)
  catch_discover_tests(agora_chat_template_test TEST_PREFIX "inference.template.")

  find_program(NODE node)
  find_program(NPM npm)
  if(NODE AND NPM)
    set(agora_template_ref_dir ${CMAKE_CURRENT_SOURCE_DIR}/tests/template_ref)
    add_test(NAME inference.template_reference_setup
      COMMAND ${NPM} ci --no-audit --no-fund
      WORKING_DIRECTORY ${agora_template_ref_dir})
    set_tests_properties(inference.template_reference_setup PROPERTIES
      FIXTURES_SETUP agora_template_ref_node LABELS node TIMEOUT 600)
    add_test(NAME inference.template_reference
      COMMAND ${NODE} ${agora_template_ref_dir}/compare.mjs $<TARGET_FILE:agora-render-template>
      WORKING_DIRECTORY ${agora_template_ref_dir})
    set_tests_properties(inference.template_reference PROPERTIES
      FIXTURES_REQUIRED agora_template_ref_node LABELS node TIMEOUT 600)
  else()
    message(STATUS "node/npm not found: inference.template_reference is not registered")
  endif()
endif()
