/* json_text.h: a C string written as a JSON string literal (quotes, backslash escapes, \uXXXX
 * for control bytes), for the JSON the core writes into files: safetensors headers
 * (checkpoint.c) and ONNX metadata (export_onnx.c). Bytes >= 0x80 pass through, so UTF-8
 * stays UTF-8. Never allocates: put() receives the pieces. */
#ifndef NN_JSON_TEXT_H
#define NN_JSON_TEXT_H

#include <stddef.h>

typedef void (*nn_json_put)(void *ctx, const char *p, size_t n);

void nn_json_string(const char *s, nn_json_put put, void *ctx);

#endif
