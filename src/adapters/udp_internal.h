/* UDP adapter internals shared by its files: the source's state, sequence window, sockets. */
#ifndef DTWIN_SRC_ADAPTERS_UDP_INTERNAL_H
#define DTWIN_SRC_ADAPTERS_UDP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dtwin/adapter.h"
#include "dtwin/udp.h"

/* Frames: the replay window (a bitmap) and the largest forward step taken on
 * one frame's word. A bigger step would push frames the honest sender is
 * still sending out of the window, so it waits for a second frame. */
#define DT__UDP_SEQ_WINDOW 64u

/* ---- udp_state.c: the persisted state of a keyed link ---- */

#define DT__UDP_STATE_SOURCE 1u /* value: the source's floor, the lowest position it takes */
#define DT__UDP_STATE_SINK 2u   /* value: the sink's next epoch */
/* A frame's position: epoch above seq, compared as one plain number (no
 * wrap): the persisted floor orders every frame of a key. */
#define DT__UDP_POS(epoch, seq) ((uint64_t)(epoch) << 32 | (uint64_t)(seq))
#define DT__UDP_POS_END ((uint64_t)1 << 48) /* past (65535, 2^32 - 1): the key is used up */

typedef struct dt__udp_state {
    int fd;               /* -1: none; else open, under an exclusive flock */
    uint8_t kind;         /* DT__UDP_STATE_* */
    uint32_t source_id;   /* the link's: a file of another link is started over */
    char key_id[16];      /* the key's fingerprint (dt_key_id), likewise */
    uint64_t value;       /* the durable value */
    int slot;             /* the slot holding it: a write goes to the other */
    int created, rekeyed; /* at open: no file (made), or another link's (started over) */
    uint64_t writes;      /* durable writes since open (creation not counted) */
    char path[512];
} dt__udp_state;

/* Opens the state file at path (creating it when missing, with the value
 * 0), checked as hostile input, locked, its value (at most max_value) in
 * st->value. On failure the reason in err and a negative DT_E*. */
int dt__udp_state_open(dt__udp_state *st, const char *path, uint8_t kind, uint32_t source_id,
                       const dt_key *key, uint64_t max_value, char *err, size_t errcap);
/* What dt__udp_state_open would refuse about the file at path, checked
 * without creating, locking or reading it (a description's check): its
 * directory, and the file's kind, owner, mode and size if it exists. */
int dt__udp_state_check(const char *path, char *err, size_t errcap);
/* Writes value durably (pwrite and fdatasync of the other slot): DT_OK, or
 * DT_EIO with st unchanged. No allocation. */
int dt__udp_state_write(dt__udp_state *st, uint64_t value);
/* Closes the file (and so its lock). */
void dt__udp_state_close(dt__udp_state *st);

typedef struct dt__udpsrc {
    dt_source_ctx *ctx;
    dt_key *key;  /* "auth": "mac": version 3 frames only, their MAC under it */
    int have_peer; /* "peer": datagrams from any other address are refused */
    struct sockaddr_storage peer;
    dt_allocator alloc;
    int fd, have_fd; /* the bound socket (non-blocking) */
    int paused;      /* the budget of this cycle is spent: read nothing until the next poll */
    uint8_t *buf;
    uint32_t source_id, max_count;
    /* the work of one poll (and of the host loop's ready calls until the next poll) */
    uint32_t poll_datagrams, used_datagrams;
    size_t poll_bytes, used_bytes;
    int ring_full; /* the ring refused a sample: decode nothing more until the next poll */
    /* sequence window: (epoch, last_seq) and the 64 frames up to it */
    int have_seq;
    int confirmed; /* two frames agree on the window (not just the first one) */
    uint16_t epoch;
    uint32_t last_seq;
    uint64_t seen; /* bit k: frame last_seq - k was received */
    dt_time now, last_accept, restart_after;
    /* the single frame that would move the window, waiting for a successor */
    int have_cand;
    uint8_t cand_version;
    uint16_t cand_epoch;
    uint32_t cand_seq;
    int have_kdrops;
    uint32_t kdrops0;
    /* "auth": "mac": the persisted floor (replays across restarts) */
    dt__udp_state rs;
    uint64_t floor;   /* frames below it were, or could have been, accepted before open */
    uint32_t reserve; /* positions reserved ahead by one write */
    dt_udp_stats st;
} dt__udpsrc;

/* ---- udp_seq.c: the sequence window ---- */

/* Sequence bookkeeping of a well-formed frame (docs/wire.md): 0 to accept it,
 * -1 when it is refused (counted in s->st and on the source's events). */
int dt__udp_track_seq(dt__udpsrc *s, uint8_t version, uint16_t epoch, uint32_t seq);

/* ---- udp_net.c: addresses and sockets ---- */

/* Reads hostkey (default defhost) and "port" from cfg into addr; on failure
 * writes the reason ("key: ...") into err and returns DT_EINVAL. */
int dt__udp_parse_endpoint(const dt_config *cfg, const char *hostkey, const char *defhost,
                           int port_required, struct sockaddr_storage *addr, char *err,
                           size_t errcap);
/* The length of the sockaddr of a's family. */
socklen_t dt__udp_addr_len(const struct sockaddr_storage *a);
/* A numeric IPv4 or IPv6 address (no port) into addr, or DT_EINVAL. */
int dt__udp_parse_host(const char *host, struct sockaddr_storage *addr);
/* 1 when a and b are the same address (family and address; ports ignored; an
 * IPv4-mapped IPv6 address is its IPv4 address). */
int dt__udp_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* The "auth" and "key" of an adapter's configuration: auth "mac" loads the
 * key (its kind DT_KEY_MAC) through load(ctx, ...); "none" is refused unless
 * `loopback` (the address bound or sent to is one). *key stays NULL for
 * "none". The reason of a refusal in err. */
int dt__udp_auth(const dt_config *cfg, int loopback, const char *what, dt_key **key,
                 int (*load)(void *ctx, const char *name, dt_key **out), void *ctx, char *err,
                 size_t errcap);
/* 1 for a loopback address (127.0.0.0/8, ::1). */
int dt__udp_is_loopback(const struct sockaddr_storage *a);
/* The address as text (without the port) into buf; buf untouched if it
 * cannot be written. */
void dt__udp_addr_text(const struct sockaddr_storage *a, char *buf, size_t cap);
/* The port a socket is bound to into *port; -1 (and *port untouched) if it
 * cannot be read. */
int dt__udp_bound_port(int fd, uint16_t *port);
/* A non-blocking datagram socket of the family, closed on exec; -1 with errno. */
int dt__udp_socket(int family);
/* "source_id": an integer in 1..2^32-1, or DT_EINVAL. */
int dt__udp_get_id(const dt_config *cfg, uint32_t *out);
/* Closes *fd if *have_fd, and marks it closed. */
void dt__udp_close_fd(int *fd, int *have_fd);
/* Datagrams the kernel dropped on the source's socket since open, into
 * s->st.kernel_dropped (where the platform tells). */
void dt__udp_read_kernel_drops(dt__udpsrc *s);

#endif
