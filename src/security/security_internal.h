/* Shared inside src/security: key fingerprints in binary (keys.c). */
#ifndef DTWIN_SRC_SECURITY_INTERNAL_H
#define DTWIN_SRC_SECURITY_INTERNAL_H

#include "dtwin/keys.h"

/* The 8 bytes whose hex is dt_key_id: of a public key, or of a loaded key. */
void dt__pk_fingerprint(const unsigned char pk[DT_KEY_PUBLIC_BYTES], unsigned char id[8]);
void dt__key_fingerprint(const dt_key *k, unsigned char id[8]);

#endif
