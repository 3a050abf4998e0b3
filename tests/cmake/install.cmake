# The manual page and the README's first program (the install itself is
# install.consumer in tests/CMakeLists.txt).

# dtwin(1), generated at build time from docs/cli.md: a well-formed page that
# renders without a warning and names every option docs/cli.md names.
if(TARGET dtwin_man)
  add_test(NAME install.man_page
    COMMAND ${PROJECT_SOURCE_DIR}/tests/consumer/man_check.sh ${DTWIN_MAN}
            ${PROJECT_SOURCE_DIR}/docs/cli.md "EXIT STATUS" "dtwin check" "dtwin ${PROJECT_VERSION}")
endif()

# The generator on every Markdown construct it claims (nested and numbered
# lists, fences, tables with escaped bars, emphasis around code, comments).
if(DTWIN_PYTHON3)
  add_test(NAME install.man_markdown
    COMMAND ${PROJECT_SOURCE_DIR}/tests/consumer/md2man_sample.sh ${DTWIN_PYTHON3}
            ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/md2man)
endif()

# The README prints examples/quickstart/quickstart.c, line for line.
add_test(NAME install.readme_program
  COMMAND ${PROJECT_SOURCE_DIR}/tests/consumer/readme_program.sh ${PROJECT_SOURCE_DIR})
