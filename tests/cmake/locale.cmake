# Text that a machine reads, in a locale with a decimal comma: numbers read
# and written by src/platform/numtext.c (test_numtext), a description saved
# and loaded, a CSV replayed, csvlog's rows, numbers in messages
# (test_locale), and `dtwin run --json` with LC_ALL set. The locale, de_DE.UTF-8, is made by
# localedef into the build directory once (locale.setup) and found through
# LOCPATH; the tests skip themselves where localedef or the locale's source
# is missing. test_payload and test_payload_json use it too (payload.cmake).
dtwin_unit_test(test_numtext)
dtwin_unit_test(test_locale)
# (payload.cmake names the same directory)
set(DTWIN_TEST_LOCPATH ${CMAKE_CURRENT_BINARY_DIR}/locales)
find_program(DTWIN_LOCALEDEF localedef)
if(DTWIN_LOCALEDEF)
  add_test(NAME locale.setup
    COMMAND sh -c "mkdir -p '${DTWIN_TEST_LOCPATH}' && '${DTWIN_LOCALEDEF}' -i de_DE -f UTF-8 '${DTWIN_TEST_LOCPATH}/de_DE.UTF-8' >/dev/null 2>&1; exit 0")
  set_tests_properties(locale.setup PROPERTIES FIXTURES_SETUP comma_locale)
endif()
set_tests_properties(test_numtext.comma_locale PROPERTIES
  FIXTURES_REQUIRED comma_locale ENVIRONMENT "LOCPATH=${DTWIN_TEST_LOCPATH}")
set_tests_properties(test_locale.description_saved test_locale.message_numbers
  test_locale.csv_replayed test_locale.csvlog_rows PROPERTIES
  FIXTURES_REQUIRED comma_locale ENVIRONMENT "LOCPATH=${DTWIN_TEST_LOCPATH}")
# The command-line tool never calls setlocale, so LC_ALL leaves it in the C
# locale: this keeps it so (a setlocale(LC_ALL, "") added for messages would
# break --json and the CSV outputs).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME locale.cli_run_json
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/check_locale_cli.py
            $<TARGET_FILE:dtwin_cli> ${PROJECT_SOURCE_DIR}/examples/tank/twin.json
            ${CMAKE_CURRENT_BINARY_DIR}/locale-cli ${DTWIN_TEST_LOCPATH})
  set_tests_properties(locale.cli_run_json PROPERTIES FIXTURES_REQUIRED comma_locale)
endif()
