# The adapter host, the registry and the libuv driver name no built-in kind.
# (The driver is its own library, dtwin_uv, when built.)
set(dtwin_host_objects $<TARGET_OBJECTS:dtwin_objects>)
if(TARGET dtwin_uv_objects)
  list(APPEND dtwin_host_objects $<TARGET_OBJECTS:dtwin_uv_objects>)
endif()
add_test(NAME symbols.host_names_no_adapter
  COMMAND ${PROJECT_SOURCE_DIR}/tests/check_host_symbols.sh ${dtwin_host_objects})
