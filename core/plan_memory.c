/* plan_memory.c: where a compiled plan's tensors live, and the arenas plans share.
 *
 * Activation gradients live only from the backward call that writes one to the call that
 * reads it (the producer's, or the sum over a producer's several consumers), so they are
 * placed by their intervals in backward order, first fit: a chain of layers needs about its
 * two largest neighbouring gradients, not all of them. A layer's backward may then overwrite
 * its grad_output (nn_layer_setup.grad_output_scratch): nothing reads it afterwards.
 *
 * Plans of one model run one at a time and keep nothing in their arena from one step to the
 * next (parameters, their gradients and state buffers live in the model), so every plan takes
 * the model's shared arena when it is big enough; a bigger plan gets a new one, which becomes
 * the shared arena while the plans bound to the old one keep it. (Each in-process replica has
 * shared arenas of its own: the replicas' plans run at once.) A training run's validation
 * and test plans, and the short last batch of an epoch, cost no activation memory then. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

typedef struct nn_arena {
    void *mem;
    size_t bytes;
    int refs; /* the plans bound to it, and the model while it is the shared one */
} nn_arena;

typedef struct grad_item {
    int start, end;  /* backward calls, in order, that it must survive (inclusive) */
    size_t bytes, off;
    size_t *out;     /* where its offset goes */
} grad_item;

static int by_start(const void *a, const void *b)
{
    const grad_item *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

static int by_off(const void *a, const void *b)
{
    const grad_item *const *x = a, *const *y = b;
    return (*x)->off < (*y)->off ? -1 : (*x)->off > (*y)->off;
}

/* the lowest offset where it overlaps none of the placed items that are live with it */
static size_t first_fit(grad_item *it, grad_item *placed, int n, grad_item **live)
{
    int k = 0;
    for (int j = 0; j < n; j++)
        if (placed[j].start <= it->end && it->start <= placed[j].end)
            live[k++] = &placed[j];
    qsort(live, (size_t)k, sizeof *live, by_off);
    size_t off = 0;
    for (int j = 0; j < k; j++) {
        if (off + it->bytes <= live[j]->off)
            break;
        if (live[j]->off + live[j]->bytes > off)
            off = live[j]->off + live[j]->bytes;
    }
    return off;
}

int nn_plan_place_grads(const nn_plan *p, size_t *grad_off, size_t *edge_off, size_t *bytes,
                        nn_error *err)
{
    const nn_model *m = p->m;
    int n = m->n_layers, last = m->order[n - 1], count = 0;
    *bytes = 0;
    if (!p->training)
        return NN_OK;
    int *pos = malloc((size_t)n * sizeof *pos);
    grad_item *items = calloc((size_t)(n + p->n_edges), sizeof *items);
    grad_item **live = calloc((size_t)(n + p->n_edges), sizeof *live);
    if (!pos || !items || !live) {
        free(pos);
        free(items);
        free(live);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    for (int oi = 0; oi < n; oi++)
        pos[m->order[oi]] = n - 1 - oi; /* backward runs the order in reverse */
    for (int i = 0; i < n; i++) {
        if (!p->needs_grad[i] && i != last)
            continue;
        grad_item *it = &items[count++];
        it->bytes = nn_align64(nn_tensor_nbytes(&p->outputs[i]));
        it->out = &grad_off[i];
        it->start = it->end = pos[i];
        if (i == last || p->n_consumers[i] >= 2)
            continue; /* the loss writes the last one; several consumers: summed in place */
        for (int c = 0; c < n; c++)
            for (int k = 0; k < nn_layer_n_in(&m->layers[c]); k++)
                if (m->layers[c].inputs[k] == i)
                    it->start = pos[c]; /* written by its single consumer */
    }
    for (int e = 0; e < p->n_edges; e++) {
        const edge *ed = &p->edges[e];
        grad_item *it = &items[count++];
        it->bytes = nn_align64(nn_tensor_nbytes(&ed->grad));
        it->out = &edge_off[e];
        it->start = pos[ed->consumer];
        it->end = pos[m->layers[ed->consumer].inputs[ed->slot]];
    }
    qsort(items, (size_t)count, sizeof *items, by_start);
    for (int j = 0; j < count; j++) {
        items[j].off = first_fit(&items[j], items, j, live);
        *items[j].out = items[j].off;
        if (items[j].off + items[j].bytes > *bytes)
            *bytes = items[j].off + items[j].bytes;
    }
    free(pos);
    free(items);
    free(live);
    return NN_OK;
}

static void arena_put(nn_dev *dev, nn_arena *a)
{
    if (a && --a->refs == 0) {
        nn_dev_free(dev, a->mem);
        free(a);
    }
}

int nn_plan_arena_take(nn_plan *p, size_t bytes, nn_error *err)
{
    nn_model *m = p->m;
    nn_arena **shared = &m->arena[p->replica];
    nn_arena *a = *shared;
    if (a && a->bytes >= bytes) {
        /* what the plans before left there: zero, as a new arena would be */
        int rc = bytes ? nn_dev_memset(m->dev, a->mem, 0, bytes, err) : NN_OK;
        if (rc)
            return rc;
        a->refs++;
        p->arena_ref = a;
        p->arena = a->mem;
        return NN_OK;
    }
    a = calloc(1, sizeof *a);
    if (!a)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    a->mem = nn_dev_alloc(m->dev, bytes ? bytes : 1, err); /* zeroed */
    if (!a->mem) {
        free(a);
        return err->status;
    }
    a->bytes = bytes;
    a->refs = 2; /* this plan, and the model as its shared arena */
    arena_put(m->dev, *shared);
    *shared = a;
    p->arena_ref = a;
    p->arena = a->mem;
    return NN_OK;
}

void nn_plan_arena_release(nn_plan *p)
{
    arena_put(p->m->dev, p->arena_ref);
    p->arena_ref = NULL;
    p->arena = NULL;
}

void nn_model_arena_release(nn_model *m)
{
    for (int r = 0; r < NN_MAX_REPLICAS; r++) {
        arena_put(m->dev, m->arena[r]);
        m->arena[r] = NULL;
    }
}

size_t nn_model_arena_bytes(const nn_model *m)
{
    /* the distinct arenas of its plans, and the shared ones */
    size_t total = 0;
    for (int r = 0; r < NN_MAX_REPLICAS; r++)
        total += m->arena[r] ? m->arena[r]->bytes : 0;
    for (const nn_plan *p = m->plans; p; p = p->next) {
        int seen = p->arena_ref == m->arena[p->replica];
        for (const nn_plan *q = m->plans; q != p && !seen; q = q->next)
            seen = q->arena_ref == p->arena_ref;
        if (!seen && p->arena_ref)
            total += p->arena_ref->bytes;
    }
    return total;
}
