# Remote beliefs (include/dtwin/fusion.h): ageing a belief against the
# filter's own prediction, covariance intersection against closed forms, a
# brute-force search and a Monte Carlo run, the information sum, refusals.
dtwin_unit_test(test_fusion)
# Remote beliefs fused into a twin's estimate: ageing against the sender's
# own prediction, CI against dt_ci_update, the gate and refusals, a source
# offering beliefs (superseded, refused times, no allocation), log and replay.
dtwin_unit_test(test_remote_belief)
