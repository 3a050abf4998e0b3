/* The README's example: load a twin description, look up a signal, and ask
 * how uncertain a 1-state model becomes after 0.5 s without data. */
#include <math.h>
#include <stdio.h>
#include <dtwin/dtwin.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "examples/tank/twin.json";
    dt_model *model = NULL;
    dt_diag diag;
    if (dt_model_load_file(path, NULL, &model, &diag) != DT_OK) {
        fprintf(stderr, "%s: %s\n", path, diag.message); /* e.g. signals[3].unit: ... */
        return 1;
    }
    dt_signal_id id;
    if (dt_model_find_signal(model, "tank.level", &id) == DT_OK) {
        const dt_signal_info *s = dt_model_signal(model, id);
        printf("%s: %s in %s, noise std %.3g\n", s->id, dt_role_name(s->role),
               s->unit_symbol, sqrt(s->noise_var));
    }
    double a = -0.2, q = 0.01, Ad, Qd, work[DT_VANLOAN_WORK(1)];
    dt_vanloan(1, &a, &q, 0.5, &Ad, &Qd, work); /* dx = a x dt + dw */
    printf("after 0.5 s: P = %.4f P0 + %.6f\n", Ad * Ad, Qd);
    dt_model_destroy(model);
    return 0;
}
