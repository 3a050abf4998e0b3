/* The bus layer's state (not installed): a twin's identity on the bus, its
 * connection, what it publishes. Shared by bus_config.c (reading the
 * section), bus.c (state, will, epoch, contract, rebirth, beliefs) and
 * bus_contract.c (the contract's JSON). */
#ifndef DTWIN_SRC_BUS_INTERNAL_H
#define DTWIN_SRC_BUS_INTERNAL_H

#include <stdint.h>

#include "dtwin/buswire.h"
#include "dtwin/cmdauth.h"
#include "dtwin/model.h"
#include "dtwin/twin.h"
#include "dtwin/bus.h"
#include "../adapters/adapters_internal.h"

#define DT__BUS_NAME_MAX 64 /* realm, twin and group names: [A-Za-z0-9_-] */
#define DT__BUS_GROUPS 8
#define DT__BUS_TOPIC_MAX 256
#define DT__BUS_ACCEPT 16     /* commanded signals a twin accepts over the bus */
#define DT__BUS_CMD_QUEUE 256 /* received commands not yet handed to the twin */
#define DT__BUS_INFLIGHT 256  /* remote commands handed over, awaiting their decision */
#define DT__BUS_ISSUERS 16    /* issuers a twin takes commands from */
#define DT__BUS_EPOCHS 4      /* epochs remembered per issuer and signal */

/* A commanded signal the twin accepts on cmd/{signal}/{issuer}. */
typedef struct dt__bus_accept {
    dt_signal_id sig;
    const char *id;      /* the signal's id (the model's) */
    dt_time deadline_max; /* the longest deadline an issuer may ask for, ns */
} dt__bus_accept;

/* One epoch of an issuer on one signal's topic: the newest message seq
 * taken, and the smallest arrival - t_issued seen (the issuer's clock
 * offset plus the fastest transit, bounded above). */
typedef struct dt__bus_epoch_mark {
    uint32_t epoch;
    int used, have_off, have_cand;
    uint64_t last_seq;
    dt_time min_off;
    dt_time cand_off; /* a much faster offset waiting for a second to confirm it */
} dt__bus_epoch_mark;

/* An issuer: its ack topic and number, and per accepted signal the epochs
 * it was seen with (at most DT__BUS_EPOCHS; those at or below floor are
 * forgotten and refused). */
typedef struct dt__bus_issuer {
    char name[DT__BUS_NAME_MAX + 1];
    char ack_topic[DT__BUS_TOPIC_MAX];
    uint64_t ack_seq;
    struct {
        uint32_t floor;
        dt__bus_epoch_mark ep[DT__BUS_EPOCHS];
    } on[DT__BUS_ACCEPT];
} dt__bus_issuer;

/* A received command waiting for the twin, or handed over and waiting for
 * its decision (the twin's seq for it; the issuer's number for the ack). */
typedef struct dt__bus_cmd {
    dt_command cmd;      /* signal, value, times on the twin's base */
    uint64_t issuer_seq; /* the record's seq, returned in the ack */
    uint64_t twin_seq;   /* the twin's number for it; 0 when the slot is free */
    size_t issuer;       /* index into the issuers */
    uint16_t rec_len;    /* a signed command: its record (dtwin/cmdauth.h); 0 none */
    uint8_t rec[DT_CMDAUTH_MAX];
} dt__bus_cmd;

typedef struct dt__bus_group {
    char name[DT__BUS_NAME_MAX + 1];
    size_t n;
    dt_signal_id sig[DT_BUSWIRE_MAX_STATES]; /* estimated signals, in order */
    int idx[DT_BUSWIRE_MAX_STATES];          /* their estimator state index (attach) */
    dt_time every;                           /* at most one belief per this (twin time) */
    dt_time next;
    int independent;
    uint64_t seq;
    char topic[DT__BUS_TOPIC_MAX];
} dt__bus_group;

