# The bus layer on another engine than MQTT (an in-process one written in the
# test against dtwin/bus.h): built and run with or without the MQTT engine.
dtwin_unit_test(test_bus_engine)

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
    # signed commands between twins, a forger on the broker
    dtwin_unit_test(test_bus_signed)
    target_link_libraries(test_bus_signed PRIVATE PkgConfig::MOSQUITTO)
    # the eight IEC 61784-3 communication errors on signed commands over the
    # broker, 1000 injections each
    dtwin_unit_test(test_faults_bus)
    target_link_libraries(test_faults_bus PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_redteam_cmd)
    target_link_libraries(test_redteam_cmd PRIVATE PkgConfig::MOSQUITTO)
    # the twin sink: commands to another twin, acks read back
    dtwin_unit_test(test_twin_sink)
    target_link_libraries(test_twin_sink PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_bus_streams)
    target_link_libraries(test_bus_streams PRIVATE PkgConfig::MOSQUITTO)
    # red team of the sample streams and of the clean close (an in-process
    # engine, and a real broker frozen, killed or never answering)
    dtwin_unit_test(test_redteam_bus3)
    target_link_libraries(test_redteam_bus3 PRIVATE PkgConfig::MOSQUITTO)
    # one broker identity per plane, the broker running the shipped
    # examples/bus/acl (its certificates made by the shipped script, which
    # needs openssl)
    find_program(DTT_OPENSSL_BIN openssl)
    if(DTT_OPENSSL_BIN)
      dtwin_unit_test(test_bus_acl)
      target_link_libraries(test_bus_acl PRIVATE PkgConfig::MOSQUITTO)
    else()
      message(WARNING "openssl not found: test_bus_acl is not registered "
                      "(scripts/install-deps.sh installs it)")
    endif()
    get_filename_component(dtt_mosq_dir ${DTT_MOSQUITTO_BIN} DIRECTORY)
    get_property(dtt_bus_tests DIRECTORY PROPERTY TESTS)
    foreach(t ${dtt_bus_tests})
      if(t MATCHES "^(test_bus_(mqtt|twins|commands|streams|acl)|test_redteam_cmd|test_redteam_bus3|test_twin_sink)\\.")
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
# The worked example's descriptions (on the mqtt engine) are valid as they
# stand (dtwin check never connects).
if(DTWIN_WITH_MQTT)
  add_test(NAME bus.examples_check
    COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "^ok$"
            "contract \\(version [0-9]+\\) of plant/tank1"
            "belief group level +tank.level_est \\[m\\], tank.inflow_est \\[m3/h\\]; fused by covariance intersection"
            -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/examples/bus/tank.json)
  add_test(NAME bus.examples_check_site
    COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "^ok$"
            -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/examples/bus/site.json)
endif()
# Two twins through two bridged brokers (the publisher on an edge running the
# shipped examples/bridge/edge.conf, the reader on a central broker), the
# bridge's uplink cut and then stalled by a proxy in the script
# (tests/bus/run_bridged_twins.py); certificates made with openssl, the
# bridge's state watched with mosquitto_sub.
if(DTWIN_WITH_MQTT AND DTWIN_WITH_UV AND DTT_MOSQUITTO_BIN)
  find_package(Python3 COMPONENTS Interpreter)
  find_program(DTT_MOSQUITTO_SUB_BIN mosquitto_sub)
  find_program(DTT_OPENSSL_BIN openssl)
  if(Python3_Interpreter_FOUND AND DTT_MOSQUITTO_SUB_BIN AND DTT_OPENSSL_BIN)
    add_test(NAME bus.bridged_twins
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/bus/run_bridged_twins.py
              $<TARGET_FILE:dtwin_cli> ${DTT_MOSQUITTO_BIN} ${DTT_MOSQUITTO_SUB_BIN}
              ${DTT_OPENSSL_BIN} ${PROJECT_SOURCE_DIR}
              ${CMAKE_CURRENT_BINARY_DIR}/bus-bridged-twins)
    set_tests_properties(bus.bridged_twins PROPERTIES TIMEOUT 300)
  else()
    message(WARNING "python3, mosquitto_sub or openssl not found: bus.bridged_twins is not "
                    "registered (scripts/install-deps.sh installs them)")
  endif()
endif()
# Red team of the commands between twins, second pass: an in-process engine
# written in the test drives the receiver, the twin sink and the flight log's
# remote records message by message (no broker).
dtwin_unit_test(test_redteam_bus2)
