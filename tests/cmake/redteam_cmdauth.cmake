# Red team of signed commands, least privilege and the planes: reproducers of
# the defects found (a seq_gaps wrap at 2^64 - 1, a revoked estimator's token
# taken without "beliefs", one record carried out by two twins of one name,
# an io pointer kept across partitioning, a queue-full record in no counter).
dtwin_unit_test(test_redteam_cmdauth)
