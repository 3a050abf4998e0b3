# Red-team cases of the event stream, the dispatcher's verify hook and
# command origins (tests/unit/test_redteam_events.c).
dtwin_unit_test(test_redteam_events)
