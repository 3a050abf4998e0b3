/* The UDP loop both test_twin (stepped by hand) and test_uv_driver (on the
 * libuv driver) run: a loopback socket for the commands, and the description
 * of a twin with a UDP source and a UDP sink. For the unit tests only. */
#ifndef DTWIN_TEST_UDP_LOOP_DOC_H
#define DTWIN_TEST_UDP_LOOP_DOC_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static inline int bind_loopback(int fd, struct sockaddr_in *a)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof *a), 0);
    socklen_t al = sizeof *a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)a, &al), 0);
    return ntohs(a->sin_port);
}

static inline void udp_doc(char *doc, size_t cap, int port)
{
    snprintf(doc, cap,
             "{\"dtwin\":1,\"name\":\"udp\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"x\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"commanded\",\"limits\":{\"min\":-9,\"max\":9}}],"
             "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":11,"
             "\"timeout\":100,\"mapping\":[{\"channel\":4,\"signal\":\"y\",\"unit\":\"mm\"}]}],"
             "\"sinks\":[{\"id\":\"out\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":%d,\"source_id\":12,"
             "\"mapping\":[{\"channel\":9,\"signal\":\"u\",\"unit\":\"cm\"}]}],"
             "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[0],\"P0\":[1e6],\"gate\":1,"
             "\"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}]},"
             "\"controllers\":[{\"id\":\"p\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
             "\"setpoint\":0,\"kp\":2}],\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0}},"
             "\"loop\":{\"period\":0.001}}",
             port);
}

#endif
