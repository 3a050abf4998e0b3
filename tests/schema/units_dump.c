/* Reads unit symbols, one a line, and prints "symbol<TAB>quantity" as
 * dt_unit_parse() classifies it, or "symbol<TAB>-" for a symbol it refuses:
 * tests/schema/validate.py compares the schema's unit patterns with it. */
#include <stdio.h>
#include <string.h>

#include "dtwin/dtwin.h"

int main(void)
{
    char line[256];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        dt_unit u;
        if (dt_unit_parse(line, &u) == DT_OK)
            printf("%s\t%s\n", line, dt_unit_class_name(u.cls));
        else
            printf("%s\t-\n", line);
    }
    return ferror(stdin) || fflush(stdout) != 0;
}
