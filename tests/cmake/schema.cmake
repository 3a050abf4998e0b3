# The description's JSON Schema (docs/schema/dtwin.schema.json), checked by
# tests/schema/validate.py with python3-jsonschema (draft 2020-12, formats on):
#   schema.shipped  the schema is valid, every shipped description passes it
#   schema.broken   each broken description fails with its expected error and
#                   nothing else, and the loader refuses it too
#   schema.keys     the schema's keys and kinds are the loader's key tables
#   schema.units    the unit patterns accept what dt_unit_parse() accepts
find_package(Python3 COMPONENTS Interpreter REQUIRED)
set(DTWIN_SCHEMA_TEST ${PROJECT_SOURCE_DIR}/tests/schema/validate.py)

add_executable(schema_units_dump ${PROJECT_SOURCE_DIR}/tests/schema/units_dump.c)
target_link_libraries(schema_units_dump PRIVATE dtwin_static dtwin_warnings)

add_test(NAME schema.shipped
  COMMAND Python3::Interpreter ${DTWIN_SCHEMA_TEST} shipped ${PROJECT_SOURCE_DIR})
add_test(NAME schema.broken
  COMMAND Python3::Interpreter ${DTWIN_SCHEMA_TEST} broken ${PROJECT_SOURCE_DIR}
          --dtwin $<TARGET_FILE:dtwin_cli> --workdir ${CMAKE_CURRENT_BINARY_DIR}/schema)
add_test(NAME schema.keys
  COMMAND Python3::Interpreter ${DTWIN_SCHEMA_TEST} keys ${PROJECT_SOURCE_DIR})
add_test(NAME schema.units
  COMMAND Python3::Interpreter ${DTWIN_SCHEMA_TEST} units ${PROJECT_SOURCE_DIR}
          $<TARGET_FILE:schema_units_dump>)
