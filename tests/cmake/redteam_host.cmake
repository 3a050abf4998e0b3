# Red-team cases of the adapter host, the registry's per-kind contexts and
# table versions, the loop hooks, the libuv driver's handles and the
# out-of-tree example kind's accounting (tests/unit/test_redteam_host.c).
# They drive the libuv driver too: built with it.
if(DTWIN_WITH_UV)
  dtwin_unit_test(test_redteam_host)
  target_link_libraries(test_redteam_host PRIVATE dtwin_uv_static)
  # The example kind under attack is compiled in as a host program would.
  target_sources(test_redteam_host PRIVATE ${PROJECT_SOURCE_DIR}/examples/loop_adapter/unix_lines.c)
  target_include_directories(test_redteam_host PRIVATE ${PROJECT_SOURCE_DIR}/examples/loop_adapter)
endif()
