# The filter interface: an out-of-tree filter kind plugged into a twin, and a
# controller over the whole belief (tests/unit/test_filter.c).
dtwin_unit_test(test_filter)
