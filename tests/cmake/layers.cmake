# The dependency rules of docs/architecture.md ("Dependency rules"), checked
# on the sources and on the built objects (tests/check_layers.py, python3 and
# nm): one test per rule, layers.rules.<rule>, and the checker's self-test on
# a planted tree. A failure names the file and the offending name.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  set(dtwin_layer_objects $<TARGET_OBJECTS:dtwin_objects>)
  if(TARGET dtwin_uv_objects)
    list(APPEND dtwin_layer_objects $<TARGET_OBJECTS:dtwin_uv_objects>)
  endif()
  foreach(rule twin_uv_no_adapter_kind model_no_section control_no_adapter_host
          platform_no_upper file_size core_no_uv_cjson)
    add_test(NAME layers.rules.${rule}
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/check_layers.py
              ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} --rule ${rule}
              "--objects=${dtwin_layer_objects}")
    set_tests_properties(layers.rules.${rule} PROPERTIES ENVIRONMENT "NM=${CMAKE_NM}")
  endforeach()
  add_test(NAME layers.rules_selftest
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/check_layers.py --self-test)
  set_tests_properties(layers.rules_selftest PROPERTIES ENVIRONMENT "NM=${CMAKE_NM}")
else()
  message(WARNING "python3 not found: the layers.rules tests are not registered")
endif()
