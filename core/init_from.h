/* init_from.h: a fresh training run starting from weights in a safetensors file (PyTorch's
 * state dict, another run's checkpoint): [train] init_from, init_map, init_strict, and
 * `nntrain train --init-from FILE`. Core-only. */
#ifndef NN_INIT_FROM_H
#define NN_INIT_FROM_H

#include <stdio.h>

#include "session.h"

typedef struct nn_init_opts {
    const char *path;      /* the safetensors file */
    const char *map;       /* "FILE_PREFIX=MODEL_PREFIX, ..." (NULL or "": names as they are) */
    int strict;            /* every model tensor loaded and every file tensor used */
    int allow_nonfinite;
    const char *where;     /* "model.ini: [train] init_from" for messages */
} nn_init_opts;

typedef struct nn_init_report {
    int loaded, bookkeeping, optimizer;
    int n_missing, n_unused;
    char missing[2048];    /* model tensors the file had nothing for, comma-separated */
    char unused[2048];     /* file tensors the model has nothing for */
} nn_init_report;

/* Loads every file tensor whose (mapped) name is a model tensor of the same dtype and shape
 * into the session's model (host copy, then to the device). A dtype or shape mismatch is an
 * error naming both; so is, with strict, anything missing or unused, and, always, a file
 * of which nothing matches. r lists what was not loaded. */
int nn_init_from(nn_session *s, const nn_init_opts *o, nn_init_report *r, nn_error *err);
/* "init-from F: loaded 4 of the model's 6 tensors" and the lists, one line each */
void nn_init_report_print(FILE *f, const char *path, const nn_init_report *r, int total);

#endif
