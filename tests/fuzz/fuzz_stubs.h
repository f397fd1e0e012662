/* fuzz_stubs.h: the few libnncore symbols a dataset plugin references, stubbed so that a fuzz
 * target can compile the plugin's .c file on its own (the targets call the parsers, never
 * create()). Fuzzing only; never linked into nntrain. */
#ifndef NN_FUZZ_STUBS_H
#define NN_FUZZ_STUBS_H

#include <nntrain/dataset.h>

int nn_params_is_set(const nn_params *p, const char *key) { (void)p; (void)key; return 0; }
int nn_params_has(const nn_params *p, const char *key) { (void)p; (void)key; return 0; }
int nn_params_bool(const nn_params *p, const char *key) { (void)p; (void)key; return 0; }
int64_t nn_params_int(const nn_params *p, const char *key) { (void)p; (void)key; return 0; }
double nn_params_float(const nn_params *p, const char *key) { (void)p; (void)key; return 0; }
const char *nn_params_str(const nn_params *p, const char *key) { (void)p; (void)key; return 0; }
int nn_params_enum(const nn_params *p, const char *key) { (void)p; (void)key; return -1; }

#endif
