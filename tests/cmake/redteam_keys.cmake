# Red team of the key store and authenticated UDP frames: refusals of odd key
# files, names and directories, host backends that misbehave, the count of
# every datagram at a keyed source, "auth": "none" addresses.
dtwin_unit_test(test_redteam_keys)
# The reproducer of a replay across a restart of the twin (a recording of the
# keyed sender's earlier session): refused from its first frame (`replayed`).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND AND DTWIN_WITH_UV AND DTWIN_BUILD_TOOLS)
  add_test(NAME redteam_keys.replay_restart
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/redteam_keys/replay_restart.py
            $<TARGET_FILE:dtwin_cli>)
  set_tests_properties(redteam_keys.replay_restart PROPERTIES TIMEOUT 300)
endif()
