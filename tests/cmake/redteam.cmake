# Red-team cases of the adapter tables version 2, dtwin check's validation and
# dtwin run's summary, JSON and logging (descriptions in tests/data/redteam).
# Each case is the smallest reproduction of one attack; the unit cases are in
# tests/unit/test_redteam_cli.c.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
set(RT_EXPECT ${PROJECT_SOURCE_DIR}/tests/expect.sh)
set(RT_DATA ${PROJECT_SOURCE_DIR}/tests/data/redteam)
set(RT_WORK ${CMAKE_CURRENT_BINARY_DIR}/redteam)
file(MAKE_DIRECTORY ${RT_WORK})

dtwin_unit_test(test_redteam_cli)

# The summary adds up, --json parses, text and JSON agree, no sanitizer
# report: under every loss path (ring full both ways, reorder buffer full,
# out of limits, belief lost, commands refused by a sink).
foreach(desc plain ring_full long_id belief_lost sink_refuses)
  add_test(NAME redteam.summary.${desc}
    COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/tests/redteam/check_summary.py
            $<TARGET_FILE:dtwin_cli> ${RT_DATA}/${desc}.json)
endforeach()
# A duration shorter than one period: no step, and the summary still adds up.
add_test(NAME redteam.summary.duration_below_period
  COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/tests/redteam/check_summary.py
          $<TARGET_FILE:dtwin_cli> ${RT_DATA}/plain.json --duration 0.05)
# ... and no step ran, so no data is behind the belief: its age is not 0 s.
add_test(NAME redteam.run_no_step_belief_age
  COMMAND ${RT_EXPECT} 0 "\"cycles\":0,.*\"belief_age_s\":null,"
          -- $<TARGET_FILE:dtwin_cli> run --json --duration 0.05 ${RT_DATA}/plain.json)

# Ring overflows happen on the producer side; they are losses like the others
# and reach stderr (at the 1st, 2nd, 4th... of each source and reason).
add_test(NAME redteam.run_ring_full_logged
  COMMAND ${RT_EXPECT} 0 "^samples: 180 offered = "
          "warn: ingest: source newest: [0-9]+ samples? dropped: ring full \\(newest refused\\)"
          "warn: ingest: source oldest: [0-9]+ samples? dropped: ring full \\(oldest overwritten\\)"
          -- $<TARGET_FILE:dtwin_cli> run ${RT_DATA}/ring_full.json)

# The logger tells kinds of messages apart by their whole text: with a long
# source id the refusals outside the limits are not taken for more of the
# reorder buffer's messages (and so never shown).
add_test(NAME redteam.run_log_long_id
  COMMAND ${RT_EXPECT} 0
          "^dtwin run: warn: ingest: source plant_north_wing_building_7_line_3_level_sensor_cluster_a: 1 sample refused: outside the hard limits$"
          -- $<TARGET_FILE:dtwin_cli> run ${RT_DATA}/long_id.json)

# The sample whose prediction lost the belief is accounted for, not
# "unaccounted".
add_test(NAME redteam.run_belief_lost_accounted
  COMMAND ${RT_EXPECT} 0 "\"unaccounted\":0,.*\"belief_lost\":1,"
          -- $<TARGET_FILE:dtwin_cli> run --json ${RT_DATA}/belief_lost.json)

# dtwin check never hangs: a CSV "file" that is a device without a newline
# is opened without reading (a device's or a pipe's first line belongs to the
# run) ...
add_test(NAME redteam.check_csv_dev_zero
  COMMAND ${RT_EXPECT} 0 "^checked$"
          -- sh -c "timeout 60 $<TARGET_FILE:dtwin_cli> check -q '${RT_DATA}/dev_zero.json' && echo checked")
