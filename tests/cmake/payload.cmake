# MQTT device payloads (src/desc/payload*.c): paths, number text, the time
# encodings, the JSON scanner (against cJSON too), templates and rendering.
dtwin_unit_test(test_payload)
# The decimal-comma locale that test_payload.number_locale runs in, made by
# localedef into the build directory (the test skips itself where localedef
# or the locale's source is missing).
find_program(DTWIN_LOCALEDEF localedef)
if(DTWIN_LOCALEDEF)
  set(payload_locales ${CMAKE_CURRENT_BINARY_DIR}/payload-locales)
  add_test(NAME test_payload.locale_setup
    COMMAND sh -c "mkdir -p '${payload_locales}' && '${DTWIN_LOCALEDEF}' -i de_DE -f UTF-8 '${payload_locales}/de_DE.UTF-8' >/dev/null 2>&1; exit 0")
  set_tests_properties(test_payload.locale_setup PROPERTIES FIXTURES_SETUP payload_locale)
  set_tests_properties(test_payload.number_locale PROPERTIES
    FIXTURES_REQUIRED payload_locale ENVIRONMENT "LOCPATH=${payload_locales}")
endif()
