# The description's estimator section: G and Qc for the process noise.
dtwin_unit_test(test_estimator_json)
