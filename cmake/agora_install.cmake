# `cmake --install` of agora: the libraries behind agora_app, the public headers (the
# core's and each module's door), the agora binary, and a CMake package so that an
# outside project can `find_package(agora)` and link agora::agora_app.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(agora_installed_libraries agora_values agora_core agora_catalog_api agora_catalog agora_customers_api
  agora_customers agora_inventory_api agora_inventory agora_cart_api agora_cart agora_orders_api agora_orders agora_app)
if(TARGET agora_inference)
  list(APPEND agora_installed_libraries
    agora_inference_api agora_inference agora_inference_engine agora_openai agora_tokenizer agora_chat_template)
endif()

# The targets name their include folders in the source tree; installed, every public
# header lives under one include/.
foreach(target IN LISTS agora_installed_libraries)
  get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  set(wrapped "")
  if(dirs)
    foreach(dir IN LISTS dirs)
      list(APPEND wrapped "$<BUILD_INTERFACE:${dir}>")
    endforeach()
  endif()
  list(APPEND wrapped "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${wrapped}")
endforeach()

install(TARGETS ${agora_installed_libraries} EXPORT agoraTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS agora RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ ${PROJECT_SOURCE_DIR}/values/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(module catalog customers inventory cart orders inference)
  if(TARGET agora_${module})
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/modules/${module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endforeach()

set(agora_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/agora)
install(EXPORT agoraTargets NAMESPACE agora:: DESTINATION ${agora_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/agoraConfig.cmake.in
  ${PROJECT_BINARY_DIR}/agoraConfig.cmake INSTALL_DESTINATION ${agora_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/agoraConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/agoraConfig.cmake ${PROJECT_BINARY_DIR}/agoraConfigVersion.cmake
  DESTINATION ${agora_cmake_dir})
