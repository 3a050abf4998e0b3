/* Little-endian integers and doubles in byte buffers, written and read byte
 * by byte so host endianness and struct layout never matter (the UDP and bus
 * wire formats). Not installed. */
#ifndef DTWIN_SRC_PLATFORM_LE_H
#define DTWIN_SRC_PLATFORM_LE_H

#include <stdint.h>
#include <string.h>

static inline void dt__put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void dt__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void dt__put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t dt__get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t dt__get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t dt__get64(const uint8_t *p)
{
    return (uint64_t)dt__get32(p) | (uint64_t)dt__get32(p + 4) << 32;
}
static inline void dt__putd(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    dt__put64(p, u);
}
static inline double dt__getd(const uint8_t *p)
{
    uint64_t u = dt__get64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif
