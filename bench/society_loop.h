/* bench_society's host loop: the twins' state as the loop sees it, one
 * epoll set over every twin's watched descriptors, each twin stepped on its
 * own schedule, and the accounting of beliefs published and received that
 * the hops are measured from. Included once, by bench_society.c, after its
 * constants. */
#ifndef DTWIN_BENCH_SOCIETY_LOOP_H
#define DTWIN_BENCH_SOCIETY_LOOP_H

#include <sys/epoll.h>

typedef struct side {
    size_t src;  /* the twin source's index */
    int peer;    /* the publisher it reads */
    uint64_t seq; /* the newest belief number received (messages + lost) */
} side;

typedef struct node {
    dt_twin *tw;
    dt_io *io;
    int64_t due; /* next step, ns on CLOCK_MONOTONIC */
    int64_t last_pub_t; /* twin time of the step that last published */
    uint64_t published;
    int64_t tpub[RING]; /* the clock read before the step that published belief k */
    uint64_t tag[RING];
    side sd[2];
    size_t nw;
    dt_io_watch w[MAX_WATCH];
    uint64_t rng;
} node;

typedef struct society {
    int n;
    node *nodes;
    int ep;
    int64_t t0; /* the twins' time base: ns since the program started */
    int feeding, measuring;
    int paused; /* no steps: the sockets only */
    int cur;    /* the next twin to step: they fall due in index order */
    size_t pub_ctr; /* index of bus.beliefs_published in the link counters */
    size_t connects_ctr;
    /* in the measured window */
    uint64_t done, missed, hops_unpaired;
    uint64_t late[LATE_BUCKETS];
    double *hop;
    size_t nhop, hop_cap;
} society;

static int64_t g_t0;

static uint64_t link_ctr(node *nd, size_t idx)
{
    dt_counter c[64];
    size_t n = dt_io_link_counters(nd->io, 0, c, idx + 1);
    return n > idx ? c[idx].value : 0;
}

static size_t link_ctr_index(dt_io *io, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(io, 0, c, 96);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return i;
    die("a link counter is missing");
    return 0;
}

/* Makes the epoll set watch what twin j's adapters want now. */
static void sync_watches(society *s, int j)
{
    node *nd = &s->nodes[j];
    dt_io_watch now[MAX_WATCH];
    size_t m = dt_io_watches(nd->io, now, MAX_WATCH);
    if (m > MAX_WATCH)
        die("a twin wants more than 4 descriptors watched");
    for (size_t a = 0; a < nd->nw; a++) { /* gone: forget (a closed fd left epoll) */
        int kept = 0;
        for (size_t b = 0; b < m; b++)
            kept |= now[b].fd == nd->w[a].fd && now[b].gen == nd->w[a].gen;
        if (!kept)
            (void)epoll_ctl(s->ep, EPOLL_CTL_DEL, nd->w[a].fd, NULL);
    }
    for (size_t b = 0; b < m; b++) {
        int op = EPOLL_CTL_ADD;
        for (size_t a = 0; a < nd->nw; a++)
            if (now[b].fd == nd->w[a].fd && now[b].gen == nd->w[a].gen)
                op = now[b].events == nd->w[a].events ? -1 : EPOLL_CTL_MOD;
        if (op < 0)
            continue;
        struct epoll_event ev = {0};
        ev.events = (now[b].events & DT_WATCH_READ ? EPOLLIN : 0u) |
                    (now[b].events & DT_WATCH_WRITE ? EPOLLOUT : 0u);
        ev.data.u64 = (uint64_t)j << 32 | (uint32_t)now[b].fd;
        if (epoll_ctl(s->ep, op, now[b].fd, &ev) != 0 && op == EPOLL_CTL_ADD &&
            errno == EEXIST)
            (void)epoll_ctl(s->ep, EPOLL_CTL_MOD, now[b].fd, &ev);
    }
    memcpy(nd->w, now, m * sizeof now[0]);
    nd->nw = m;
}

/* The beliefs twin j's sources counted since the last look, their hops
 * ending at t_ret. */
static void note_arrivals(society *s, int j, int64_t t_ret)
{
    node *nd = &s->nodes[j];
    for (int k = 0; k < 2; k++) {
        side *sd = &nd->sd[k];
        dt_counter c[6]; /* messages, beliefs_offered, stale_epoch, stale_state, duplicate, lost */
        if (dt_io_source_counters(nd->io, sd->src, c, 6) < 6)
            die("a twin source has too few counters");
        uint64_t upto = c[0].value + c[5].value;
        if (upto <= sd->seq)
            continue;
        node *p = &s->nodes[sd->peer];
        /* with a gap counted, only the newest is known to have come */
        uint64_t from = upto - sd->seq > 1 && c[5].value > 0 ? upto : sd->seq + 1;
        for (uint64_t q = from; q <= upto && s->measuring; q++) {
            if (p->tag[q % RING] != q) {
                s->hops_unpaired++;
                continue;
            }
            if (s->nhop < s->hop_cap)
                s->hop[s->nhop++] = (double)(t_ret - p->tpub[q % RING]) * 1e-3;
        }
        sd->seq = upto;
    }
}

