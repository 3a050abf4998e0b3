# The event stream and the flight-log format across the dispatcher's
# refactoring: a log recorded by the build before commands gained origin and
# authority (tests/data/replay_v1, with the estimates and commands that run
# wrote) replays to the same files, byte for byte.
add_test(NAME cli.replay_v1_log
  COMMAND sh -c "\"$0\" replay --estimates \"$2/e.csv\" --commands \"$2/c.csv\" \"$1/flight.log\" \"$1/twin.json\" && cmp \"$2/e.csv\" \"$1/estimates.csv\" && cmp \"$2/c.csv\" \"$1/commands.csv\" && echo replayed identical"
          $<TARGET_FILE:dtwin_cli> ${PROJECT_SOURCE_DIR}/tests/data/replay_v1 ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cli.replay_v1_log PROPERTIES PASS_REGULAR_EXPRESSION "replayed identical")
dtwin_unit_test(test_events)

# The queue's reader on its own thread, once more under ThreadSanitizer with
# the whole library built for it (not combinable with ASan: only in the
# plain build).
if(NOT DTWIN_SANITIZE AND NOT DTWIN_COVERAGE)
  list(TRANSFORM DTWIN_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE dtwin_tsan_sources)
  add_executable(test_events_tsan unit/test_events.c ${dtwin_tsan_sources})
  set_source_files_properties(${PROJECT_SOURCE_DIR}/src/adapters/builtins.c
    TARGET_DIRECTORY test_events_tsan PROPERTIES COMPILE_DEFINITIONS "${DTWIN_BUILTIN_DEFS}")
  target_include_directories(test_events_tsan PRIVATE ${PROJECT_SOURCE_DIR}/include
    ${PROJECT_BINARY_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(test_events_tsan PRIVATE DT_STATIC_DEFINE
    DTT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" DTT_BINARY_DIR="${CMAKE_CURRENT_BINARY_DIR}")
  target_compile_options(test_events_tsan PRIVATE -fsanitize=thread -O1)
  # a second build of the library's sources: kept out of compile_commands.json,
  # which clang-tidy (make lint) reads for the library's own flags
  set_target_properties(test_events_tsan PROPERTIES EXPORT_COMPILE_COMMANDS OFF)
  target_link_options(test_events_tsan PRIVATE -fsanitize=thread)
  if(DTWIN_WITH_MQTT)
    target_link_libraries(test_events_tsan PRIVATE PkgConfig::MOSQUITTO)
    target_compile_definitions(test_events_tsan PRIVATE DTWIN_WITH_MQTT)
  endif()
  target_link_libraries(test_events_tsan PRIVATE PkgConfig::CMOCKA PkgConfig::CJSON PkgConfig::SODIUM
    Threads::Threads m)
  add_test(NAME tsan.events COMMAND test_events_tsan test_queue_reader_thread)
  set_tests_properties(tsan.events PROPERTIES ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1")
endif()
