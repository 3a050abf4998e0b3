# Keys (include/dtwin/keys.h): the file store's refusals, generation, MACs and
# signatures against forgeries, a host key-store backend.
dtwin_unit_test(test_keys)
# Authenticated UDP frames (wire version 3) against forgeries, replays,
# downgrades, a pinned peer; the keyed sink; key bytes never in freed memory.
dtwin_unit_test(test_udp_auth)
# dtwin keygen: a MAC key and a signing key with its public half; never over
# an existing key.
if(DTWIN_BUILD_TOOLS)
  set(keygen_dir ${CMAKE_CURRENT_BINARY_DIR}/keygen-test)
  add_test(NAME keys.cli_keygen
    COMMAND sh -c "rm -rf \"$2\" && mkdir -m 700 \"$2\" && \"$1\" keygen \"$2\" link && \"$1\" keygen --sign \"$2\" planner && test \"$(stat -c %a \"$2/link.key\")\" = 600 && test \"$(wc -c < \"$2/planner.pub\")\" = 65 && { \"$1\" keygen \"$2\" link; test $? = 3; } && echo ok"
            sh $<TARGET_FILE:dtwin_cli> ${keygen_dir})
  set_tests_properties(keys.cli_keygen PROPERTIES
    PASS_REGULAR_EXPRESSION "link.key: MAC key, fingerprint [0-9a-f]+\n.*planner.pub: its public half.*never overwritten.*\nok\n")
endif()
# Replays across restarts of the twin: a keyed source's persisted floor, a
# keyed sink's persisted boot counter, hostile state files.
dtwin_unit_test(test_udp_replay)
