# Red team of the key store and authenticated UDP frames: refusals of odd key
# files, names and directories, host backends that misbehave, the count of
# every datagram at a keyed source, "auth": "none" addresses.
dtwin_unit_test(test_redteam_keys)
