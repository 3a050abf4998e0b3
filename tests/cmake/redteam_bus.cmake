# Red-team findings on the MQTT bus (forged epochs and sequence numbers, a
# publisher back with an older epoch, allocation on the publishing path),
# against a real mosquitto started by the tests (tests/unit/broker_fixture.h).
if(DTWIN_WITH_MQTT)
  find_program(DTT_MOSQUITTO_BIN mosquitto PATHS /usr/sbin /sbin)
  if(DTT_MOSQUITTO_BIN)
    dtwin_unit_test(test_redteam_bus)
    target_link_libraries(test_redteam_bus PRIVATE PkgConfig::MOSQUITTO)
    get_filename_component(dtt_mosq_dir ${DTT_MOSQUITTO_BIN} DIRECTORY)
    get_property(dtt_rt_bus_tests DIRECTORY PROPERTY TESTS)
    foreach(t ${dtt_rt_bus_tests})
      if(t MATCHES "^test_redteam_bus\\.")
        set_tests_properties(${t} PROPERTIES
          ENVIRONMENT "PATH=${dtt_mosq_dir}:$ENV{PATH}" TIMEOUT 120)
      endif()
    endforeach()
  endif()
endif()
