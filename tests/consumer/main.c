/* Tiny consumer of an installed dtwin: load a description, run some math. */
#include <stdio.h>
#include <string.h>

#include <dtwin/dtwin.h>

int main(void)
{
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"consumer\",\"assets\":[{\"id\":\"m\"}],"
        "\"signals\":[{\"id\":\"m.speed\",\"asset\":\"m\",\"quantity\":"
        "\"angular_velocity\",\"unit\":\"rpm\",\"role\":\"measured\"}]}";
    if (strcmp(dt_version(), DT_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", DT_VERSION_STRING, dt_version());
        return 1;
    }
    dt_model *m = NULL;
    dt_diag diag;
    int rc = dt_model_load_json(doc, sizeof doc - 1, NULL, &m, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "load: %s\n", diag.message);
        return 1;
    }
    double A[1] = {0.0}, E[1], work[DT_EXPM_WORK(1)];
    rc = dt_expm(1, A, E, work);
    printf("dtwin %s: model \"%s\" with %zu signal(s), expm(0) = %g\n",
           dt_version(), dt_model_name(m), dt_model_signal_count(m), E[0]);
    dt_model_destroy(m);
    return rc == DT_OK && E[0] == 1.0 ? 0 : 1;
}
