# Red team of the remote-belief fusion path (a twin reading another twin's
# belief group: the contract, the io's belief slots, the twin's fusion and
# flight-log records, dt_est_fuse): an in-process bus engine and a source
# kind that offers beliefs, no broker.
dtwin_unit_test(test_redteam_fuse)
