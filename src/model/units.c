#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dtwin/error.h"
#include "dtwin/model.h"
#include "model_internal.h"

typedef struct unit_def {
    const char *symbol;
    dt_unit_class cls;
    double scale;  /* to the class's base unit */
    double offset; /* added after scaling (temperatures only) */
    int prefixable;
} unit_def;

#define PI 3.14159265358979323846

/* The documented unit set (docs/model.md lists it; keep both in step). */
static const unit_def units[] = {
    {"1", DT_UC_DIMENSIONLESS, 1.0, 0.0, 0},
    {"%", DT_UC_DIMENSIONLESS, 0.01, 0.0, 0},
    {"percent", DT_UC_DIMENSIONLESS, 0.01, 0.0, 0},
    {"ppm", DT_UC_DIMENSIONLESS, 1e-6, 0.0, 0},
    {"pu", DT_UC_PER_UNIT, 1.0, 0.0, 0},
    {"V", DT_UC_VOLTAGE, 1.0, 0.0, 1},
    {"A", DT_UC_CURRENT, 1.0, 0.0, 1},
    {"W", DT_UC_ACTIVE_POWER, 1.0, 0.0, 1},
    {"VA", DT_UC_APPARENT_POWER, 1.0, 0.0, 1},
    {"var", DT_UC_REACTIVE_POWER, 1.0, 0.0, 1},
    {"J", DT_UC_ENERGY, 1.0, 0.0, 1},
    {"Wh", DT_UC_ENERGY, 3600.0, 0.0, 1},
    {"Hz", DT_UC_FREQUENCY, 1.0, 0.0, 1},
    {"rad", DT_UC_ANGLE, 1.0, 0.0, 1},
    {"deg", DT_UC_ANGLE, PI / 180.0, 0.0, 0},
    {"rad/s", DT_UC_ANGULAR_VELOCITY, 1.0, 0.0, 0},
    {"deg/s", DT_UC_ANGULAR_VELOCITY, PI / 180.0, 0.0, 0},
    {"rpm", DT_UC_ANGULAR_VELOCITY, 2.0 * PI / 60.0, 0.0, 0},
    {"K", DT_UC_TEMPERATURE, 1.0, 0.0, 1},
    {"degC", DT_UC_TEMPERATURE, 1.0, 273.15, 0},
    {"degF", DT_UC_TEMPERATURE, 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0, 0},
    {"Pa", DT_UC_PRESSURE, 1.0, 0.0, 1},
    {"bar", DT_UC_PRESSURE, 1e5, 0.0, 1},
    {"g", DT_UC_MASS, 1e-3, 0.0, 1},
    {"t", DT_UC_MASS, 1e3, 0.0, 0},
    {"kg/s", DT_UC_MASS_FLOW, 1.0, 0.0, 0},
    {"kg/h", DT_UC_MASS_FLOW, 1.0 / 3600.0, 0.0, 0},
    {"t/h", DT_UC_MASS_FLOW, 1000.0 / 3600.0, 0.0, 0},
    {"m", DT_UC_LENGTH, 1.0, 0.0, 1},
    {"m/s", DT_UC_VELOCITY, 1.0, 0.0, 0},
    {"km/h", DT_UC_VELOCITY, 1.0 / 3.6, 0.0, 0},
    {"m/s2", DT_UC_ACCELERATION, 1.0, 0.0, 0},
    {"s", DT_UC_TIME, 1.0, 0.0, 1},
    {"min", DT_UC_TIME, 60.0, 0.0, 0},
    {"h", DT_UC_TIME, 3600.0, 0.0, 0},
    {"N", DT_UC_FORCE, 1.0, 0.0, 1},
    {"N.m", DT_UC_TORQUE, 1.0, 0.0, 1},
    {"ohm", DT_UC_RESISTANCE, 1.0, 0.0, 1},
    {"m3/s", DT_UC_VOLUME_FLOW, 1.0, 0.0, 0},
    {"m3/h", DT_UC_VOLUME_FLOW, 1.0 / 3600.0, 0.0, 0},
    {"L/s", DT_UC_VOLUME_FLOW, 1e-3, 0.0, 0},
};

typedef struct prefix_def {
    const char *symbol;
    double factor;
} prefix_def;

/* Longest symbols first so "da" wins over "d". */
static const prefix_def prefixes[] = {
    {"da", 1e1},  {"\xC2\xB5", 1e-6}, {"Y", 1e24}, {"Z", 1e21}, {"E", 1e18},
    {"P", 1e15},  {"T", 1e12},        {"G", 1e9},  {"M", 1e6},  {"k", 1e3},
    {"h", 1e2},   {"d", 1e-1},        {"c", 1e-2}, {"m", 1e-3}, {"u", 1e-6},
    {"n", 1e-9},  {"p", 1e-12},       {"f", 1e-15}, {"a", 1e-18}, {"z", 1e-21},
    {"y", 1e-24},
};

