#include "dtwin/version.h"

const char *dt_version(void) { return DT_VERSION_STRING; }
int dt_version_number(void) { return DT_VERSION_NUMBER; }
