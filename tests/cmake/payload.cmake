# MQTT device payloads (src/desc/payload*.c): paths, number payloads and the
# time encodings (test_payload), JSON documents through cJSON (test_payload_json),
# templates and rendering (test_payload_tpl). Number text itself is
# test_numtext (locale.cmake).
dtwin_unit_test(test_payload)
dtwin_unit_test(test_payload_json)
dtwin_unit_test(test_payload_tpl)
# in the decimal-comma locale that locale.cmake makes (skipped without it)
set_tests_properties(test_payload_json.json_comma_locale PROPERTIES
  FIXTURES_REQUIRED comma_locale ENVIRONMENT "LOCPATH=${CMAKE_CURRENT_BINARY_DIR}/locales")
