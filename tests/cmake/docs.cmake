# Documentation checks (tests/check_docs.py, python3 standard library): every
# ```json block of README.md and docs/*.md parses as written (```json fragment
# for object members), a whole twin description passes `dtwin check`, and no
# doc or example refers to ../shared, /work/ or tracker numbers.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME docs.check
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/check_docs.py
            --root ${PROJECT_SOURCE_DIR} --dtwin $<TARGET_FILE:dtwin_cli>)
  # The checker itself, on a planted tree: finds each planted problem, and
  # nothing in the good file (a C block, a semantic id, a colour).
  add_test(NAME docs.check_selftest
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/check_docs.py
            --self-test --dtwin $<TARGET_FILE:dtwin_cli>)
else()
  message(WARNING "python3 not found: the docs.check tests are not registered")
endif()