static const char *const class_names[DT_UC__COUNT] = {
    [DT_UC_DIMENSIONLESS] = "dimensionless",
    [DT_UC_PER_UNIT] = "per_unit",
    [DT_UC_VOLTAGE] = "voltage",
    [DT_UC_CURRENT] = "current",
    [DT_UC_ACTIVE_POWER] = "active_power",
    [DT_UC_APPARENT_POWER] = "apparent_power",
    [DT_UC_REACTIVE_POWER] = "reactive_power",
    [DT_UC_ENERGY] = "energy",
    [DT_UC_FREQUENCY] = "frequency",
    [DT_UC_ANGLE] = "angle",
    [DT_UC_ANGULAR_VELOCITY] = "angular_velocity",
    [DT_UC_TEMPERATURE] = "temperature",
    [DT_UC_PRESSURE] = "pressure",
    [DT_UC_MASS] = "mass",
    [DT_UC_MASS_FLOW] = "mass_flow",
    [DT_UC_LENGTH] = "length",
    [DT_UC_VELOCITY] = "velocity",
    [DT_UC_ACCELERATION] = "acceleration",
    [DT_UC_TIME] = "time",
    [DT_UC_FORCE] = "force",
    [DT_UC_TORQUE] = "torque",
    [DT_UC_RESISTANCE] = "resistance",
    [DT_UC_VOLUME_FLOW] = "volume_flow",
};

const char *dt_unit_class_name(dt_unit_class cls)
{
    if ((unsigned)cls >= DT_UC__COUNT)
        return "?";
    return class_names[cls];
}

static const unit_def *find_exact(const char *s)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(units[i].symbol, s) == 0)
            return &units[i];
    return NULL;
}

int dt_unit_parse(const char *symbol, dt_unit *out)
{
    if (symbol == NULL || out == NULL)
        return DT_EINVAL;
    const unit_def *u = find_exact(symbol);
    if (u != NULL) {
        out->cls = u->cls;
        out->scale = u->scale;
        out->offset = u->offset;
        return DT_OK;
    }
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pl = strlen(prefixes[i].symbol);
        if (strncmp(symbol, prefixes[i].symbol, pl) != 0 || symbol[pl] == '\0')
            continue;
        u = find_exact(symbol + pl);
        if (u != NULL && u->prefixable) {
            out->cls = u->cls;
            out->scale = u->scale * prefixes[i].factor;
            out->offset = u->offset;
            return DT_OK;
        }
    }
    return DT_EUNIT;
}

int dt_unit_conversion(const dt_unit *from, const dt_unit *to, double *scale,
                       double *offset)
{
    if (!from || !to || !scale || !offset)
        return DT_EINVAL;
    if (from->cls != to->cls)
        return DT_EUNIT;
    /* base = v * sf + of = w * st + ot  =>  w = v * sf/st + (of - ot)/st */
    *scale = from->scale / to->scale;
    *offset = (from->offset - to->offset) / to->scale;
    return DT_OK;
}

/* Edit distance (insert, delete, substitute, adjacent swap) between short
 * strings, case-sensitive; symbols of 23 bytes or more count as far. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 23 || lb > 23)
        return 99;
    size_t d[24][24];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t c = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j - 1] + c;
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

static int same_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

/* Scores a candidate: a case-only difference is best, then the edit
 * distance, a unit of the wanted quantity winning ties. */
static void consider(const char *given, const char *cand, dt_unit_class cls,
                     dt_unit_class want, char *best, size_t cap, size_t *score)
{
    size_t sc = same_nocase(given, cand) ? 0 : 2 * distance(given, cand);
    if (sc > 0 && cls != want)
        sc++;
    if (sc < *score) {
        *score = sc;
        (void)snprintf(best, cap, "%s", cand);
    }
}

const char *dt__unit_suggest(const char *given, dt_unit_class want, char *buf, size_t cap)
{
    /* spellings from other conventions */
    static const struct { const char *from, *to; } alias[] = {
        {"C", "degC"}, {"\xC2\xB0" "C", "degC"}, {"celsius", "degC"}, {"F", "degF"},
        {"\xC2\xB0" "F", "degF"}, {"kelvin", "K"}, {"sec", "s"}, {"Nm", "N.m"},
        {"m^3/h", "m3/h"}, {"m^3/s", "m3/s"}, {"m/s^2", "m/s2"}, {"l/s", "L/s"},
    };
    if (given == NULL || cap == 0)
        return NULL;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (same_nocase(given, alias[i].from)) {
            (void)snprintf(buf, cap, "%s", alias[i].to);
            return buf;
        }
    size_t score = (size_t)-1;
    char cand[32];
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        consider(given, units[i].symbol, units[i].cls, want, buf, cap, &score);
        for (size_t k = 0; units[i].prefixable && k < sizeof prefixes / sizeof prefixes[0]; k++) {
            (void)snprintf(cand, sizeof cand, "%s%s", prefixes[k].symbol, units[i].symbol);
            consider(given, cand, units[i].cls, want, buf, cap, &score);
        }
    }
    /* two edits at most (and less than the symbol itself): beyond, a guess */
    return score <= 4 && score < 2 * strlen(given) ? buf : NULL;
}
