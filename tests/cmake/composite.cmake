# Composite twins (docs/model.md, "Composite twins"): children loaded, stepped
# and recorded with their parent, their beliefs fused through "child" sources.
#   test_composite.*            the library (examples/society/turbine and inline
#                               composites): the parent follows its children, the
#                               belief it fuses is the child's aged with the child's
#                               model (1e-12), refusals with their JSON paths,
#                               record/replay bit for bit, no allocation after start
#   society.composite           the same cases as one run
#   society.composite.cli.*     dtwin check / run / record and replay on the example,
#                               and check refusing broken children sections
dtwin_unit_test(test_composite)
add_test(NAME society.composite COMMAND test_composite)

set(COMPOSITE_EX ${PROJECT_SOURCE_DIR}/examples/society/turbine)
set(COMPOSITE_EXPECT ${PROJECT_SOURCE_DIR}/tests/expect.sh)
set(COMPOSITE_WORK ${CMAKE_CURRENT_BINARY_DIR}/composite)
file(MAKE_DIRECTORY ${COMPOSITE_WORK})

add_test(NAME society.composite.cli.check
  COMMAND ${COMPOSITE_EXPECT} 0 "^children$" "^  combustor +twin \"combustor\": 2 signals, 1 sources, estimator 1 states$" "^ok$"
    -- $<TARGET_FILE:dtwin_cli> check ${COMPOSITE_EX}/turbine.json)
# Runs until the children's CSV logs end: 20 s at 0.05 s, every child stepped with it.
add_test(NAME society.composite.cli.run
  COMMAND ${COMPOSITE_EXPECT} 0 "^t = 20 s: 400 cycles$"
    "^remote beliefs: 700 offered = 700 fused \\+ 0 kept \\(no weight\\) \\+ 0 refused \\+ 0 superseded"
    "^child compressor: 400 cycles, 400 samples applied, 0 lost or refused"
    "^child combustor: 400 cycles, 100 samples applied, 0 lost or refused"
    "^child shaft: 400 cycles, 400 samples applied, 0 lost or refused"
    -- $<TARGET_FILE:dtwin_cli> run ${COMPOSITE_EX}/turbine.json)
add_test(NAME society.composite.cli.record_replay
  COMMAND ${PROJECT_SOURCE_DIR}/tests/record_replay.sh $<TARGET_FILE:dtwin_cli>
    ${COMPOSITE_EX}/turbine.json ${COMPOSITE_WORK}/replay)

# Broken children sections, written here (the children's files by absolute path).
set(COMPOSITE_HEAD [=[{"dtwin": 1, "name": "p", "assets": [{"id": "a", "name": "A", "kind": "machine"}],
 "signals": [{"id": "tit", "asset": "a", "quantity": "temperature", "unit": "K", "role": "measured", "noise": {"std": 5}},
             {"id": "tit_est", "asset": "a", "quantity": "temperature", "unit": "K", "role": "estimated"}],
 "estimator": {"states": ["tit_est"], "A": [[0]], "Q": [2500], "x0": [1363], "P0": [400],
               "measurements": [{"signal": "tit", "H": {"tit_est": 1}}]},]=])
set(COMPOSITE_SRC [=[ "sources": [{"id": "c", "kind": "child", "child": "combustor",
   "mapping": [{"native": "combustor.tit_est", "signal": "tit", "unit": "degC"}]}]}]=])
set(COMPOSITE_KID "{\"id\": \"combustor\", \"description\": \"${COMPOSITE_EX}/combustor.json\"}")
file(WRITE ${COMPOSITE_WORK}/missing_file.json
  "${COMPOSITE_HEAD} \"children\": [{\"id\": \"combustor\", \"description\": \"nope.json\"}],${COMPOSITE_SRC}")
file(WRITE ${COMPOSITE_WORK}/duplicate.json
  "${COMPOSITE_HEAD} \"children\": [${COMPOSITE_KID}, ${COMPOSITE_KID}],${COMPOSITE_SRC}")
file(WRITE ${COMPOSITE_WORK}/no_child.json "${COMPOSITE_HEAD}${COMPOSITE_SRC}")
string(REPLACE "\"unit\": \"degC\"" "\"unit\": \"K\"" COMPOSITE_SRC_K "${COMPOSITE_SRC}")
file(WRITE ${COMPOSITE_WORK}/unit.json
  "${COMPOSITE_HEAD} \"children\": [${COMPOSITE_KID}],${COMPOSITE_SRC_K}")
file(WRITE ${COMPOSITE_WORK}/good.json
  "${COMPOSITE_HEAD} \"children\": [${COMPOSITE_KID}],${COMPOSITE_SRC}")

add_test(NAME society.composite.cli.check_good
  COMMAND ${COMPOSITE_EXPECT} 0 "^ok$" -- $<TARGET_FILE:dtwin_cli> check ${COMPOSITE_WORK}/good.json)
add_test(NAME society.composite.cli.check_missing_file
  COMMAND ${COMPOSITE_EXPECT} 3
    "children\\[0\\]\\.description: cannot read \"nope\\.json\": No such file or directory"
    -- $<TARGET_FILE:dtwin_cli> check ${COMPOSITE_WORK}/missing_file.json)
add_test(NAME society.composite.cli.check_duplicate
  COMMAND ${COMPOSITE_EXPECT} 1 "children\\[1\\]\\.id: duplicate child id \"combustor\" \\(children\\[0\\] has it\\)"
    -- $<TARGET_FILE:dtwin_cli> check ${COMPOSITE_WORK}/duplicate.json)
add_test(NAME society.composite.cli.check_no_child
  COMMAND ${COMPOSITE_EXPECT} 1 "sources\\[0\\]\\.child: no child \"combustor\" \\(the description has no \"children\"\\)"
    -- $<TARGET_FILE:dtwin_cli> check ${COMPOSITE_WORK}/no_child.json)
add_test(NAME society.composite.cli.check_unit
  COMMAND ${COMPOSITE_EXPECT} 1
    "sources\\[0\\]\\.mapping\\[0\\]\\.unit: child \"combustor\" gives combustor\\.tit_est in \"degC\", which this mapping to tit \\(\"K\"\\) does not convert from: give \"unit\": \"degC\" in the mapping"
    -- $<TARGET_FILE:dtwin_cli> check ${COMPOSITE_WORK}/unit.json)
