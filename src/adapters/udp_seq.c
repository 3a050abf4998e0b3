/* The UDP source's sequence window: new, reordered, duplicate, lost frames; sender restarts. */
#include "udp_internal.h"

#define SEQ_WINDOW DT__UDP_SEQ_WINDOW

/* A well-formed frame refused by the sequence rules: counted by its own
 * counter (the caller's) and in frames_rejected, not as malformed. */
static void refused(dt__udpsrc *s, uint64_t *counter)
{
    (*counter)++;
    s->st.frames_rejected++;
    dt_source_count(s->ctx, DT_EV_REFUSED, 1); /* its samples never reach the twin */
}

/* Where a frame falls against the window. */
enum { V_ADVANCE, V_REORDERED, V_DUPLICATE, V_FAR_AHEAD, V_TOO_OLD, V_NEW_EPOCH, V_OLD_EPOCH };

static int classify(const dt__udpsrc *s, uint16_t epoch, uint32_t seq)
{
    /* serial-number order (RFC 1982) on 16 bits; a keyed source's persisted
     * floor orders epochs as plain numbers (no wrap), and so does its window */
    if (epoch != s->epoch && s->rs.fd >= 0)
        return epoch > s->epoch ? V_NEW_EPOCH : V_OLD_EPOCH;
    if (epoch != s->epoch)
        return (uint16_t)(epoch - s->epoch) < 0x8000u ? V_NEW_EPOCH : V_OLD_EPOCH;
    uint32_t ahead = seq - s->last_seq; /* modulo 2^32 */
    if (ahead == 0)
        return V_DUPLICATE;
    if (ahead < SEQ_WINDOW)
        return V_ADVANCE;
    if (ahead < 0x80000000u)
        return V_FAR_AHEAD;
    uint32_t behind = s->last_seq - seq;
    if (behind < SEQ_WINDOW)
        return (s->seen >> behind) & 1u ? V_DUPLICATE : V_REORDERED;
    return V_TOO_OLD;
}

static void count_lost(dt__udpsrc *s, uint64_t n)
{
    if (n > 0) {
        s->st.lost += n;
        dt_source_count(s->ctx, DT_EV_LOST, (int64_t)n);
    }
}

static void accepted(dt__udpsrc *s)
{
    s->confirmed = 1;
    s->have_cand = 0; /* a candidate needs two frames in a row */
    s->last_accept = s->now;
}

/* Sequence bookkeeping (docs/wire.md): returns 0 to accept the frame, -1 when
 * it is refused (counted here). A single frame never moves the window by 64
 * frames or more, nor to another epoch: that takes a second frame continuing
 * from it, so one forged or replayed frame can neither inflate `lost` nor push
 * the honest sender's frames out of the window. */
/* A keyed source's persisted floor (docs/wire.md, "Replays across
 * restarts"): 0 to go on to the window, -1 refused (counted). Every frame
 * below the floor loaded at open was, or could have been, accepted before;
 * a frame at or above the durable floor raises it, by the reserve, before
 * the window may take it, so that after a crash or restart the floor covers
 * it. The write fails: the frame is refused (fail closed; the next frame
 * tries again). */
static int guard(dt__udpsrc *s, uint16_t epoch, uint32_t seq)
{
    uint64_t pos = DT__UDP_POS(epoch, seq);
    if (pos < s->floor) {
        refused(s, &s->st.replayed);
        return -1;
    }
    if (pos < s->rs.value)
        return 0;
    /* reserve ahead, but not into the next epoch: a sender that restarts
     * with a new epoch is taken at once after a restart of the twin */
    uint64_t next = pos + 1 + s->reserve;
    uint64_t epoch_end = DT__UDP_POS((uint64_t)epoch + 1, 0);
    if (next > epoch_end)
        next = epoch_end;
    if (dt__udp_state_write(&s->rs, next) != DT_OK) {
        refused(s, &s->st.state_write_errors);
        uint64_t n = s->st.state_write_errors;
        if ((n & (n - 1)) == 0) /* the 1st, 2nd, 4th, ... failure: no log flood */
            dt_source_log(s->ctx, DT_LOG_ERROR,
                          "replay_state %s: cannot write (%llu frames refused so far)",
                          s->rs.path, (unsigned long long)n);
        return -1;
    }
    s->st.state_writes++;
    return 0;
}

