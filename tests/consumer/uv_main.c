/* Tiny consumer of an installed dtwin's libuv driver (package dtwin-uv):
 * steps an idle twin from a libuv timer three times, then stops. */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include <dtwin/dtwin.h>
#include <dtwin/uv.h>

typedef struct ticks {
    dt_uv *drv;
    int steps;
} ticks;

static void after_step(void *user, dt_twin *twin, dt_time now)
{
    (void)twin, (void)now;
    ticks *k = user;
    if (++k->steps == 3)
        dt_uv_stop(k->drv);
}

int main(void)
{
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"ticks\",\"assets\":[{\"id\":\"p\"}],\"signals\":[{\"id\":"
        "\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}],"
        "\"loop\":{\"period\":0.01}}";
    dt_twin *twin = NULL;
    dt_diag diag;
    if (dt_twin_load_json(doc, sizeof doc - 1, NULL, &twin, &diag) != DT_OK) {
        fprintf(stderr, "load: %s\n", diag.message);
        return 1;
    }
    uv_loop_t loop;
    ticks k = {NULL, 0};
    if (uv_loop_init(&loop) != 0 || dt_uv_attach(twin, &loop, 0, 0, &k.drv) != DT_OK) {
        fprintf(stderr, "attach failed\n");
        return 1;
    }
    dt_uv_on_step(k.drv, after_step, &k);
    uv_run(&loop, UV_RUN_DEFAULT);
    int status = dt_uv_status(k.drv, NULL);
    dt_uv_detach(k.drv);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets libuv finish closing the driver's handles */
    int closed = uv_loop_close(&loop) == 0;
    dt_twin_destroy(twin);
    printf("dtwin-uv %s: %d steps on a libuv loop\n", dt_version(), k.steps);
    return k.steps == 3 && status == DT_OK && closed ? 0 : 1;
}
