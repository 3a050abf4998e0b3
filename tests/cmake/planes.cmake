# The planes of a twin (include/dtwin/plane.h): partition rules, the run-time
# setpoint and parameter write, replay, no allocation with planes in use.
dtwin_unit_test(test_planes)

# The plane matrix, generated from the public headers at build time
# (tests/gen_plane_matrix.py): every entry point taking a plane handle
# through every plane, every raw twin function against docs/security.md's
# table. A function without a @plane tag or a table row makes the test fail
# naming it (not the build). plane_matrix.headers reads the headers at test
# time, so a header added since configuring is checked too; the generator's
# self-test plants an untagged function and a missing row.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  file(GLOB dtwin_plane_headers ${PROJECT_SOURCE_DIR}/include/dtwin/*.h)
  set(plane_gen ${PROJECT_SOURCE_DIR}/tests/gen_plane_matrix.py)
  set(plane_args --include ${PROJECT_SOURCE_DIR}/include/dtwin
                 --security ${PROJECT_SOURCE_DIR}/docs/security.md)
  add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/plane_matrix.c
    COMMAND ${Python3_EXECUTABLE} ${plane_gen} ${plane_args}
            --out ${CMAKE_CURRENT_BINARY_DIR}/plane_matrix.c
    DEPENDS ${plane_gen} ${dtwin_plane_headers} ${PROJECT_SOURCE_DIR}/docs/security.md
    COMMENT "Generating the plane matrix from the public headers")
  add_executable(test_plane_matrix ${CMAKE_CURRENT_BINARY_DIR}/plane_matrix.c)
  target_link_libraries(test_plane_matrix PRIVATE dtwin_static dtwin_warnings m)
  target_compile_definitions(test_plane_matrix PRIVATE DTT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME plane_matrix.calls COMMAND test_plane_matrix)
  add_test(NAME plane_matrix.headers COMMAND ${Python3_EXECUTABLE} ${plane_gen} ${plane_args} --check)
  add_test(NAME plane_matrix.gen_selftest COMMAND ${Python3_EXECUTABLE} ${plane_gen} --self-test)
else()
  message(WARNING "python3 not found: the plane_matrix tests are not registered")
endif()
