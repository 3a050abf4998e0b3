/* Reading another twin's $state and $contract (JSON) for the bus layer (not
 * installed); the description module owns cJSON, so the parsing is here. */
#ifndef DTWIN_SRC_DESC_BUS_JSON_H
#define DTWIN_SRC_DESC_BUS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"

#define DT__BUS_PEER_STATES 64
/* The largest $state or $contract a reader parses (a publisher's contract
 * must fit: bus_contract.c checks it). */
#define DT__BUS_JSON_MAX (256u * 1024u)

/* A $state message: {"state": "...", "epoch": N, "contract": V}. */
typedef struct dt__bus_peer_state {
    char state[16]; /* ready, lost, stopped ... */
    uint32_t epoch, contract;
} dt__bus_peer_state;

typedef struct dt__bus_peer_state_info {
    char signal[257];
    char unit[64];
    char semantic_id[257]; /* "" when none */
} dt__bus_peer_state_info;

/* What a reader needs of a $contract: its version and one group's states,
 * or one stream's signals. */
/* The most states of a group whose model (A, Q) a reader keeps (the states
 * a twin fuses: DT_REMOTE_STATES_MAX). */
#define DT__BUS_PEER_MODEL 16

typedef struct dt__bus_peer_contract {
    uint32_t version;
    int has_group; /* the group (or stream) was in it */
    size_t n;
    double max_age; /* a stream's, s */
    int independent; /* a group's: declared independent of its readers' beliefs */
    int has_model;   /* a group's A and Q were read: n <= DT__BUS_PEER_MODEL, n x n,
                        finite, |entries| <= 1e150 */
    double A[DT__BUS_PEER_MODEL * DT__BUS_PEER_MODEL], Q[DT__BUS_PEER_MODEL * DT__BUS_PEER_MODEL];
    dt__bus_peer_state_info state[DT__BUS_PEER_STATES];
} dt__bus_peer_contract;

/* A group's "independent" (optional, a bool) and its "A" and "Q" (n x n
 * arrays of numbers: required, read into the contract when n <= 16) are
 * checked too.
 * DT_OK, or DT_EPARSE for anything that is not exactly such a message
 * (bytes of length n: a NUL inside, too deep, wrong types, out of range).
 * A contract is checked whole before anything is written: on DT_EPARSE *out
 * is unchanged (a reader keeps ageing beliefs with the contract it
 * checked). */
int dt__bus_state_parse(const char *buf, size_t n, const dt_allocator *a,
                        dt__bus_peer_state *out);
int dt__bus_contract_parse(const char *buf, size_t n, const dt_allocator *a, const char *group,
                           dt__bus_peer_contract *out);
/* The same for a sample stream: its signals ("streams": [{"stream",
 * "max_age" > 0, "signals": [{"signal", "unit", "semantic_id"?}]}]); a
 * contract without "streams" is valid and has_group 0. */
int dt__bus_contract_parse_stream(const char *buf, size_t n, const dt_allocator *a,
                                  const char *stream, dt__bus_peer_contract *out);

#endif
