# Remote beliefs (include/dtwin/fusion.h): ageing a belief against the
# filter's own prediction, covariance intersection against closed forms, a
# brute-force search and a Monte Carlo run, the information sum, refusals.
dtwin_unit_test(test_fusion)