int dt__udp_track_seq(dt__udpsrc *s, uint8_t version, uint16_t epoch, uint32_t seq)
{
    if (s->rs.fd >= 0 && guard(s, epoch, seq) != 0)
        return -1;
    if (!s->have_seq) {
        s->have_seq = 1;
        s->epoch = epoch;
        s->last_seq = seq;
        s->seen = 1;
        s->st.epoch = epoch;
        s->last_accept = s->now;
        return 0;
    }
    int v = classify(s, epoch, seq);
    /* A version 1 sender silent for restart_after whose frames come back at
     * or behind the newest one has restarted (or it is a replay: version 1
     * cannot tell, docs/wire.md). Unsigned: the host's now may be any int64. */
    int silent = version == 1 && s->now >= s->last_accept &&
                 (uint64_t)s->now - (uint64_t)s->last_accept >= (uint64_t)s->restart_after;
    if (v == V_ADVANCE) {
        uint32_t ahead = seq - s->last_seq;
        count_lost(s, ahead - 1);
        s->seen = (s->seen << ahead) | 1;
        s->last_seq = seq;
        accepted(s);
        return 0;
    }
    if (v == V_REORDERED && !silent) {
        s->seen |= (uint64_t)1 << (s->last_seq - seq);
        /* It was counted lost when the gap appeared. */
        if (s->st.lost > 0) {
            s->st.lost--;
            dt_source_count(s->ctx, DT_EV_LOST, -1);
        }
        s->st.reordered++;
        dt_source_count(s->ctx, DT_EV_REORDERED, 1);
        accepted(s);
        return 0;
    }
    /* Refused by the window. May it move the window instead? Forward (a gap or
     * a new epoch): always, once confirmed. Backward: only while the window
     * rests on a single frame (which may have been forged), or for a silent
     * version 1 sender (above). */
    int movable = v == V_FAR_AHEAD || v == V_NEW_EPOCH ||
                  ((v == V_TOO_OLD || v == V_OLD_EPOCH) && (!s->confirmed || silent)) ||
                  ((v == V_DUPLICATE || v == V_REORDERED) && silent);
    if (!movable) {
        if (v == V_DUPLICATE) {
            s->st.duplicate++;
            dt_source_count(s->ctx, DT_EV_DUPLICATE, 1);
        } else {
            refused(s, v == V_TOO_OLD ? &s->st.too_old : &s->st.stale_epoch);
        }
        return -1;
    }
    uint32_t step = seq - s->cand_seq;
    if (s->have_cand && s->cand_version == version && s->cand_epoch == epoch && step >= 1 &&
        step < SEQ_WINDOW) {
        /* Confirmed: the candidate and this frame agree. Frames between them
         * are lost (until they arrive), and for a forward jump in the same
         * epoch those before the candidate too; across a restart the sender's
         * earlier frames are unknown, so not counted. */
        if (v == V_FAR_AHEAD && s->confirmed) {
            count_lost(s, (uint64_t)(s->cand_seq - s->last_seq - 1) + (step - 1));
            s->st.jumps++;
        } else {
            count_lost(s, step - 1);
            if (v == V_NEW_EPOCH || (s->confirmed && v != V_FAR_AHEAD)) {
                s->st.restarts++;
                dt_source_log(s->ctx, DT_LOG_INFO, "sender restarted (epoch %u, seq %u)",
                              (unsigned)epoch, (unsigned)seq);
            } else {
                s->st.jumps++; /* the first frame was not the sender's */
            }
        }
        s->epoch = epoch;
        s->st.epoch = epoch;
        s->last_seq = seq;
        s->seen = 1u | (uint64_t)1 << step; /* the candidate too: a replay of it is a duplicate */
        accepted(s);
        return 0;
    }
    s->have_cand = 1;
    s->cand_version = version;
    s->cand_epoch = epoch;
    s->cand_seq = seq;
    refused(s, &s->st.unconfirmed);
    return -1;
}
