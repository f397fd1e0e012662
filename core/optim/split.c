/* split.c: the parameters of an elementwise optimizer (NN_CAP_ELEMENTWISE) cut into slices of
 * about equal length, so that [train] replicas' threads can step them at once. A slice is a
 * list of pieces: 1-D views of a range of one parameter's value, gradient and slots (a
 * parameter owned by the replicas, replica_head.c, is cut where its owner says). Cuts fall
 * on multiples of 16 elements (64 bytes), so every piece starts where a vector loop over the
 * whole tensor would be, and each element gets the bits the whole step gives it. */
#define _POSIX_C_SOURCE 200809L
#include "split.h"

#include <stdlib.h>
#include <string.h>

struct nn_optim_split {
    int parts;
    nn_optim_step *st;      /* per part: its pieces */
    nn_optim_param *pieces;
    nn_tensor *views;       /* per piece: value, grad and NN_MAX_OPTIM_SLOTS slots */
};

#define VIEWS (2 + NN_MAX_OPTIM_SLOTS)
#define CUT 16

/* elements [off, off + len) of t as a 1-D tensor */
static nn_tensor *view(nn_tensor *v, const nn_tensor *t, int64_t off, int64_t len)
{
    nn_tensor_describe(v, NN_F32, 1, &len);
    v->dl.device = t->dl.device;
    v->dl.data = (float *)t->dl.data + off;
    v->name = t->name;
    return v;
}

/* appends elements [off, off + len) of p to part r's pieces */
static void piece(nn_optim_split *s, int r, int *np, const nn_optim_param *p, int n_slots,
                  int64_t off, int64_t len)
{
    nn_optim_param *q = &s->pieces[*np];
    nn_tensor *v = &s->views[(size_t)*np * VIEWS];
    *q = *p;
    q->value = view(&v[0], p->value, off, len);
    q->grad = view(&v[1], p->grad, off, len);
    for (int k = 0; k < n_slots; k++)
        q->slots[k] = p->slots[k] ? view(&v[2 + k], p->slots[k], off, len) : NULL;
    (*np)++;
    s->st[r].n_params++;
}

static const nn_optim_owned *owner(const nn_optim_owned *own, int n_own, int i)
{
    for (int k = 0; k < n_own; k++)
        if (own[k].param == i)
            return &own[k];
    return NULL;
}

int nn_optim_split_new(const nn_optim_param *params, int n, int n_slots, int parts,
                       const nn_optim_owned *own, int n_own, nn_optim_split **out,
                       nn_error *err)
{
    *out = NULL;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (!owner(own, n_own, i))
            total += nn_tensor_numel(params[i].value);
    nn_optim_split *s = calloc(1, sizeof *s);
    int cap = n + parts + n_own * parts;
    if (s) {
        s->st = calloc((size_t)parts, sizeof *s->st);
        s->pieces = calloc((size_t)cap, sizeof *s->pieces);
        s->views = calloc((size_t)cap * VIEWS, sizeof *s->views);
    }
    if (!s || !s->st || !s->pieces || !s->views) {
        nn_optim_split_free(s);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    s->parts = parts;
    int np = 0, i = 0;
    int64_t at = 0, base = 0; /* element `at` of the others' concatenation; params[i] at base */
    for (int r = 0; r < parts; r++) {
        int64_t hi = r == parts - 1 ? total : total / parts * (r + 1) / CUT * CUT;
        s->st[r] = (nn_optim_step){.struct_size = sizeof s->st[r], .params = &s->pieces[np]};
        for (int k = 0; k < n_own; k++)
            if (own[k].cut[r + 1] > own[k].cut[r])
                piece(s, r, &np, &params[own[k].param], n_slots, own[k].cut[r],
                      own[k].cut[r + 1] - own[k].cut[r]);
        while (at < hi && i < n) {
            if (owner(own, n_own, i)) {
                i++;
                continue;
            }
            const nn_optim_param *p = &params[i];
            int64_t numel = nn_tensor_numel(p->value), off = at - base;
            int64_t len = hi - at < numel - off ? hi - at : numel - off;
            piece(s, r, &np, p, n_slots, off, len);
            at += len;
            if (off + len == numel) {
                base += numel;
                i++;
            }
        }
    }
    *out = s;
    return NN_OK;
}

void nn_optim_split_free(nn_optim_split *s)
{
    if (!s)
        return;
    free(s->st);
    free(s->pieces);
    free(s->views);
    free(s);
}

int nn_optim_split_parts(const nn_optim_split *s) { return s->parts; }

nn_optim_step *nn_optim_split_step(nn_optim_split *s, int part) { return &s->st[part]; }
