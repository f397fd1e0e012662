/* test_seq_allocs.c: the sequence and attention layers make no heap allocation of their own
 * in steady-state forward/backward. Every malloc-family call in this process is attributed
 * to the object file of its immediate caller: the plugins, libnn_dnnl and libnncore must
 * make none; oneDNN's own bookkeeping inside primitive execution (libdnnl, libstdc++,
 * libgomp) is counted and printed, not hidden. Plain builds only: ASan owns malloc. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#if !defined(__SANITIZE_ADDRESS__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile long n_ours, n_library;
static volatile int counting;
static char culprit[256];

static void count(void *caller)
{
    if (!counting)
        return;
    counting = 0; /* dladdr must not count itself */
    Dl_info info;
    const char *f = dladdr(caller, &info) && info.dli_fname ? info.dli_fname : "?";
    const char *base = strrchr(f, '/') ? strrchr(f, '/') + 1 : f;
    int ours = strstr(f, "/plugins/layers/") || strstr(base, "libnn_dnnl") ||
               strstr(base, "libnncore") || strstr(base, "test_seq_allocs");
    if (ours) {
        n_ours++;
        snprintf(culprit, sizeof culprit, "%s (%s)", f,
                 info.dli_sname ? info.dli_sname : "?");
    } else {
        n_library++;
    }
    counting = 1;
}

void *malloc(size_t n)
{
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    count(__builtin_return_address(0));
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
    count(__builtin_return_address(0));
    *out = __libc_memalign(al, n);
    return *out ? 0 : 12;
}

static void steady_state(const char *plugin, const char *const *kv, int n_inputs,
                         const int *nds, const int64_t shapes[][NN_MAX_DIMS],
                         const nn_dtype *dts, unsigned need)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, plugin, kv, n_inputs, nds, shapes, dts, 1, need, &err),
                 NN_OK, "%s: %s", plugin, err.msg);
    nnt_fill_uniform(L.grad_output, 5, -1, 1);
    for (int s = 0; s < 2; s++) /* warm-up: first executions JIT and size scratchpads */
        cr_assert(nnt_forward(&L, 1, &err) == NN_OK && nnt_backward(&L, &err) == NN_OK, "%s",
                  err.msg);
    n_ours = n_library = 0;
    culprit[0] = 0;
    counting = 1;
    for (int s = 0; s < 5; s++) {
        L.io.seed = (uint64_t)s;
        nnt_forward(&L, s % 2, &err); /* eval-mode steps of a training plan too */
        nnt_forward(&L, 1, &err);
        nnt_backward(&L, &err);
    }
    counting = 0;
    cr_assert_eq(n_ours, 0, "%s: %ld allocations of our own in 5 steps, e.g. from %s", plugin,
                 n_ours, culprit);
    cr_log_info("%s: 0 allocations of ours, %ld inside oneDNN/OpenMP in 5 steps", plugin,
                n_library);
    nnt_layer_close(&L);
}

Test(seq_allocs, every_sequence_layer_steps_without_allocating)
{
    const int64_t seq[2][NN_MAX_DIMS] = {{2, 5, 8}, {2, 5}};
    const int nd[2] = {3, 2};
    const nn_dtype ids[2] = {NN_F32, NN_I32};
    const int64_t img[1][NN_MAX_DIMS] = {{2, 1, 8, 8}};
    const int nd4 = 4;
    const int64_t mm[2][NN_MAX_DIMS] = {{2, 5, 8}, {2, 8, 3}};
    const int nd33[2] = {3, 3};
    steady_state("lstm", (const char *[]){"hidden_size=4", "num_layers=2", "bidirectional=true",
                                          "dropout=0.2", "return_sequences=false", NULL},
                 1, nd, seq, NULL, 1);
    steady_state("gru", (const char *[]){"hidden_size=4", "num_layers=2", NULL}, 1, nd, seq,
                 NULL, 1);
    steady_state("multihead_attention",
                 (const char *[]){"num_heads=2", "dropout=0.1", "causal=true", NULL}, 2, nd, seq,
                 ids, 1);
    steady_state("transformer_encoder_layer",
                 (const char *[]){"nhead=2", "dim_feedforward=16", "activation=gelu", NULL}, 2,
                 nd, seq, ids, 1);
    steady_state("positional_embedding", (const char *[]){"max_len=8", NULL}, 1, nd, seq, NULL,
                 1);
    steady_state("permute", (const char *[]){"order=0,2,1", NULL}, 1, nd, seq, NULL, 1);
    steady_state("sequence_pool", (const char *[]){"mode=max", NULL}, 2, nd, seq, ids, 1);
    steady_state("matmul", (const char *[]){NULL}, 2, nd33, mm, NULL, 3);
    steady_state("patch_embedding",
                 (const char *[]){"patch_size=4", "embed_dim=6", "class_token=true", NULL}, 1,
                 &nd4, img, NULL, 1);
}
#endif
