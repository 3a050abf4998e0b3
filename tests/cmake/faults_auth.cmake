# The eight communication errors of IEC 61784-3 / OPC UA Safety on keyed UDP
# frames: 1000 injections of each, every one counted, none acted upon
# (docs/reliability.md).
dtwin_unit_test(test_faults_auth)
