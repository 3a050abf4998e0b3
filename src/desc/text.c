/* Checks of the raw text of a description, before cJSON sees it. */
#include <string.h>

#include "desc.h"

size_t dt__utf8_check(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            min = 0x10000;
        } else {
            return i + 1; /* stray continuation, overlong lead or > U+10FFFF */
        }
        if (len - i <= need)
            return i + 1; /* truncated sequence */
        unsigned cp = c & (0x3Fu >> need);
        for (size_t k = 1; k <= need; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80)
                return i + 1;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i + 1; /* overlong, out of range, or a surrogate */
        i += need + 1;
    }
    return 0;
}

size_t dt__json_depth(const char *s, size_t len, int *unclosed)
{
    size_t depth = 0, best = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > best)
                best = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    if (unclosed != NULL)
        *unclosed = depth > 0 || in_str;
    return best;
}

static int hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t dt__json_nul_escape(const char *s, size_t len)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                /* \u0000, and \u without four hex digits, which cJSON 1.7.15
                 * decodes as code point 0 ("pump\uzzzz_2" read as "pump") */
                if (i + 1 < len && s[i + 1] == 'u') {
                    int hex = len - i >= 6;
                    for (size_t k = 2; hex && k < 6; k++)
                        hex = hex_digit(s[i + k]);
                    if (!hex || memcmp(s + i + 2, "0000", 4) == 0)
                        return i + 1;
                }
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        }
    }
    return 0;
}

void dt__line_col(const char *s, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)s[i] & 0xC0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}
