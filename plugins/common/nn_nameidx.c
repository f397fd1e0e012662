/* nn_nameidx.c: a sorted index of column names (nn_nameidx.h). Sorting beats hashing here for
 * one reason: the duplicates come out of the same pass, and the order is deterministic. */
#include <stdlib.h>
#include <string.h>

#include "nn_nameidx.h"

static int by_name_col(const void *a, const void *b)
{
    const nnd_name_at *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->col > y->col) - (x->col < y->col);
}

int nnd_nameidx_build(nnd_nameidx *x, char *const *names, int n, int *dup_a, int *dup_b,
                      nn_error *err)
{
    *dup_a = *dup_b = -1;
    x->n = 0;
    x->v = malloc((size_t)(n > 0 ? n : 1) * sizeof *x->v);
    if (!x->v)
        return nn_error_set(err, NN_ENOMEM, "out of memory indexing %d column names", n);
    for (int i = 0; i < n; i++)
        x->v[i] = (nnd_name_at){names[i], i};
    qsort(x->v, (size_t)n, sizeof *x->v, by_name_col);
    x->n = n;
    for (int i = 1; i < n; i++)
        if (!strcmp(x->v[i].name, x->v[i - 1].name) &&
            (*dup_b < 0 || x->v[i].col < *dup_b) &&
            (i < 2 || strcmp(x->v[i - 1].name, x->v[i - 2].name) != 0)) {
            *dup_a = x->v[i - 1].col; /* the first two columns of that name */
            *dup_b = x->v[i].col;
        }
    return NN_OK;
}

int nnd_nameidx_find(const nnd_nameidx *x, const char *name)
{
    int lo = 0, hi = x->n; /* the first entry >= name */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && !strcmp(x->v[lo].name, name) ? x->v[lo].col : -1;
}

void nnd_nameidx_free(nnd_nameidx *x)
{
    free(x->v);
    x->v = NULL;
    x->n = 0;
}