# ... and dtwin run refuses its header once it is longer than max_line.
add_test(NAME redteam.run_csv_dev_zero
  COMMAND ${RT_EXPECT} 1 "sources\\[0\\]: /dev/zero:1: header row too long"
          -- timeout 60 $<TARGET_FILE:dtwin_cli> run -q ${RT_DATA}/dev_zero.json)
# ... or a named pipe nobody writes to (checking it must neither block nor
# consume the data the run will read).
set(DTWIN_RT_FIFO ${RT_WORK}/fifo.csv)
configure_file(${RT_DATA}/csv_fifo.json.in ${RT_WORK}/csv_fifo.json @ONLY)
add_test(NAME redteam.check_csv_fifo
  COMMAND ${RT_EXPECT} 0 "^checked$"
          -- sh -c "rm -f '${DTWIN_RT_FIFO}' && mkfifo '${DTWIN_RT_FIFO}' && timeout 60 $<TARGET_FILE:dtwin_cli> check -q '${RT_WORK}/csv_fifo.json' && echo checked")
# A CSV "file" that is a directory (held before this change).
add_test(NAME redteam.check_csv_dir
  COMMAND ${RT_EXPECT} 3 "sources\\[0\\]: /.*: cannot read: Is a directory$"
          -- sh -c "sed 's|\"plain.csv\"|\"/\"|' '${RT_DATA}/plain.json' > '${RT_WORK}/csv_dir.json' && $<TARGET_FILE:dtwin_cli> check -q '${RT_WORK}/csv_dir.json'")
# A csvlog file that is a directory: check refuses what run would.
add_test(NAME redteam.check_csvlog_dir
  COMMAND ${RT_EXPECT} 3 "sinks\\[0\\]: file: cannot write .*: Is a directory$"
          -- $<TARGET_FILE:dtwin_cli> check -q ${RT_DATA}/csvlog_dir.json)

# A key given twice in a map of signals is refused like a key given twice
# anywhere else (which value wins depends on the JSON reader).
add_test(NAME redteam.check_dup_safe
  COMMAND ${RT_EXPECT} 1 "dispatcher\\.safe\\.a\\.cmd: duplicate key"
          -- $<TARGET_FILE:dtwin_cli> check -q ${RT_DATA}/dup_safe.json)

add_test(NAME redteam.check_dup_h
  COMMAND ${RT_EXPECT} 1 "estimator\\.measurements\\[0\\]\\.H\\.a\\.est: duplicate key"
          -- sh -c "sed 's|\"a.est\": 1$|\"a.est\": 1, \"a.est\": 5|' '${RT_DATA}/plain.json' > '${RT_WORK}/dup_h.json' && grep -q '\"a.est\": 5' '${RT_WORK}/dup_h.json' && $<TARGET_FILE:dtwin_cli> check -q '${RT_WORK}/dup_h.json'")

# A csvlog sink that cannot write its last rows says so.
add_test(NAME redteam.run_csvlog_full
  COMMAND ${RT_EXPECT} 0 "/dev/full"
          -- $<TARGET_FILE:dtwin_cli> run -q ${RT_DATA}/csvlog_full.json)

# An output file that cannot be written is named.
add_test(NAME redteam.run_output_full_named
  COMMAND ${RT_EXPECT} 3 "/dev/full"
          -- $<TARGET_FILE:dtwin_cli> run -q --estimates /dev/full ${RT_DATA}/plain.json)

if(DTWIN_WITH_UV) # --realtime needs the libuv driver
  # SIGINT during --realtime: a clean stop with the summary and the outputs
  # (held before this change; stops the process it started, by its pid).
  add_test(NAME redteam.run_realtime_sigint
    COMMAND ${RT_EXPECT} 0 "^dtwin run: stopped by a signal$" "^samples: [0-9]+ offered = "
            "^rows [0-9]+$"
            -- ${PROJECT_SOURCE_DIR}/tests/redteam/sigint.sh $<TARGET_FILE:dtwin_cli>
               ${RT_DATA}/plain.json ${RT_WORK})
endif()
