/* libFuzzer: the dtwin command's argument parsing (tools/dtwin/dtwin.c built
 * with its main renamed). The input is split at NUL bytes into at most 12
 * arguments. It runs in a scratch directory holding a small valid description
 * (t.json, memory adapters) and a loop (l.json), so the fuzzer can reach the
 * commands' real work. Excluded, because they take wall time by design:
 * --realtime, and --duration above 5 s. Run with -close_fd_mask=3 (the
 * command prints; crash reports still appear). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"

int dtwin_cli_main(int argc, char **argv);

static const char twin_doc[] =
    "{\"dtwin\":1,\"name\":\"fz\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"y_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":0,\"max\":5}}],"
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
    "\"estimator\":{\"states\":[\"y_est\"],\"A\":[[-1]],\"Q\":[0.01],\"P0\":[0.01],"
    " \"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}}],"
    " \"bounds\":[{\"name\":\"b\",\"variance\":\"y_est\",\"max\":1}]},"
    "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
    " \"setpoint\":1,\"kp\":1,\"ki\":1}],"
    "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0}},\"loop\":{\"period\":0.1}}\n";
static const char loop_doc[] = "{\"num\":[2],\"den\":[1,1],\"dead_time\":0.1}\n";

static void put(const char *name, const char *text)
{
    FILE *f = fopen(name, "w");
    FUZZ_CHECK(f != NULL);
    fputs(text, f);
    FUZZ_CHECK(fclose(f) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/dtwin_fuzz_cli_%ld", (long)getpid());
    FUZZ_CHECK(mkdtemp(strcat(dir, "_XXXXXX")) != NULL);
    FUZZ_CHECK(chdir(dir) == 0);
    put("t.json", twin_doc);
    put("l.json", loop_doc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char buf[1025];
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[14] = {"dtwin"};
    int argc = 1;
    for (size_t i = 0; i < size && argc < 13;) {
        argv[argc++] = &buf[i];
        i += strlen(&buf[i]) + 1;
    }
    argv[argc] = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--realtime") == 0)
            return 0;
        if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc && strtod(argv[i + 1], NULL) > 5)
            return 0;
    }
    int rc = dtwin_cli_main(argc, argv);
    FUZZ_CHECK(rc >= 0 && rc <= 4); /* the documented exit codes */
    return 0;
}