/* What the bus counts (dt__bus_counters names them "bus.*"). */
typedef struct dt__bus_stats {
    uint64_t beliefs_published;
    uint64_t beliefs_unsent;  /* the connection was down or refused the publish */
    uint64_t rebirths;        /* ctl/rebirth requests served */
    uint64_t state_published; /* $state and $contract publications */
    uint64_t bad_now;         /* a hook called with a time outside +-DT_TIME_LIMIT: ignored */
    /* commands received on cmd/{signal}/{issuer} (docs/bus.md) */
    uint64_t cmd_messages;       /* messages received */
    uint64_t cmd_records;        /* valid records taken */
    uint64_t cmd_submitted;      /* handed to the twin */
    uint64_t cmd_malformed;      /* messages the decoder refused (and by reason) */
    uint64_t cmd_bad_records;    /* records the decoder refused (and by reason) */
    uint64_t cmd_retained;       /* a retained message: a stored, stale command */
    uint64_t cmd_bad_topic;      /* not cmd/{signal}/{issuer} with valid names */
    uint64_t cmd_not_accepted;   /* a signal the twin does not accept */
    uint64_t cmd_issuers_full;   /* a new issuer when DT__BUS_ISSUERS are known */
    uint64_t cmd_stale_epoch;    /* an epoch older than the newest, and not remembered */
    uint64_t cmd_future_epoch;   /* an epoch too far ahead of the receiver's wall clock */
    uint64_t cmd_duplicate;      /* a message seq not above the last of its epoch */
    uint64_t cmd_seq_jump;       /* a seq 64 or more ahead (or a new epoch's above 63) */
    uint64_t cmd_record_order;   /* a command number not above the one before it in its message */
    uint64_t cmd_clock_jump;     /* issued over 1 s later than the epoch's fastest transit allows */
    uint64_t cmd_deadline_too_far; /* a deadline further than the accept's deadline_max */
    uint64_t cmd_expired;        /* past its deadline when received or handed over */
    uint64_t cmd_queue_full;     /* no room in the bus's queue or the twin's */
    uint64_t cmd_refused;        /* the twin refused the submit (another status) */
    uint64_t cmd_stopped;        /* handed over, the twin stopped before deciding it */
    uint64_t cmd_signed;         /* messages that are a signed command record */
    uint64_t cmd_signed_malformed; /* ... that do not decode as one */
    uint64_t cmd_signed_no_auth; /* ... for a twin without dispatcher.auth */
    uint64_t acks_published;
    uint64_t acks_unsent; /* the connection was down or refused the publish */
    uint64_t acks_withheld; /* refusals of signed records not authenticated: no ack */
    uint64_t cmd_bad[DT_BUSWIRE__COUNT];
} dt__bus_stats;

/* ---- sample streams (bus_stream.c): s/{stream} ---- */

#define DT__BUS_STREAMS 8
#define DT__BUS_STREAM_SIGNALS 64 /* signals in one stream (its channels) */

/* A stream the twin publishes: the samples it received for its signals,
 * in batches of at most `batch` records. */
typedef struct dt__bus_stream {
    char name[DT__BUS_NAME_MAX + 1];
    size_t n;                              /* signals (channels) */
    dt_signal_id sig[DT__BUS_STREAM_SIGNALS]; /* measured signals, in channel order */
    size_t batch;                          /* most records per message */
    double max_age_s;                      /* as described (the contract's) */
    dt_time max_age;                       /* older at sending: not sent */
    uint64_t seq;                          /* of the last message published */
    char topic[DT__BUS_TOPIC_MAX];
    dt_buswire_sample *rec; /* `batch` records (attach) */
    size_t n_rec;
} dt__bus_stream;

/* What the streams count (dt__bus_stream_counters names them "bus.*"). */
typedef struct dt__bus_stream_stats {
    uint64_t samples_published; /* records in messages handed to the connection */
    uint64_t stream_messages;   /* messages handed to the connection */
    uint64_t samples_unsent;    /* the connection was down or refused the publish */
    uint64_t samples_too_old;   /* older than the stream's max_age when sent */
    uint64_t samples_invalid;   /* a record the encoder would refuse (variance above 1e150) */
} dt__bus_stream_stats;

/* The streams of a bus: appended to dt__bus as one member. */
typedef struct dt__bus_streams {
    dt__bus_stream s[DT__BUS_STREAMS];
    size_t n;
    int16_t *chan;  /* [stream * n_sig + signal]: its channel, -1 none (attach) */
    size_t n_sig;
    uint8_t *buf;   /* one encoded batch (attach) */
    size_t buf_cap;
    dt__bus_stream_stats st;
} dt__bus_streams;

