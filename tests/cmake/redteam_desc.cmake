# Red-team cases of the description module: the parse-once lifetime, keys,
# exact numbers on save, the dt_config views, cJSON's hooks with threads
# (tests/unit/test_redteam_desc.c).
dtwin_unit_test(test_redteam_desc)
target_link_libraries(test_redteam_desc PRIVATE Threads::Threads)

# Threads loading twins with their own allocators while the host uses cJSON,
# once more under ThreadSanitizer with the whole library built for it (not
# combinable with ASan: only in the plain build).
if(NOT DTWIN_SANITIZE AND NOT DTWIN_COVERAGE)
  list(TRANSFORM DTWIN_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE dtwin_tsan_sources)
  add_executable(test_redteam_desc_tsan unit/test_redteam_desc.c ${dtwin_tsan_sources})
  set_source_files_properties(${PROJECT_SOURCE_DIR}/src/adapters/builtins.c
    TARGET_DIRECTORY test_redteam_desc_tsan PROPERTIES COMPILE_DEFINITIONS "${DTWIN_BUILTIN_DEFS}")
  target_include_directories(test_redteam_desc_tsan PRIVATE ${PROJECT_SOURCE_DIR}/include
    ${PROJECT_BINARY_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(test_redteam_desc_tsan PRIVATE DT_STATIC_DEFINE
    DTT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" DTT_BINARY_DIR="${CMAKE_CURRENT_BINARY_DIR}")
  target_compile_options(test_redteam_desc_tsan PRIVATE -fsanitize=thread -O1)
  # a second build of the library's sources: kept out of compile_commands.json,
  # which clang-tidy (make lint) reads for the library's own flags
  set_target_properties(test_redteam_desc_tsan PROPERTIES EXPORT_COMPILE_COMMANDS OFF)
  target_link_options(test_redteam_desc_tsan PRIVATE -fsanitize=thread)
  if(DTWIN_WITH_MQTT)
    target_link_libraries(test_redteam_desc_tsan PRIVATE PkgConfig::MOSQUITTO)
    target_compile_definitions(test_redteam_desc_tsan PRIVATE DTWIN_WITH_MQTT)
  endif()
  target_link_libraries(test_redteam_desc_tsan PRIVATE PkgConfig::CMOCKA PkgConfig::CJSON PkgConfig::SODIUM
    Threads::Threads m)
  add_test(NAME tsan.redteam_desc COMMAND test_redteam_desc_tsan
    test_threads_load_while_host_uses_cjson)
  set_tests_properties(tsan.redteam_desc PROPERTIES ENVIRONMENT
    "TSAN_OPTIONS=halt_on_error=1")
endif()
