/* json_text.c: see json_text.h. */
#include "json_text.h"

#include <stdio.h>

void nn_json_string(const char *s, nn_json_put put, void *ctx)
{
    put(ctx, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(ctx, esc, 2);
        } else if (c == '\n') {
            put(ctx, "\\n", 2);
        } else if (c == '\t') {
            put(ctx, "\\t", 2);
        } else if (c == '\r') {
            put(ctx, "\\r", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(ctx, esc, 6);
        } else {
            put(ctx, s, 1);
        }
    }
    put(ctx, "\"", 1);
}
