/* libFuzzer: the UDP frame decoder. A frame it accepts must be readable record
 * by record within its length, and re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > DT_WIRE_MAX_DATAGRAM)
        return 0;
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
    return 0;
}