static double noise(node *nd, double std)
{
    /* xorshift64*, a sum of four uniforms: near-Gaussian */
    double sum = 0;
    for (int k = 0; k < 4; k++) {
        nd->rng ^= nd->rng >> 12;
        nd->rng ^= nd->rng << 25;
        nd->rng ^= nd->rng >> 27;
        sum += (double)((nd->rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
    }
    return (sum - 2.0) * std * 1.7320508075688772; /* var of the sum: 4/12 */
}

static void step(society *s, int j, int64_t t_mono)
{
    node *nd = &s->nodes[j];
    dt_time t = t_mono - s->t0;
    if (s->feeding) { /* the wind all nodes see, measured with noise */
        double ts = (double)t * 1e-9;
        double u = 5 + 2 * sin(0.5 * ts), v = 3 * cos(0.3 * ts), w = 0.5 * sin(0.7 * ts);
        if (dt_memory_source_push(nd->io, 0, "u", t, u + noise(nd, soc_noise_std(j, 0))) != DT_OK ||
            dt_memory_source_push(nd->io, 0, "v", t, v + noise(nd, soc_noise_std(j, 1))) != DT_OK ||
            dt_memory_source_push(nd->io, 0, "w", t, w + noise(nd, soc_noise_std(j, 2))) != DT_OK)
            die("a memory source refused a sample");
    }
    int rc = dt_twin_step(nd->tw, t);
    if (rc != DT_OK) {
        fprintf(stderr, "bench_society: n%d's step: %s\n", j, dt_strerror(rc));
        exit(1);
    }
    /* a belief is published at most every 0.1 s of twin time: look only
     * from then on */
    if (t >= nd->last_pub_t + PUB_PERIOD_NS - PERIOD_NS / 2) {
        uint64_t p = link_ctr(nd, s->pub_ctr);
        for (uint64_t q = nd->published + 1; q <= p; q++) {
            nd->tpub[q % RING] = t_mono;
            nd->tag[q % RING] = q;
        }
        if (p != nd->published)
            nd->last_pub_t = t;
        nd->published = p;
    }
    note_arrivals(s, j, mono_ns()); /* its poll read its connection */
    if (dt_io_wake_at(nd->io) <= t)
        dt_io_wake(nd->io, t);
    sync_watches(s, j);
}

/* Runs the loop until `until` (CLOCK_MONOTONIC ns). */
static void run(society *s, int64_t until)
{
    struct epoll_event ev[256];
    for (;;) {
        int64_t now = mono_ns();
        if (now >= until)
            return;
        /* the due steps, in phase order, at most 64 before looking at the
         * sockets again */
        int k = 0;
        for (; k < 64 && !s->paused; k++) {
            node *nd = &s->nodes[s->cur];
            if (nd->due > now)
                break;
            int64_t late = now - nd->due;
            if (late > PERIOD_NS) { /* a slot it cannot make: skipped */
                int64_t skip = late / PERIOD_NS;
                if (s->measuring)
                    s->missed += (uint64_t)skip;
                nd->due += skip * PERIOD_NS;
                late -= skip * PERIOD_NS;
            }
            if (s->measuring) {
                s->done++;
                int64_t b = late / 1000 / LATE_BUCKET_US;
                s->late[b < LATE_BUCKETS - 1 ? b : LATE_BUCKETS - 1]++;
            }
            step(s, s->cur, now);
            nd->due += PERIOD_NS;
            s->cur = s->cur + 1 == s->n ? 0 : s->cur + 1;
            now = mono_ns();
        }
        int64_t wait = k == 64 ? 0 : s->paused ? 10000000 : s->nodes[s->cur].due - mono_ns();
        if (wait < 0)
            wait = 0;
        if (until - now < wait)
            wait = until - now;
        struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
        int r = epoll_pwait2(s->ep, ev, 256, &ts, NULL);
        for (int e = 0; e < r; e++) {
            int j = (int)(ev[e].data.u64 >> 32), fd = (int)(uint32_t)ev[e].data.u64;
            node *nd = &s->nodes[j];
            unsigned what = (ev[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? DT_WATCH_READ : 0) |
                            (ev[e].events & EPOLLOUT ? DT_WATCH_WRITE : 0);
            for (size_t w = 0; w < nd->nw; w++) /* still the descriptor it watches */
                if (nd->w[w].fd == fd && (nd->w[w].events & what))
                    dt_io_ready(nd->io, nd->w[w].adapter, fd, nd->w[w].events & what,
                                mono_ns() - s->t0);
            note_arrivals(s, j, mono_ns());
            sync_watches(s, j);
        }
    }
}

#endif
