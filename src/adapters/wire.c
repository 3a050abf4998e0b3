/* Little-endian frame encoding; byte by byte so host endianness never matters. */
#include <string.h>

#include "dtwin/wire.h"

#include "../platform/le.h"

/* Nibble table for the reflected polynomial 0xEDB88320. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t dt_wire_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ crc_nibble[c & 15u];
        c = (c >> 4) ^ crc_nibble[c & 15u];
    }
    return ~c;
}

static const char *const error_names[DT_WIRE__COUNT] = {
    "ok",          "short",      "bad_magic", "bad_version", "bad_type",  "bad_flags",
    "bad_reserved", "empty",     "too_many",  "truncated",   "trailing",  "bad_crc",
    "bad_mac"};

const char *dt_wire_error_name(dt_wire_error e)
{
    return (unsigned)e < DT_WIRE__COUNT ? error_names[e] : "?";
}

/* The trailer and the most records of a version's frames. */
static size_t trailer_of(unsigned version)
{
    return version == DT_WIRE_VERSION_AUTH ? DT_WIRE_MAC_TRAILER : DT_WIRE_TRAILER;
}

static size_t max_records(unsigned version, uint8_t type)
{
    if (type == DT_WIRE_SAMPLES)
        return version == DT_WIRE_VERSION_AUTH ? DT_WIRE_MAX_SAMPLES_AUTH : DT_WIRE_MAX_SAMPLES;
    return version == DT_WIRE_VERSION_AUTH ? DT_WIRE_MAX_COMMANDS_AUTH : DT_WIRE_MAX_COMMANDS;
}

static size_t header(uint8_t *buf, size_t cap, uint8_t type, const dt_wire_header *h,
                     size_t n, size_t rec)
{
    if (h == NULL || buf == NULL)
        return 0;
    /* version 1 has no epoch: its bytes 18..19 are reserved and must be 0 */
    if (h->version < 1 || h->version > DT_WIRE_VERSION || (h->version == 1 && h->epoch != 0))
        return 0;
    if (n == 0 || n > max_records(h->version, type))
        return 0;
    size_t len = DT_WIRE_HEADER + n * rec + trailer_of(h->version);
    if (len > cap)
        return 0;
    dt__put32(buf, DT_WIRE_MAGIC);
    buf[4] = h->version;
    buf[5] = type;
    dt__put16(buf + 6, 0);
    dt__put32(buf + 8, h->source_id);
    dt__put32(buf + 12, h->seq);
    dt__put16(buf + 16, (uint16_t)n);
    dt__put16(buf + 18, h->epoch);
    return len;
}

/* The trailer: the CRC, or (version 3) the MAC under key. */
static size_t seal(uint8_t *buf, size_t len, const dt_key *key)
{
    if (buf[4] != DT_WIRE_VERSION_AUTH) {
        dt__put32(buf + len - DT_WIRE_TRAILER, dt_wire_crc32(buf, len - DT_WIRE_TRAILER));
        return len;
    }
    return dt_mac(key, buf, len - DT_WIRE_MAC_TRAILER, buf + len - DT_WIRE_MAC_TRAILER) == 0 ? len
                                                                                             : 0;
}

static size_t samples(uint8_t *buf, size_t cap, const dt_wire_header *h, const dt_wire_sample *r,
                      size_t n, const dt_key *key)
{
    size_t len = header(buf, cap, DT_WIRE_SAMPLES, h, n, DT_WIRE_SAMPLE_RECORD);
    if (len == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = buf + DT_WIRE_HEADER + i * DT_WIRE_SAMPLE_RECORD;
        dt__put32(p, r[i].channel);
        dt__put32(p + 4, r[i].flags);
        dt__put64(p + 8, (uint64_t)r[i].t_source);
        dt__putd(p + 16, r[i].value);
        dt__putd(p + 24, r[i].variance);
    }
    return seal(buf, len, key);
}

