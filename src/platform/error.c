#include "dtwin/error.h"

const char *dt_strerror(int code)
{
    switch (code) {
    case DT_OK:
        return "success";
#define DT__ERR_TEXT(name, val, text)                                          \
    case DT_##name:                                                            \
        return text;
        DT_ERRNO_MAP(DT__ERR_TEXT)
#undef DT__ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *dt_err_name(int code)
{
    switch (code) {
    case DT_OK:
        return "DT_OK";
#define DT__ERR_NAME(name, val, text)                                          \
    case DT_##name:                                                            \
        return "DT_" #name;
        DT_ERRNO_MAP(DT__ERR_NAME)
#undef DT__ERR_NAME
    default:
        return "DT_UNKNOWN";
    }
}
