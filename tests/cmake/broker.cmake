# A real mosquitto broker started by the tests (tests/unit/broker_fixture.h)
# and libmosquitto driven from the host's own loop, as the MQTT binding will
# drive it. Both come from Debian (scripts/install-deps.sh: mosquitto,
# libmosquitto-dev).
pkg_check_modules(MOSQUITTO IMPORTED_TARGET libmosquitto)
find_program(DTT_MOSQUITTO mosquitto PATHS /usr/sbin /sbin)
if(MOSQUITTO_FOUND AND DTT_MOSQUITTO)
  dtwin_unit_test(test_broker)
  target_link_libraries(test_broker PRIVATE PkgConfig::MOSQUITTO)
  # the broker binary is in /usr/sbin, which a non-root PATH may lack
  get_filename_component(dtt_mosquitto_dir ${DTT_MOSQUITTO} DIRECTORY)
  get_property(dtt_broker_tests DIRECTORY PROPERTY TESTS)
  foreach(t ${dtt_broker_tests})
    if(t MATCHES "^test_broker\\.")
      set_tests_properties(${t} PROPERTIES
        ENVIRONMENT "PATH=${dtt_mosquitto_dir}:$ENV{PATH}" TIMEOUT 120)
    endif()
  endforeach()
else()
  message(WARNING "mosquitto or libmosquitto-dev not found: the broker tests are not registered "
                  "(scripts/install-deps.sh installs them)")
endif()
