# The estimator's dispute of a belief that a step contradicts at once.
dtwin_unit_test(test_est_step)
