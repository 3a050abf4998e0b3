# Red-team cases of the description module: the parse-once lifetime, keys,
# exact numbers on save, the dt_config views, cJSON's hooks with threads
# (tests/unit/test_redteam_desc.c).
dtwin_unit_test(test_redteam_desc)
target_link_libraries(test_redteam_desc PRIVATE Threads::Threads)
