# The mqtt source and sink kinds (src/bus/mqtt_source.c, mqtt_sink.c): whole
# twins against a real mosquitto started by the tests
# (tests/unit/broker_fixture.h), `dtwin run --realtime` against one started
# by tests/mqtt_cli.py with the device played by mosquitto_pub and
# mosquitto_sub, and `dtwin check` on descriptions with the two kinds.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
if(DTWIN_WITH_MQTT)
  find_program(DTT_MOSQUITTO_BIN mosquitto PATHS /usr/sbin /sbin)
  if(DTT_MOSQUITTO_BIN)
    dtwin_unit_test(test_mqtt_adapters)
    target_link_libraries(test_mqtt_adapters PRIVATE PkgConfig::MOSQUITTO)
    get_filename_component(dtt_mosq_dir ${DTT_MOSQUITTO_BIN} DIRECTORY)
    get_property(dtt_mqtt_tests DIRECTORY PROPERTY TESTS)
    foreach(t ${dtt_mqtt_tests})
      if(t MATCHES "^test_mqtt_adapters\\.")
        set_tests_properties(${t} PROPERTIES
          ENVIRONMENT "PATH=${dtt_mosq_dir}:$ENV{PATH}" TIMEOUT 120)
      endif()
    endforeach()
    find_program(DTT_MOSQUITTO_PUB mosquitto_pub)
    find_program(DTT_MOSQUITTO_SUB mosquitto_sub)
    if(DTWIN_WITH_UV AND DTT_MOSQUITTO_PUB AND DTT_MOSQUITTO_SUB)
      add_test(NAME cli.run_mqtt_realtime
        COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/tests/mqtt_cli.py
                $<TARGET_FILE:dtwin_cli> ${PROJECT_SOURCE_DIR}/tests/data/good/mqtt_room.json
                ${CMAKE_CURRENT_BINARY_DIR}/mqtt-cli-work)
      set_tests_properties(cli.run_mqtt_realtime PROPERTIES
        ENVIRONMENT "PATH=${dtt_mosq_dir}:$ENV{PATH}" TIMEOUT 120)
    elseif(DTWIN_WITH_UV)
      message(WARNING "mosquitto_pub or mosquitto_sub not found: cli.run_mqtt_realtime is not "
                      "registered (scripts/install-deps.sh installs mosquitto-clients)")
    endif()
  else()
    message(WARNING "mosquitto not found: the mqtt adapter tests are not registered "
                    "(scripts/install-deps.sh installs it)")
  endif()
  # dtwin check: the kinds' validate slots (no broker needed: a checked twin
  # never connects)
  add_test(NAME cli.check_mqtt_ok
    COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 0 "heater\\.power_cmd +commanded"
            -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/tests/data/good/mqtt_room.json)
  foreach(pair
      "check_mqtt_no_bus|sources\\[0\\]: an mqtt source needs the description's \"bus\" section"
      "check_mqtt_bad_path|sources\\[1\\]: topics\\[\"site/room1/hygro\"\\]\\.value: path \"data\\.\\.rh\": at character 6"
      "check_mqtt_wildcard|sinks\\[0\\]: mapping\\[0\\]\\.native: topic \"site/\\+/heater/set\": the wildcard '\\+' is not allowed")
    string(REPLACE "|" ";" parts "${pair}")
    list(GET parts 0 name)
    list(GET parts 1 want)
    add_test(NAME cli.${name}
      COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 1 "${want}"
              -- $<TARGET_FILE:dtwin_cli> check ${PROJECT_SOURCE_DIR}/tests/data/bad/${name}.json)
  endforeach()
endif()
