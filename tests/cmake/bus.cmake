# The twin's MQTT connection (the description's "bus" section) against a real
# mosquitto started by the tests (tests/unit/broker_fixture.h).
if(DTWIN_WITH_MQTT)
  find_program(DTT_MOSQUITTO_BIN mosquitto PATHS /usr/sbin /sbin)
  if(DTT_MOSQUITTO_BIN)
    dtwin_unit_test(test_bus_mqtt)
    target_link_libraries(test_bus_mqtt PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_bus_twins)
    target_link_libraries(test_bus_twins PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_bus_commands)
    target_link_libraries(test_bus_commands PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_redteam_cmd)
    target_link_libraries(test_redteam_cmd PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_bus_streams)
    target_link_libraries(test_bus_streams PRIVATE PkgConfig::MOSQUITTO)
    get_filename_component(dtt_mosq_dir ${DTT_MOSQUITTO_BIN} DIRECTORY)
    get_property(dtt_bus_tests DIRECTORY PROPERTY TESTS)
    foreach(t ${dtt_bus_tests})
      if(t MATCHES "^(test_bus_(mqtt|twins|commands|streams)|test_redteam_cmd)\\.")
        set_tests_properties(${t} PROPERTIES
          ENVIRONMENT "PATH=${dtt_mosq_dir}:$ENV{PATH}" TIMEOUT 120)
      endif()
    endforeach()
    # Two twins in two processes (examples/bus), the broker killed and
    # restarted, the publisher killed and frozen (tests/bus/run_two_twins.py).
    find_package(Python3 COMPONENTS Interpreter)
    if(Python3_Interpreter_FOUND AND DTWIN_WITH_UV)
      add_test(NAME bus.two_twins
        COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/bus/run_two_twins.py
                $<TARGET_FILE:dtwin_cli> ${DTT_MOSQUITTO_BIN} ${PROJECT_SOURCE_DIR}/examples
                ${CMAKE_CURRENT_BINARY_DIR}/bus-two-twins)
      set_tests_properties(bus.two_twins PROPERTIES TIMEOUT 600)
    endif()
  else()
    message(WARNING "mosquitto not found: the bus tests are not registered "
                    "(scripts/install-deps.sh installs it)")
  endif()
endif()
# The worked example's descriptions are valid as they stand (dtwin check
# never connects).
add_test(NAME bus.examples_check
  COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "^ok$"
          -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/examples/bus/tank.json)
add_test(NAME bus.examples_check_site
  COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "^ok$"
          -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/examples/bus/site.json)
