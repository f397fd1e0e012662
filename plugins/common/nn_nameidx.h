/* nn_nameidx.h: finding columns by name in a header of many columns (a CSV with 200k features)
 * in O(log n): the names sorted once, duplicates found on the way. The names stay the caller's
 * and must outlive the index. */
#ifndef NN_NAMEIDX_H
#define NN_NAMEIDX_H

#include <nntrain/status.h>

typedef struct nnd_name_at {
    const char *name;
    int col;
} nnd_name_at;

typedef struct nnd_nameidx {
    nnd_name_at *v; /* sorted by name, then column */
    int n;
} nnd_nameidx;

/* Indexes names[0..n). When two columns share a name, *dup_a < *dup_b are the first such pair
 * (the one whose second column comes first, as a reader scanning the header meets it), else
 * both are -1. returns NN_OK or NN_ENOMEM with err set. */
int nnd_nameidx_build(nnd_nameidx *x, char *const *names, int n, int *dup_a, int *dup_b,
                      nn_error *err);
/* the lowest column named name, or -1 */
int nnd_nameidx_find(const nnd_nameidx *x, const char *name);
void nnd_nameidx_free(nnd_nameidx *x);

#endif
