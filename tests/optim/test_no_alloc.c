/* test_no_alloc.c: a training step must not allocate. This executable interposes malloc and
 * friends (glibc's __libc_* underneath) and counts calls while nn_optim_update and
 * nn_optim_epoch_end run, for every optimizer with a per-batch and a per-epoch scheduler,
 * warm-up and clipping. Skipped under AddressSanitizer, which owns malloc itself. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "core/config.h"
#include "core/optim/optim.h"
#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif

static volatile int counting;
static volatile long allocations;

#ifndef NO_INTERPOSE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n)
{
    allocations += counting;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    allocations += counting;
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    allocations += counting;
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
    allocations += counting;
    return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
    allocations += counting;
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
#endif

static void expect_no_allocation(const char *optimizer, const char *scheduler)
{
#ifdef NO_INTERPOSE
    cr_skip_test("malloc cannot be interposed under AddressSanitizer");
#endif
    char text[512];
    snprintf(text, sizeof text, "[train]\nclip_norm = 0.5\nclip_value = 0.1\n"
             "[optimizer]\ntype = %s\n[scheduler]\ntype = %s\nwarmup_steps = 3\n", optimizer,
             scheduler);
    int64_t shape[2] = {16, 33};
    nn_tensor *w = nn_tensor_new(NN_F32, 2, shape), *g = nn_tensor_new(NN_F32, 2, shape);
    cr_assert(w && g);
    for (int i = 0; i < 16 * 33; i++)
        NN_F32P(g)[i] = 0.01f * (float)(i % 7) - 0.02f;
    nn_optim_target t = {"w", w, g, 1.0, 1.0, 0};
    nn_config *cfg;
    nn_optim *o;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse(text, "model.ini", &cfg, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_optim_new(h_registry(), cfg, NULL, &t, 1, 4, 5, &o, &err), NN_OK, "%s", err.msg);
    const char *names[1] = {"val_loss"};
    double norm;
    allocations = 0;
    counting = 1;
    for (int s = 0; s < 12; s++) {
        nn_optim_update(o, 1, &norm, NULL);
        if (s % 4 == 3) {
            double v = 1.0 + (s == 7);
            nn_optim_epoch_end(o, s / 4, 1, names, &v, NULL);
        }
    }
    counting = 0;
    cr_assert_eq(allocations, 0, "%s with %s: %ld allocations in 12 steps", optimizer, scheduler,
                 allocations);
    nn_optim_free(o);
    nn_config_free(cfg);
    nn_tensor_free(w);
    nn_tensor_free(g);
}

Test(optim_alloc, interposed_malloc_counts_allocations)
{
#ifdef NO_INTERPOSE
    cr_skip_test("malloc cannot be interposed under AddressSanitizer");
#endif
    counting = 1;
    allocations = 0;
    void *p = malloc(16);
    counting = 0;
    free(p);
    cr_assert_eq(allocations, 1, "the counter does not see malloc, so the tests below are void");
}

Test(optim_alloc, steps_never_allocate_with_any_optimizer)
{
    const char *opts[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    for (int i = 0; i < 5; i++) {
        expect_no_allocation(opts[i], "onecycle");
        expect_no_allocation(opts[i], "reduce_on_plateau");
    }
}

Test(optim_alloc, steps_never_allocate_with_any_scheduler)
{
    const char *scheds[] = {"step", "multistep", "exponential", "cosine",
                            "cosine_warm_restarts"};
    const char *extra[] = {"step_size = 2", "milestones = 2", "gamma = 0.9", "t_max = 3",
                           "t_0 = 2"};
    for (int i = 0; i < 5; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s\n%s", scheds[i], extra[i]);
        expect_no_allocation("sgd", s);
    }
}