static size_t commands(uint8_t *buf, size_t cap, const dt_wire_header *h,
                       const dt_wire_command *r, size_t n, const dt_key *key)
{
    size_t len = header(buf, cap, DT_WIRE_COMMANDS, h, n, DT_WIRE_COMMAND_RECORD);
    if (len == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = buf + DT_WIRE_HEADER + i * DT_WIRE_COMMAND_RECORD;
        dt__put32(p, r[i].channel);
        dt__put32(p + 4, r[i].flags);
        dt__put64(p + 8, r[i].seq);
        dt__put64(p + 16, (uint64_t)r[i].t_issued);
        dt__put64(p + 24, (uint64_t)r[i].t_deadline);
        dt__putd(p + 32, r[i].value);
    }
    return seal(buf, len, key);
}

size_t dt_wire_encode_samples_v2(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                 const dt_wire_sample *r, size_t n)
{
    if (h == NULL || h->version == DT_WIRE_VERSION_AUTH)
        return 0; /* version 3 needs its key: dt_wire_encode_samples_auth */
    return samples(buf, cap, h, r, n, NULL);
}

size_t dt_wire_encode_commands_v2(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                  const dt_wire_command *r, size_t n)
{
    if (h == NULL || h->version == DT_WIRE_VERSION_AUTH)
        return 0;
    return commands(buf, cap, h, r, n, NULL);
}

size_t dt_wire_encode_samples_auth(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                   const dt_wire_sample *r, size_t n, const dt_key *key)
{
    if (h == NULL || key == NULL || dt_key_kind_of(key) != DT_KEY_MAC)
        return 0;
    dt_wire_header v3 = *h;
    v3.version = DT_WIRE_VERSION_AUTH;
    return samples(buf, cap, &v3, r, n, key);
}

size_t dt_wire_encode_commands_auth(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                    const dt_wire_command *r, size_t n, const dt_key *key)
{
    if (h == NULL || key == NULL || dt_key_kind_of(key) != DT_KEY_MAC)
        return 0;
    dt_wire_header v3 = *h;
    v3.version = DT_WIRE_VERSION_AUTH;
    return commands(buf, cap, &v3, r, n, key);
}

/* The version-1 encoders: what receivers older than version 2 accept. */
size_t dt_wire_encode_samples(uint8_t *buf, size_t cap, uint32_t source_id, uint32_t seq,
                              const dt_wire_sample *r, size_t n)
{
    dt_wire_header h = {1, DT_WIRE_SAMPLES, source_id, seq, 0, 0};
    return dt_wire_encode_samples_v2(buf, cap, &h, r, n);
}

size_t dt_wire_encode_commands(uint8_t *buf, size_t cap, uint32_t source_id, uint32_t seq,
                               const dt_wire_command *r, size_t n)
{
    dt_wire_header h = {1, DT_WIRE_COMMANDS, source_id, seq, 0, 0};
    return dt_wire_encode_commands_v2(buf, cap, &h, r, n);
}

dt_wire_error dt_wire_decode_header(const uint8_t *buf, size_t len, dt_wire_header *h)
{
    if (buf == NULL || len < DT_WIRE_HEADER + DT_WIRE_TRAILER)
        return DT_WIRE_SHORT;
    if (dt__get32(buf) != DT_WIRE_MAGIC)
        return DT_WIRE_BAD_MAGIC;
    if (buf[4] < 1 || buf[4] > DT_WIRE_VERSION)
        return DT_WIRE_BAD_VERSION;
    size_t rec;
    if (buf[5] == DT_WIRE_SAMPLES)
        rec = DT_WIRE_SAMPLE_RECORD;
    else if (buf[5] == DT_WIRE_COMMANDS)
        rec = DT_WIRE_COMMAND_RECORD;
    else
        return DT_WIRE_BAD_TYPE;
    size_t max = max_records(buf[4], buf[5]), trailer = trailer_of(buf[4]);
    if (dt__get16(buf + 6) != 0)
        return DT_WIRE_BAD_FLAGS;
    if (buf[4] == 1 && dt__get16(buf + 18) != 0)
        return DT_WIRE_BAD_RESERVED; /* version 2 carries the epoch there */
    size_t n = dt__get16(buf + 16);
    if (n == 0)
        return DT_WIRE_EMPTY;
    if (n > max)
        return DT_WIRE_TOO_MANY;
    size_t want = DT_WIRE_HEADER + n * rec + trailer;
    if (len < want)
        return DT_WIRE_TRUNCATED;
    if (len > want)
        return DT_WIRE_TRAILING;
    if (h != NULL) {
        h->version = buf[4];
        h->type = buf[5];
        h->source_id = dt__get32(buf + 8);
        h->seq = dt__get32(buf + 12);
        h->count = (uint16_t)n;
        h->epoch = dt__get16(buf + 18);
    }
    return DT_WIRE_OK;
}

