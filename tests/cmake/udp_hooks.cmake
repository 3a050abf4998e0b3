# The UDP source driven through its loop hooks only (dt_io_watches, poll(2),
# dt_io_ready), as a host's own event loop would, with no step in between.
dtwin_unit_test(test_udp_hooks)
