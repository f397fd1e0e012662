/* params.h: the declarative parameter schema of a plugin, and the parsed values it receives.
 * A plugin lists its keys once; the core parses, checks and documents them, so a plugin's
 * create() only reads values that are already valid. */
#ifndef NNTRAIN_PARAMS_H
#define NNTRAIN_PARAMS_H

#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_param_type {
    NN_PARAM_BOOL = 1,   /* true/false, yes/no, on/off, 1/0 */
    NN_PARAM_INT,        /* 64-bit signed integer */
    NN_PARAM_FLOAT,      /* double */
    NN_PARAM_STRING,     /* any text */
    NN_PARAM_ENUM,       /* one of .choices */
    NN_PARAM_INT_LIST,   /* comma-separated integers; .range applies to each */
    NN_PARAM_FLOAT_LIST, /* comma-separated numbers; .range applies to each */
    NN_PARAM_PATH,       /* a file or directory (ABI 0.3): a relative path written in a model
                            file reaches the plugin resolved against that file's directory */
} nn_param_type;

/* the longest key name a schema may declare, in bytes */
#define NN_PARAM_NAME_MAX 64

/* One key of a plugin's schema. An array of these ends with an entry whose name is NULL.
 *   .name     [a-z0-9_], 1 to NN_PARAM_NAME_MAX bytes
 *   .def      default as text, parsed like user input; NULL means "no default"
 *   .range    interval for numbers, e.g. "[0, 1)", "(0, inf)", "[1, 65535]"; NULL = any; an
 *             empty one ("(1, 1)", "[1, 1)") is refused: no value would fit. A float
 *             (or float list item) must stay in it rounded to float32 too: momentum
 *             0.99999999 in [0, 1) is refused, since kernels would run with 1.0f
 *   .choices  for NN_PARAM_ENUM: "max|min"; NULL otherwise
 *   .required the user must give it (then .def must be NULL)
 *   .doc      required, one line: like .def, .range and .choices it may hold no control
 *             character (no LF, CR, TAB, ESC) or DEL; the registry refuses the descriptor */
typedef struct nn_param_spec {
    const char *name;
    nn_param_type type;
    const char *def;
    const char *range;
    const char *choices;
    int required;
    const char *doc;
    const void *reserved[2];
} nn_param_spec;

/* Parsed, validated values for one plugin instance: opaque. Read with the getters below,
 * which take a key of the plugin's own schema (another key is a programming error and reads
 * as zero/NULL). Pointers returned are borrowed and valid while the nn_params lives. */
typedef struct nn_params nn_params;

int nn_params_is_set(const nn_params *p, const char *key); /* given by the user (not default) */
int nn_params_has(const nn_params *p, const char *key);    /* has a value (user or default) */
int nn_params_bool(const nn_params *p, const char *key);
int64_t nn_params_int(const nn_params *p, const char *key);
double nn_params_float(const nn_params *p, const char *key);
const char *nn_params_str(const nn_params *p, const char *key); /* STRING, PATH or ENUM; NULL if unset */
int nn_params_enum(const nn_params *p, const char *key);        /* index into choices, -1 unset */
const int64_t *nn_params_ints(const nn_params *p, const char *key, int *n);
const double *nn_params_floats(const nn_params *p, const char *key, int *n);
/* where this instance was configured, e.g. "model.ini [layer.fc1]"; for messages */
const char *nn_params_origin(const nn_params *p);

/* Builds the parameters of `schema` from "key=value" strings, exactly as the core does from a
 * model file (defaults filled in, every value checked), so a plugin's own unit test can call
 * its create() directly. kv is NULL-terminated and may be NULL; origin names the instance in
 * messages ("[layer.test]"; NULL = "[test]"). On success *out is owned: nn_params_free() it.
 * On failure err names the key, the value and what was expected. Exported by libnncore. */
int nn_params_new(const nn_param_spec *schema, const char *const *kv, const char *origin,
                  nn_params **out, nn_error *err);
void nn_params_free(nn_params *p); /* NULL is allowed */

#ifdef __cplusplus
}
#endif
#endif