dt_wire_error dt_wire_check_crc(const uint8_t *buf, size_t len)
{
    if (buf == NULL || len < DT_WIRE_HEADER + DT_WIRE_TRAILER)
        return DT_WIRE_SHORT;
    if (buf[4] == DT_WIRE_VERSION_AUTH)
        return DT_WIRE_BAD_MAC; /* no CRC to check: only its key tells */
    if (dt__get32(buf + len - DT_WIRE_TRAILER) != dt_wire_crc32(buf, len - DT_WIRE_TRAILER))
        return DT_WIRE_BAD_CRC;
    return DT_WIRE_OK;
}

dt_wire_error dt_wire_check_mac(const uint8_t *buf, size_t len, const dt_key *key)
{
    if (buf == NULL || len < DT_WIRE_HEADER + DT_WIRE_MAC_TRAILER)
        return DT_WIRE_SHORT;
    if (buf[4] != DT_WIRE_VERSION_AUTH || key == NULL ||
        dt_mac_verify(key, buf, len - DT_WIRE_MAC_TRAILER, buf + len - DT_WIRE_MAC_TRAILER) != 0)
        return DT_WIRE_BAD_MAC;
    return DT_WIRE_OK;
}

dt_wire_error dt_wire_decode_auth(const uint8_t *buf, size_t len, const dt_key *key,
                                  dt_wire_header *h)
{
    dt_wire_header tmp;
    dt_wire_error e = dt_wire_decode_header(buf, len, &tmp);
    /* a key given: version 3 only, as a keyed source (no downgrade to a
     * frame anyone can make with a valid CRC) */
    if (e == DT_WIRE_OK)
        e = tmp.version == DT_WIRE_VERSION_AUTH || key != NULL ? dt_wire_check_mac(buf, len, key)
                                                               : dt_wire_check_crc(buf, len);
    if (e == DT_WIRE_OK && h != NULL)
        *h = tmp; /* h is filled only for a frame that is valid throughout */
    return e;
}

dt_wire_error dt_wire_decode(const uint8_t *buf, size_t len, dt_wire_header *h)
{
    return dt_wire_decode_auth(buf, len, NULL, h);
}

void dt_wire_sample_at(const uint8_t *buf, size_t i, dt_wire_sample *o)
{
    const uint8_t *p = buf + DT_WIRE_HEADER + i * DT_WIRE_SAMPLE_RECORD;
    o->channel = dt__get32(p);
    o->flags = dt__get32(p + 4);
    o->t_source = (int64_t)dt__get64(p + 8);
    o->value = dt__getd(p + 16);
    o->variance = dt__getd(p + 24);
}

void dt_wire_command_at(const uint8_t *buf, size_t i, dt_wire_command *o)
{
    const uint8_t *p = buf + DT_WIRE_HEADER + i * DT_WIRE_COMMAND_RECORD;
    o->channel = dt__get32(p);
    o->flags = dt__get32(p + 4);
    o->seq = dt__get64(p + 8);
    o->t_issued = (int64_t)dt__get64(p + 16);
    o->t_deadline = (int64_t)dt__get64(p + 24);
    o->value = dt__getd(p + 32);
}
