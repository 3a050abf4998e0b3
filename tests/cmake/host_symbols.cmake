# The adapter host, the registry and the libuv driver name no built-in kind.
add_test(NAME symbols.host_names_no_adapter
  COMMAND ${PROJECT_SOURCE_DIR}/tests/check_host_symbols.sh $<TARGET_OBJECTS:dtwin_objects>)
