# Red team of signed commands, least privilege and the planes: reproducers of
# the defects found (a seq_gaps wrap at 2^64 - 1, a revoked estimator's token
# taken without "beliefs", one record carried out by two twins of one name,
# an io pointer kept across partitioning, a queue-full record in no counter).
dtwin_unit_test(test_redteam_cmdauth)

# A verifier client written from docs/security.md alone in Python (standard
# library: BLAKE2b, and RFC 8032's reference Ed25519 verification) rebuilds
# the records dt_cmd_sign made byte for byte and verifies them.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_executable(redteam_cmdauth_encode redteam_cmdauth/encode.c)
  target_link_libraries(redteam_cmdauth_encode PRIVATE dtwin_static dtwin_warnings)
  add_test(NAME test_redteam_cmdauth.client
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/redteam_cmdauth/client.py
            $<TARGET_FILE:redteam_cmdauth_encode>)
endif()
