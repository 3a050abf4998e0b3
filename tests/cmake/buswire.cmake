# The MQTT bus payload codec (dtwin/buswire.h): the examples byte by byte and
# every refusal (test_buswire), the value checks (test_buswire_values).
dtwin_unit_test(test_buswire)
dtwin_unit_test(test_buswire_values)
