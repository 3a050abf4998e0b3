# Red-team cases of the filter interface: a host filter kind whose slots lie
# (data times, beliefs, input indices, counts, budgets), the description's
# "kind" in odd shapes, the controller accessors with wrong sizes, and the
# steady state with a host filter and belief observers
# (tests/unit/test_redteam_filter.c).
dtwin_unit_test(test_redteam_filter)
