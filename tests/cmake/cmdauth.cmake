# Signed commands (include/dtwin/cmdauth.h): the record, belief tokens and the
# verifier against forgeries, replays, wrong addresses and times, stale or
# made-up beliefs, revocation; the twin's dispatcher.auth and the
# least-privilege pipeline (a compromised component cannot command).
dtwin_unit_test(test_cmdauth)
dtwin_unit_test(test_cmdauth_twin)
dtwin_unit_test(test_faults_cmdauth)
