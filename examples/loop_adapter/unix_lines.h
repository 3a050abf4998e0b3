/* The "unix_lines" adapter kind (unix_lines.c): sources sharing one Unix
 * datagram socket, the kind's context. */
#ifndef UNIX_LINES_H
#define UNIX_LINES_H

#include <stdint.h>

#include "dtwin/dtwin.h"

#define UNIX_LINES_MAX 8

/* The connection every "unix_lines" source of a registry shares: the host
 * fills path and sets fd to -1, then registers the kind with it
 * (dt_registry_add_source_kind). */
typedef struct unix_lines_conn {
    char path[108];
    int fd;
    dt_source_ctx *who[UNIX_LINES_MAX]; /* the open instances */
    size_t n;
    uint64_t by_hook, by_poll; /* datagrams read when the loop said so / at a poll */
} unix_lines_conn;

extern const dt_source_ops unix_lines_ops;

#endif
