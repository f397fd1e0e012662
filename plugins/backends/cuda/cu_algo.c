/* cu_algo.c: the algorithm cache of cu_algo.h: a small array searched linearly (a model has
 * tens of distinct problem shapes, looked up at bind time only, never per step). */
#include <stdlib.h>
#include <string.h>

#include "cu_algo.h"

int cu_algo_key_make(cu_algo_key *k, int kind, int n, const int64_t *v)
{
    memset(k, 0, sizeof *k);
    if (n < 0 || n > CU_ALGO_KEY)
        return -1;
    k->kind = kind;
    k->n = n;
    memcpy(k->v, v, sizeof *v * (size_t)n);
    return 0;
}

static int same_key(const cu_algo_key *a, const cu_algo_key *b)
{
    return a->kind == b->kind && a->n == b->n &&
           memcmp(a->v, b->v, sizeof *a->v * (size_t)a->n) == 0;
}

const cu_algo_entry *cu_algo_find(cu_algo_cache *c, const cu_algo_key *k)
{
    for (int i = 0; i < c->n; i++)
        if (same_key(&c->e[i].key, k)) {
            c->hits++;
            return &c->e[i];
        }
    c->misses++;
    return NULL;
}

int cu_algo_put(cu_algo_cache *c, const cu_algo_key *k, const void *value, size_t size,
                size_t workspace)
{
    if (size > CU_ALGO_VALUE)
        return -1;
    cu_algo_entry *e = NULL;
    for (int i = 0; i < c->n && !e; i++)
        if (same_key(&c->e[i].key, k))
            e = &c->e[i];
    if (!e) {
        if (c->n == c->cap) {
            int cap = c->cap ? 2 * c->cap : 16;
            cu_algo_entry *l = realloc(c->e, sizeof *l * (size_t)cap);
            if (!l)
                return -1;
            c->e = l;
            c->cap = cap;
        }
        e = &c->e[c->n++];
    }
    memset(e, 0, sizeof *e);
    e->key = *k;
    memcpy(e->value, value, size);
    e->workspace = workspace;
    return 0;
}

void cu_algo_free(cu_algo_cache *c)
{
    free(c->e);
    memset(c, 0, sizeof *c);
}
