# The filter interface: an out-of-tree filter kind plugged into a twin, and a
# controller over the whole belief (tests/unit/test_filter.c).
dtwin_unit_test(test_filter)

# dtwin check has only the built-in kinds: another filter kind's section is
# refused by its kind, naming the path and the value.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/filter_alpha_beta.json
  "{\"dtwin\":1,\"name\":\"ab\",\"assets\":[{\"id\":\"cart\"}],\"signals\":["
  "{\"id\":\"z\",\"asset\":\"cart\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
  "\"period\":0.01,\"noise\":{\"std\":0.1}},"
  "{\"id\":\"x\",\"asset\":\"cart\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}],"
  "\"estimator\":{\"kind\":\"alpha_beta\",\"signal\":\"x\"}}\n")
add_test(NAME cli.check_other_filter_kind
  COMMAND ${PROJECT_SOURCE_DIR}/tests/expect.sh 1
          "estimator\\.kind: \"alpha_beta\" is not the built-in Kalman filter \"kf\""
          -- $<TARGET_FILE:dtwin_cli> check -q ${CMAKE_CURRENT_BINARY_DIR}/filter_alpha_beta.json)
