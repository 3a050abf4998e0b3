# cJSON's process-wide hooks: a host using cJSON with its own hooks next to a
# twin loaded and run (dt_json_set_hooks, or the host's own cJSON_InitHooks).
dtwin_unit_test(test_json_hooks)
