# The tokenizer: a plain library (PCRE2 for the split regexes, ICU for Unicode
# normalization), its Catch2 tests, the agora-tokenize CLI, and a reference check
# against independent JavaScript tokenizers on real tokenizer.json files.
pkg_check_modules(AGORA_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(AGORA_ICU_UC REQUIRED IMPORTED_TARGET icu-uc)

add_library(agora_tokenizer STATIC
  src/engine/model_files.cpp
  src/text/tokenizer.cpp
  src/text/tokenizer_bpe.cpp
  src/text/tokenizer_regex.cpp
  src/text/tokenizer_text.cpp)
target_include_directories(agora_tokenizer PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(agora_tokenizer
  PRIVATE nlohmann_json::nlohmann_json fmt::fmt PkgConfig::AGORA_PCRE2 PkgConfig::AGORA_ICU_UC)

add_executable(agora-tokenize tools/tokenize_main.cpp)
target_include_directories(agora-tokenize PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(agora-tokenize PRIVATE agora_tokenizer nlohmann_json::nlohmann_json fmt::fmt)

if(AGORA_BUILD_TESTS)
  add_executable(agora_tokenizer_test tests/tokenizer_test.cpp)
  target_include_directories(agora_tokenizer_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(agora_tokenizer_test PRIVATE agora_tokenizer agora_catch_main nlohmann_json::nlohmann_json)
  catch_discover_tests(agora_tokenizer_test TEST_PREFIX "inference.tokenizer.")

  find_program(NODE node)
  find_program(NPM npm)
  if(NODE AND NPM)
    set(agora_tokenizer_ref_dir ${CMAKE_CURRENT_SOURCE_DIR}/tests/tokenizer_ref)
    add_test(NAME inference.tokenizer_reference_setup
      COMMAND ${NPM} ci --no-audit --no-fund
      WORKING_DIRECTORY ${agora_tokenizer_ref_dir})
    set_tests_properties(inference.tokenizer_reference_setup PROPERTIES
      FIXTURES_SETUP agora_tokenizer_ref_node LABELS node TIMEOUT 600)
    add_test(NAME inference.tokenizer_reference
      COMMAND ${NODE} ${agora_tokenizer_ref_dir}/compare.mjs $<TARGET_FILE:agora-tokenize>
      WORKING_DIRECTORY ${agora_tokenizer_ref_dir})
    set_tests_properties(inference.tokenizer_reference PROPERTIES
      FIXTURES_REQUIRED agora_tokenizer_ref_node LABELS node TIMEOUT 600)
  else()
    message(STATUS "node/npm not found: inference.tokenizer_reference is not registered")
  endif()
endif()