typedef struct dt__bus {
    dt_allocator alloc;
    dt_logger log;
    const dt_bus_engine_ops *eng;
    void *es; /* the engine; NULL when checked or replayed: nothing is published */
    char realm[DT__BUS_NAME_MAX + 1], twin[DT__BUS_NAME_MAX + 1];
    char prefix[DT__BUS_TOPIC_MAX]; /* dt/v1/{realm}/{twin}/ */
    uint32_t epoch;                  /* of the connection being made or up */
    int epoch_seen;                  /* a connection came up with it */
    int announced_ready;             /* the last $state published said ready (else init) */
    uint32_t contract_version;
    char *contract; /* its JSON (with the version) */
    size_t contract_len;
    dt__bus_group group[DT__BUS_GROUPS];
    size_t n_groups;
    const dt_model *model;
    dt_twin *owner; /* attached */
    uint8_t *buf;  /* one encoded belief */
    size_t buf_cap;
    double *xs, *Ps; /* a group's mean and covariance */
    dt_time last_rebirth;
    dt__bus_accept accept[DT__BUS_ACCEPT];
    size_t n_accept;
    dt__bus_cmd *queue; /* ring of received commands (attach) */
    size_t q_head, q_n;
    dt__bus_cmd *inflight; /* DT__BUS_INFLIGHT slots (attach) */
    size_t n_inflight;
    dt__bus_issuer *issuers; /* DT__BUS_ISSUERS (start) */
    size_t n_issuers;
    char cmd_prefix[DT__BUS_TOPIC_MAX]; /* dt/v1/{realm}/{twin}/cmd/ */
    char bad_name[DT_BUSWIRE__COUNT][40]; /* "bus.cmd_bad.{reason}" */
    dt__bus_stats st;
    dt__bus_streams streams; /* s/{stream} (bus_stream.c) */
} dt__bus;

/* The bus of an io (NULL: no bus section). */
const dt__bus *dt__bus_get(const dt_io *io);
/* The built-in engine (engine_mqtt.c). */
extern const dt_bus_engine_ops dt__mqtt_engine_ops;
/* Description helpers shared by the bus's readers (bus_config.c): a string
 * member (required or not, 1..cap-1 printable bytes) and a number in
 * [lo, hi] (integer when asked; def when absent). */
int dt__bus_str_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                       int required, char *out, size_t cap);
int dt__bus_num_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                       double lo, double hi, int integer, double def, double *out);

/* A list of signal ids of one role under `key` (1..max, each once) into out
 * (bus_config.c; the groups' states, the streams' signals). one and many
 * name the role in messages ("an estimated signal", "estimated signals"). */
int dt__bus_signal_list(dt_diag *diag, const dt_config *o, const char *path, const char *key,
                        const dt_model *model, dt_role role, const char *one, const char *many,
                        dt_signal_id *out, size_t max, size_t *n);

/* The topic of a twin's member: prefix + rest ("$state", "b/level"). */
int dt__bus_topic(char *out, size_t cap, const char *realm, const char *twin, const char *rest);
/* Whether s is a valid realm, twin or group name. */
int dt__bus_name_ok(const char *s);
/* bus_contract.c: the contract's JSON for the attached twin (est gives A, Q
 * of each group); sets b->contract, _len and _version. */
int dt__bus_contract_build(dt__bus *b, dt_est *est, dt_diag *diag);
/* bus_cmd.c: commands from other twins. start subscribes and allocates (a
 * twin with accept); drain hands queued commands to the twin (after every
 * hook of the link); decided acks a remote command's decision; counters
 * appends the bus.cmd_* rows. */
int dt__bus_cmd_start(dt__bus *b);
void dt__bus_cmd_drain(dt__bus *b, dt_time now);
void dt__bus_cmd_decided(dt__bus *b, const dt_audit *au, dt_time t);
size_t dt__bus_cmd_counters(const dt__bus *b, dt_counter *out, size_t max);
/* Whether another twin's new epoch may be taken: at most 120 s past this
 * machine's wall clock (epochs are wall-clock seconds; a forged one far
 * ahead would make every real one look stale). */
int dt__bus_epoch_plausible(uint32_t epoch);
/* Whether the twin the bus belongs to runs (started, not stopped). */
int dt__bus_owner_running(const dt__bus *b);
void dt__bus_cmd_free(dt__bus *b);

/* bus_stream.c: reads "bus.streams" (absent: none) into b->streams. */
int dt__bus_streams_read(dt_diag *diag, const dt_config *sec, dt__bus *b);
/* Allocates the batches and taps the twin's released samples (only with a
 * connection: a checked or replayed twin publishes nothing). */
int dt__bus_streams_attach(dt__bus *b, dt_twin *twin, dt_diag *diag);
void dt__bus_streams_free(dt__bus *b);
/* The streams' counters, none without a stream. */
size_t dt__bus_stream_counters(const dt__bus *b, dt_counter *out, size_t max);

#endif
