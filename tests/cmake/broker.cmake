# A real mosquitto broker started by the tests (tests/unit/broker_fixture.h)
# and libmosquitto driven from the host's own loop, as the MQTT binding will
# drive it: plain (test_broker), over TLS with client certificates made by
# the openssl command (test_broker_tls), and an edge broker bridged to a
# central one with the shipped examples/bridge/edge.conf (test_bridge).
# All from Debian (scripts/install-deps.sh: mosquitto, libmosquitto-dev,
# openssl).
pkg_check_modules(MOSQUITTO IMPORTED_TARGET libmosquitto)
find_program(DTT_MOSQUITTO mosquitto PATHS /usr/sbin /sbin)
find_program(DTT_OPENSSL openssl)
if(MOSQUITTO_FOUND AND DTT_MOSQUITTO)
  set(dtt_broker_execs test_broker)
  if(DTT_OPENSSL)
    list(APPEND dtt_broker_execs test_broker_tls test_bridge)
  else()
    message(WARNING "openssl not found: the TLS and bridge broker tests are not registered "
                    "(scripts/install-deps.sh installs it)")
  endif()
  foreach(exe ${dtt_broker_execs})
    dtwin_unit_test(${exe})
    target_link_libraries(${exe} PRIVATE PkgConfig::MOSQUITTO)
  endforeach()
  # the broker binary is in /usr/sbin, which a non-root PATH may lack; the
  # bridge tests wait for a reconnection whose delay mosquitto draws between
  # 2 s and 30 s: a generous bound, never a measurement
  get_filename_component(dtt_mosquitto_dir ${DTT_MOSQUITTO} DIRECTORY)
  get_property(dtt_broker_tests DIRECTORY PROPERTY TESTS)
  foreach(t ${dtt_broker_tests})
    if(t MATCHES "^test_(broker|broker_tls|bridge)\\.")
      set(dtt_timeout 120)
      if(t MATCHES "^test_bridge\\.")
        set(dtt_timeout 300)
      endif()
      set_tests_properties(${t} PROPERTIES
        ENVIRONMENT "PATH=${dtt_mosquitto_dir}:$ENV{PATH}" TIMEOUT ${dtt_timeout})
    endif()
  endforeach()
else()
  message(WARNING "mosquitto or libmosquitto-dev not found: the broker tests are not registered "
                  "(scripts/install-deps.sh installs them)")
endif()
