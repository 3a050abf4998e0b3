/* The twin the event-stream tests share (test_events.c, test_redteam_events.c):
 * a first-order level with a PID through memory adapters; the sink holds 512
 * commands, so a step with 200 host commands fits (undrained, it refuses the
 * rest: sink errors). */
#ifndef DTWIN_TEST_EVENTS_TWIN_H
#define DTWIN_TEST_EVENTS_TWIN_H

#include "dtwin/dtwin.h"

static const char twin_doc[] =
    "{\"dtwin\":1,\"name\":\"loop\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"plant\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"period\":0.01,\"noise\":{\"std\":0.02},\"limits\":{\"min\":-5,\"max\":5}},"
    "{\"id\":\"y_est\",\"asset\":\"plant\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"d_est\",\"asset\":\"plant\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"plant\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"commanded\","
    " \"limits\":{\"min\":0,\"max\":4}}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":0.2,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"actuator\",\"kind\":\"memory\",\"capacity\":512,"
    "  \"mapping\":[{\"native\":\"pump\",\"signal\":\"u\"}]}],"
    "\"estimator\":{\"states\":[\"y_est\",\"d_est\"],\"inputs\":[\"u\"],"
    "  \"A\":[[-1,1],[0,0]],\"B\":[[1],[0]],\"Q\":[0.0004,0.01],\"x0\":[0,0],\"P0\":[0.0004,0.01],"
    "  \"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}}]},"
    "\"controllers\":[{\"id\":\"level\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
    "  \"setpoint\":1.0,\"kp\":3,\"ki\":2,\"kd\":0.1,\"tf\":0.05}],"
    "\"dispatcher\":{\"max_data_age\":0.05,\"safe\":{\"u\":0},\"audit\":64},"
    "\"loop\":{\"period\":0.01}}";

#define MS (DT_NS_PER_MS)

/* Empties the memory sink (up to 512 commands at a time). */
static void drain_sink(dt_twin *t)
{
    dt_command c[512];
    while (dt_memory_sink_read(dt_twin_io(t), 0, c, 512) > 0) {
    }
}

#endif
