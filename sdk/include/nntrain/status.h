/* status.h: how errors cross the nntrain ABI.
 * Every function that can fail returns a negative status and, when given an nn_error, fills
 * it with one sentence a user can act on. Nothing here may exit, abort or longjmp. */
#ifndef NNTRAIN_STATUS_H
#define NNTRAIN_STATUS_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    NN_OK = 0,
    NN_EINVAL = -1,     /* bad argument, parameter or configuration value */
    NN_ENOMEM = -2,     /* out of memory */
    NN_EABI = -3,       /* plugin ABI mismatch or malformed descriptor */
    NN_EIO = -4,        /* file could not be read or written */
    NN_ENOTFOUND = -5,  /* no such plugin, file, key or tensor */
    NN_EEXIST = -6,     /* duplicate name */
    NN_EPERM = -7,      /* refused: insecure permissions */
    NN_ESHAPE = -8,     /* tensor shapes do not fit */
    NN_EFORMAT = -9,    /* malformed file contents */
    NN_ENOTSUP = -10,   /* valid request this build or plugin cannot do */
    NN_ENONFINITE = -11,/* a NaN or infinity appeared */
    NN_ECANCELED = -12, /* interrupted by the user */
    NN_EDLOPEN = -13,   /* dlopen/dlsym failed */
    NN_EINTERNAL = -14, /* a bug: an invariant did not hold */
};

#define NN_ERROR_MSG_MAX 512

/* One human sentence plus the status it explains. Zero-initialise before use. */
typedef struct nn_error {
    int status;
    char msg[NN_ERROR_MSG_MAX];
} nn_error;

/* returns a static string naming the status; never NULL */
const char *nn_strerror(int status);

/* Fills err (which may be NULL) and returns status, so that code can write
 * `return nn_error_set(err, NN_EINVAL, "layer '%s': ...", name);`.
 * Inline so that plugins need nothing from libnncore to report an error. */
static inline int nn_error_vset(nn_error *err, int status, const char *fmt, va_list ap)
{
    if (err) {
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return status;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int nn_error_set(nn_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nn_error_vset(err, status, fmt, ap);
    va_end(ap);
    return status;
}

/* Prepends "prefix: " to an existing message (used to add file:line or a layer name). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void nn_error_prefix(nn_error *err, const char *fmt, ...)
{
    char head[NN_ERROR_MSG_MAX];
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    int hl = vsnprintf(head, sizeof head - 2, fmt, ap);
    va_end(ap);
    if (hl < 0)
        return;
    size_t h = (size_t)hl < sizeof head - 3 ? (size_t)hl : sizeof head - 3;
    head[h++] = ':';
    head[h++] = ' ';
    size_t old = 0;
    while (old < NN_ERROR_MSG_MAX - 1 && err->msg[old])
        old++;
    if (h + old > NN_ERROR_MSG_MAX - 1)
        old = NN_ERROR_MSG_MAX - 1 - h;
    for (size_t i = old; i-- > 0;)
        err->msg[i + h] = err->msg[i];
    for (size_t i = 0; i < h; i++)
        err->msg[i] = head[i];
    err->msg[h + old] = 0;
}

#ifdef __cplusplus
}
#endif
#endif
