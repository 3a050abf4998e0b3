# Keys (include/dtwin/keys.h): the file store's refusals, generation, MACs and
# signatures against forgeries, a host key-store backend.
dtwin_unit_test(test_keys)
