/* split.h: an elementwise optimizer's parameters cut into slices that threads can step at
 * once (split.c; used by optim.c for [train] replicas). */
#ifndef NN_OPTIM_SPLIT_H
#define NN_OPTIM_SPLIT_H

#include "graph.h" /* NN_MAX_REPLICAS */
#include "nntrain/optimizer.h"

typedef struct nn_optim_split nn_optim_split;

/* A parameter whose slices go to given parts: part r steps its elements [cut[r], cut[r + 1])
 * (multiples of 16; cut[0] = 0, cut[parts] = its element count) */
typedef struct nn_optim_owned {
    int param;
    int64_t cut[NN_MAX_REPLICAS + 1];
} nn_optim_owned;

/* parts slices of params[0..n) (their values, gradients and n_slots slots, which must stay
 * where they are): the owned parameters' slices as own[0..n_own) gives them, the other
 * parameters cut into parts of about the same number of elements */
int nn_optim_split_new(const nn_optim_param *params, int n, int n_slots, int parts,
                       const nn_optim_owned *own, int n_own, nn_optim_split **out,
                       nn_error *err);
void nn_optim_split_free(nn_optim_split *s); /* NULL is allowed */
int nn_optim_split_parts(const nn_optim_split *s);
/* the step of one slice: its pieces, with lr, t and device left for the caller to set */
nn_optim_step *nn_optim_split_step(nn_optim_split *s, int part);

#endif
