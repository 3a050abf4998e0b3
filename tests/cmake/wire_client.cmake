# tools/wire_client.py, a UDP client written from docs/wire.md alone, against
# a live twin (tests/wire/run_client_test.py says what each case asserts).
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(STATUS "python3 not found: the wire.* client tests are not registered")
  return()
endif()

add_test(NAME wire.client_selftest
  COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "^selftest ok$"
          -- ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/wire_client.py selftest)
add_test(NAME wire.client_help
  COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "usage: wire_client.py" "--wait-for-command"
          -- ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/wire_client.py run --help)
# The live tests run the twin with --realtime: only with the libuv driver.
if(DTWIN_WITH_UV)
  # Unix-time stamps, the estimated clock the page recommends, a sender restart.
  add_test(NAME wire.python_client
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/wire/run_client_test.py
            $<TARGET_FILE:dtwin_cli> ${PROJECT_SOURCE_DIR}/tools/wire_client.py
            ${PROJECT_SOURCE_DIR}/tests/data/wire/udp_loop.json
            ${CMAKE_CURRENT_BINARY_DIR}/wire-client-work estimate)
  # The same stamps on the default fixed clock: every sample rejected.
  add_test(NAME wire.python_client_fixed_clock
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/wire/run_client_test.py
            $<TARGET_FILE:dtwin_cli> ${PROJECT_SOURCE_DIR}/tools/wire_client.py
            ${PROJECT_SOURCE_DIR}/tests/data/wire/udp_loop.json
            ${CMAKE_CURRENT_BINARY_DIR}/wire-client-fixed-work fixed)
  set_tests_properties(wire.python_client wire.python_client_fixed_clock PROPERTIES TIMEOUT 600)
endif()
# The description of the live tests is valid as it stands (ports are placeholders).
add_test(NAME wire.description_check
  COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "^ok$"
          -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/tests/data/wire/udp_loop.json)
