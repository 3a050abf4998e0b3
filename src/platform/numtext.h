/* Numbers as text that a machine reads (JSON, CSV, payloads), the same in
 * every locale (internal, not installed).
 *
 * printf's %g and strtod follow LC_NUMERIC: once a host program calls
 * setlocale(LC_ALL, "") in a locale with a decimal comma (de_DE, fr_FR, ...)
 * they write and read "0,5", and strtod stops at the '.' of "0.5". These do
 * not: the parser checks the grammar by hand and hands strtod only digits and
 * an exponent ("12345e-2"), which read the same in every locale (and glibc's
 * strtod rounds them correctly); the formatter picks the digits and the
 * exponent out of %e's output, whatever the locale's decimal point is, and
 * writes the '.' itself. No allocation, no global state. */
#ifndef DTWIN_SRC_NUMTEXT_H
#define DTWIN_SRC_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes any number written here needs, NUL included ("-1.2345678901234567e-308"
 * is 24). */
#define DT__NUM_TEXT 32

/* Significant digits a dt__decimal keeps: more than the 768 that can decide
 * how a decimal rounds to a double, so a longer text rounds the same (the
 * digits dropped beyond them are kept as one sticky '1'). */
#define DT__NUM_DIGITS 800

typedef enum dt__num_result {
    DT__NUM_OK = 0,
    DT__NUM_EMPTY,     /* nothing, or only ASCII whitespace */
    DT__NUM_SYNTAX,    /* not [+-]digits[.digits][(e|E)[+-]digits] */
    DT__NUM_NONFINITE, /* nan, inf or infinity (any case, with a sign) */
    DT__NUM_OVERFLOW   /* a decimal number beyond a double's range (1e309) */
} dt__num_result;

/* A decimal number's parts: value = (neg ? -1 : 1) * dig * 10^exp10, dig the
 * significant digits as an integer (leading zeros dropped; nd 0 for zero). */
typedef struct dt__decimal {
    char dig[DT__NUM_DIGITS + 1];
    int nd;
    long exp10;
    int neg;
} dt__decimal;

/* Splits exactly len bytes of [+-]digits[.digits][(e|E)[+-]digits] (at least
 * one mantissa digit; "5." and ".5" too; no whitespace). 0, or -1 if the text
 * is not that. exp10 is exact within +-400000 and clamped beyond, where
 * dig * 10^exp10 is 0 or infinite for a double (and an int64) whatever the
 * digits. */
int dt__num_split(const char *s, size_t len, dt__decimal *d);

/* Number text of n bytes (ASCII whitespace around it allowed; any length) to
 * a double, correctly rounded: DT__NUM_OK with *out set; DT__NUM_NONFINITE
 * with *out NaN or +-infinity as the word says (strtod's reading); else the
 * result with *out unchanged. A magnitude below a double's reads as 0 (or a
 * subnormal), as strtod reads it. Hexadecimal is refused (DT__NUM_SYNTAX). */
int dt__num_parse(const char *s, size_t n, double *out);

/* Writes v as printf's "%.{prec}g" does in the C locale (prec 1..17): "21.5",
 * "1e+300", "-0", "1.25e-07". Returns the length, 0 when v is not finite,
 * prec is out of range or cap < DT__NUM_TEXT. */
size_t dt__num_format_g(char *buf, size_t cap, double v, int prec);

/* Writes a finite v as the shortest of %.15g, %.16g and %.17g (C locale)
 * that reads back to exactly v. Returns the length, 0 when v is not finite
 * or cap < DT__NUM_TEXT. */
size_t dt__num_format(char *buf, size_t cap, double v);

/* Writes t ns as seconds with exactly 9 decimals ("12.500000000",
 * "-0.000000001"): what printf's "%.9f" writes of t / 1e9 in the C locale,
 * but exact for any int64 (no double in between). Returns the length, 0 when
 * cap < DT__NUM_TEXT. */
size_t dt__num_format_ns(char *buf, size_t cap, int64_t t);

#endif
