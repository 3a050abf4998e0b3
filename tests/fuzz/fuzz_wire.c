/* libFuzzer: the UDP frame decoder. A frame it accepts must be readable record
 * by record within its length, and re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

static void check_frame(const uint8_t *data, size_t size);

/* Each input is tried as sent and, so that mutations get past the checksum to
 * the record checks and the accept path, once more with its trailer set to
 * the correct CRC-32 (little-endian, over everything before it). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > DT_WIRE_MAX_DATAGRAM)
        return 0;
    check_frame(data, size);
    if (size >= DT_WIRE_HEADER + DT_WIRE_TRAILER) {
        static uint8_t fixed[DT_WIRE_MAX_DATAGRAM];
        memcpy(fixed, data, size);
        uint32_t crc = dt_wire_crc32(fixed, size - DT_WIRE_TRAILER);
        for (int i = 0; i < 4; i++)
            fixed[size - DT_WIRE_TRAILER + (size_t)i] = (uint8_t)(crc >> (8 * i));
        check_frame(fixed, size);
    }
    return 0;
}

static void check_frame(const uint8_t *data, size_t size)
{
    /* the decoder reads only what it is given: copy to an exact-size buffer so
     * ASan sees any read past it */
    uint8_t *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    dt_wire_header h;
    dt_wire_error e = dt_wire_decode(buf, size, &h);
    FUZZ_CHECK(dt_wire_error_name(e) != NULL);
    if (e == DT_WIRE_OK) {
        size_t rec = h.type == DT_WIRE_SAMPLES ? DT_WIRE_SAMPLE_RECORD : DT_WIRE_COMMAND_RECORD;
        FUZZ_CHECK(DT_WIRE_HEADER + (size_t)h.count * rec + DT_WIRE_TRAILER <= size);
        static dt_wire_sample ss[DT_WIRE_MAX_SAMPLES];
        static dt_wire_command cs[DT_WIRE_MAX_COMMANDS];
        static uint8_t again[DT_WIRE_MAX_DATAGRAM];
        for (size_t i = 0; i < h.count; i++) {
            if (h.type == DT_WIRE_SAMPLES)
                dt_wire_sample_at(buf, i, &ss[i]);
            else
                dt_wire_command_at(buf, i, &cs[i]);
        }
        size_t n = h.type == DT_WIRE_SAMPLES
                       ? dt_wire_encode_samples(again, sizeof again, h.source_id, h.seq, ss, h.count)
                       : dt_wire_encode_commands(again, sizeof again, h.source_id, h.seq, cs,
                                                 h.count);
        FUZZ_CHECK(n == size && memcmp(again, buf, size) == 0); /* decode o encode = id */
    }
    free(buf);
}
