# The twin's MQTT connection (the description's "bus" section) against a real
# mosquitto started by the tests (tests/unit/broker_fixture.h).
if(DTWIN_WITH_MQTT)
  find_program(DTT_MOSQUITTO_BIN mosquitto PATHS /usr/sbin /sbin)
  if(DTT_MOSQUITTO_BIN)
    dtwin_unit_test(test_bus_mqtt)
    target_link_libraries(test_bus_mqtt PRIVATE PkgConfig::MOSQUITTO)
    dtwin_unit_test(test_bus_twins)
    target_link_libraries(test_bus_twins PRIVATE PkgConfig::MOSQUITTO)
    get_filename_component(dtt_mosq_dir ${DTT_MOSQUITTO_BIN} DIRECTORY)
    get_property(dtt_bus_tests DIRECTORY PROPERTY TESTS)
    foreach(t ${dtt_bus_tests})
      if(t MATCHES "^test_bus_(mqtt|twins)\\.")
        set_tests_properties(${t} PROPERTIES
          ENVIRONMENT "PATH=${dtt_mosq_dir}:$ENV{PATH}" TIMEOUT 120)
      endif()
    endforeach()
  else()
    message(WARNING "mosquitto not found: the bus tests are not registered "
                    "(scripts/install-deps.sh installs it)")
  endif()
endif()
