# One twin in two places (examples/society/distributed): the edge half and the
# cloud half are valid descriptions as they stand (dtwin check never connects).
if(DTWIN_WITH_MQTT)
  add_test(NAME society.distributed.check
    COMMAND sh -c "\"$1\" check --quiet \"$2/edge.json\" && \"$1\" check --quiet \"$2/cloud.json\" && echo ok"
            sh $<TARGET_FILE:dtwin_cli> ${PROJECT_SOURCE_DIR}/examples/society/distributed)
  set_tests_properties(society.distributed.check PROPERTIES PASS_REGULAR_EXPRESSION "^ok\n$")
endif()
# The two halves as two processes, the edge's broker bridged to the cloud's
# (the shipped examples/bridge/edge.conf) through tests/tools/linkproxy.py:
# latency, throttling, a cut and a stall of the link between them
# (tests/bus/run_distributed.py); certificates made with openssl, the
# brokers watched with mosquitto_sub.
if(DTWIN_WITH_MQTT AND DTWIN_WITH_UV)
  find_program(DTT_MOSQUITTO_BIN mosquitto PATHS /usr/sbin /sbin)
  find_package(Python3 COMPONENTS Interpreter)
  find_program(DTT_MOSQUITTO_SUB_BIN mosquitto_sub)
  find_program(DTT_OPENSSL_BIN openssl)
  if(DTT_MOSQUITTO_BIN AND Python3_Interpreter_FOUND AND DTT_MOSQUITTO_SUB_BIN
     AND DTT_OPENSSL_BIN)
    add_test(NAME society.distributed
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/bus/run_distributed.py
              $<TARGET_FILE:dtwin_cli> ${DTT_MOSQUITTO_BIN} ${DTT_MOSQUITTO_SUB_BIN}
              ${DTT_OPENSSL_BIN} ${PROJECT_SOURCE_DIR}
              ${CMAKE_CURRENT_BINARY_DIR}/society-distributed)
    set_tests_properties(society.distributed PROPERTIES TIMEOUT 300 LABELS "broker")
  else()
    message(WARNING "mosquitto, python3, mosquitto_sub or openssl not found: "
                    "society.distributed is not registered (scripts/install-deps.sh installs them)")
  endif()
endif()
