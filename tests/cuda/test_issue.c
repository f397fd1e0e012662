/* test_issue.c: the CUDA pack's deferred runs and graphs (cu_issue.c) over a fake device that
 * logs what reaches the stream: the first run of a shape is issued call by call, the second is
 * captured, later ones replay with only the changed arguments patched; a different shape,
 * position, library payload or memset runs eagerly; failed captures fall back for good; the
 * cache evicts and forgets; payloads survive the arena growing. No GPU needed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_issue.h"

typedef struct fake {
    char log[16384];
    int capturing, fail_capture, fail_node, fail_patch, nodes, live_graphs, destroyed;
    long checksum; /* sum over issued kernel payloads' first int */
} fake;

static void say(fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(fake *f, const char *fmt, ...)
{
    size_t n = strlen(f->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->log + n, sizeof f->log - n, fmt, ap);
    va_end(ap);
}

static int f_issue(void *ctx, const cu_call *c, const void *payload, nn_error *err)
{
    (void)err;
    fake *f = ctx;
    const char *cap = f->capturing ? "c" : "";
    switch (c->kind) {
    case CU_CALL_KERNEL: {
        int v;
        memcpy(&v, payload, sizeof v);
        if (!f->capturing) /* a capture records the work; it does not run it */
            f->checksum += v;
        say(f, "%sK%s=%d ", cap, c->who, v);
        break;
    }
    case CU_CALL_MEMSET: say(f, "%sM ", cap); break;
    case CU_CALL_COPY: say(f, "%sC%p ", cap, (void *)c->dst); break;
    default: say(f, "%sL%s ", cap, c->who);
    }
    return NN_OK;
}

static int f_begin(void *ctx, nn_error *err)
{
    (void)err;
    fake *f = ctx;
    f->capturing = 1;
    say(f, "[ ");
    return NN_OK;
}

static int f_end(void *ctx, void **exec, nn_error *err)
{
    fake *f = ctx;
    f->capturing = 0;
    say(f, "] ");
    if (f->fail_capture) {
        *exec = NULL;
        return nn_error_set(err, NN_EINTERNAL, "capture refused");
    }
    *exec = malloc(1);
    f->live_graphs++;
    return NN_OK;
}

static void *f_node(void *ctx)
{
    fake *f = ctx;
    return f->fail_node ? NULL : (void *)(uintptr_t)++f->nodes;
}

static int f_patch(void *ctx, void *exec, void *node, const cu_call *c, const void *payload,
                   nn_error *err)
{
    (void)exec;
    (void)c;
    (void)payload;
    fake *f = ctx;
    if (f->fail_patch)
        return nn_error_set(err, NN_EINTERNAL, "patch refused");
    say(f, "P%d ", (int)(uintptr_t)node);
    return NN_OK;
}

static int f_launch(void *ctx, void *exec, nn_error *err)
{
    (void)exec;
    (void)err;
    say(ctx, "G ");
    return NN_OK;
}

static void f_destroy(void *ctx, void *exec)
{
    fake *f = ctx;
    free(exec);
    f->live_graphs--;
    f->destroyed++;
}

static const cu_exec_ops fake_ops = {f_issue, f_begin, f_end, f_node, f_patch, f_launch,
                                     f_destroy};
static fake f;
static cu_issue q;
static const uint32_t g1[3] = {4, 1, 1}, g2[3] = {8, 1, 1}, b1[3] = {256, 1, 1};

static void setup(void)
{
    memset(&f, 0, sizeof f);
    cu_issue_init(&q, &fake_ops, &f, 1);
}

static void teardown(void)
{
    cu_issue_destroy(&q);
    cr_assert_eq(f.live_graphs, 0, "every graph is destroyed");
}

TestSuite(cu_issue, .init = setup, .fini = teardown);

static void kernel(const char *who, int v, const uint32_t *grid)
{
    nn_error err = {0};
    cr_assert_eq(cu_issue_kernel(&q, who, (const void *)who, grid, b1, 0, &v, sizeof v, &err),
                 NN_OK, "%s", err.msg);
}

/* a training step's shape: three kernels (the middle one's argument is the learning rate) */
static void step(int lr)
{
    kernel("a", 1, g1);
    kernel("b", lr, g1);
    kernel("c", 3, g1);
    nn_error err = {0};
    cr_assert_eq(cu_issue_flush(&q, &err), NN_OK, "%s", err.msg);
    cu_issue_sync_point(&q);
}

static void log_is(const char *want)
{
    cr_assert_str_eq(f.log, want);
    f.log[0] = 0;
}

Test(cu_issue, nothing_reaches_the_stream_before_the_run_is_flushed)
{
    kernel("a", 1, g1);
    kernel("b", 2, g1);
    log_is("");
    cr_assert_not(cu_issue_idle(&q));
    nn_error err = {0};
    cu_issue_flush(&q, &err);
    log_is("Ka=1 Kb=2 ");
    cu_issue_sync_point(&q);
    cr_assert(cu_issue_idle(&q));
}

Test(cu_issue, without_deferral_every_call_is_issued_at_once)
{
    cu_issue_destroy(&q);
    cu_issue_init(&q, &fake_ops, &f, 0);
    kernel("a", 1, g1);
    log_is("Ka=1 ");
    kernel("a", 1, g1);
    kernel("a", 1, g1);
    nn_error err = {0};
    cu_issue_flush(&q, &err);
    log_is("Ka=1 Ka=1 ");
    cr_assert_eq(q.stats.captures, 0);
}

Test(cu_issue, a_shape_seen_twice_is_captured_then_replayed_with_changed_arguments_patched)
{
    step(10);
    log_is("Ka=1 Kb=10 Kc=3 ");
    step(10);
    log_is("[ cKa=1 cKb=10 cKc=3 ] G ");
    step(10);
    log_is("G ");
    step(20); /* a new learning rate: only node 2 changes */
    log_is("P2 G ");
    step(20);
    log_is("G ");
    cr_assert_eq(q.stats.captures, 1);
    cr_assert_eq(q.stats.replays, 3);
    cr_assert_eq(q.stats.patches, 1);
}

Test(cu_issue, another_launch_size_is_another_shape)
{
    step(1);
    step(1);
    f.log[0] = 0;
    kernel("a", 1, g1);
    kernel("b", 1, g2);
    kernel("c", 3, g1);
    nn_error err = {0};
    cu_issue_flush(&q, &err);
    log_is("Ka=1 Kb=1 Kc=3 ");
}

Test(cu_issue, runs_are_told_apart_by_their_position_since_the_sync_point)
{
    nn_error err = {0};
    for (int s = 0; s < 3; s++) {
        kernel("a", 1, g1);
        kernel("a", 1, g1);
        cu_issue_flush(&q, &err); /* run 0 */
        kernel("a", 1, g1);
        kernel("a", 1, g1);
        cu_issue_flush(&q, &err); /* run 1: same shape, its own graph */
        cu_issue_sync_point(&q);
    }
    cr_assert_eq(q.stats.captures, 2);
    cr_assert_eq(q.stats.replays, 2);
}

Test(cu_issue, a_changed_library_payload_or_memset_runs_eagerly)
{
    nn_error err = {0};
    int p1 = 1, p2 = 2;
    for (int s = 0; s < 4; s++) {
        kernel("k", 1, g1);
        cu_issue_lib(&q, "conv", (cu_lib_fn)NULL, s < 2 ? &p1 : &p2, sizeof p1, &err);
        cu_issue_flush(&q, &err);
        cu_issue_sync_point(&q);
    }
    /* p1 twice: captured at the second; p2 twice: captured at the fourth */
    cr_assert_eq(q.stats.captures, 2);
    cr_assert_eq(q.stats.replays, 0);
    static int buf[4];
    for (int s = 0; s < 3; s++) {
        kernel("k", 1, g1);
        cu_issue_memset(&q, "zero", s < 2 ? &buf[0] : &buf[1], 0, 4, &err);
        cu_issue_flush(&q, &err);
        cu_issue_sync_point(&q);
    }
    cr_assert_eq(q.stats.captures, 3);
    cr_assert_eq(q.stats.replays, 0, "another memset destination is another shape");
}

Test(cu_issue, copy_addresses_are_patched)
{
    static char x[2][8], y[8];
    nn_error err = {0};
    for (int s = 0; s < 4; s++) {
        cu_issue_copy(&q, "stage", y, x[s % 2], 8, &err);
        kernel("k", 1, g1);
        cu_issue_flush(&q, &err);
        cu_issue_sync_point(&q);
    }
    cr_assert_eq(q.stats.captures, 1);
    cr_assert_eq(q.stats.replays, 2);
    cr_assert_eq(q.stats.patches, 2, "the source alternates between two staging slots: %s",
                 f.log);
}

Test(cu_issue, a_failed_capture_runs_eagerly_and_is_not_tried_again)
{
    f.fail_capture = 1;
    step(1);
    step(1);
    log_is("Ka=1 Kb=1 Kc=3 [ cKa=1 cKb=1 cKc=3 ] Ka=1 Kb=1 Kc=3 ");
    f.fail_capture = 0;
    step(1);
    log_is("Ka=1 Kb=1 Kc=3 ");
    cr_assert_eq(q.stats.failed, 1);
    cr_assert_eq(f.checksum, 3 * 5, "each step's work happened exactly once");
}

Test(cu_issue, a_capture_without_node_handles_is_a_failed_capture)
{
    f.fail_node = 1;
    step(1);
    step(1);
    step(1);
    cr_assert_eq(q.stats.captures, 0);
    cr_assert_eq(f.live_graphs, 0);
    cr_assert_eq(f.checksum, 3 * 5);
}

Test(cu_issue, a_graph_that_cannot_be_patched_is_dropped_and_the_step_runs_eagerly)
{
    step(1);
    step(1);
    f.fail_patch = 1;
    f.log[0] = 0;
    step(2);
    log_is("Ka=1 Kb=2 Kc=3 ");
    cr_assert_eq(f.live_graphs, 0);
    f.fail_patch = 0;
    step(2);
    log_is("Ka=1 Kb=2 Kc=3 ");
}

Test(cu_issue, single_calls_are_never_captured)
{
    nn_error err = {0};
    for (int s = 0; s < 4; s++) {
        kernel("k", 1, g1);
        cu_issue_flush(&q, &err);
        cu_issue_sync_point(&q);
    }
    cr_assert_eq(q.stats.captures, 0);
    cr_assert_eq(q.stats.eager, 4);
}

Test(cu_issue, the_cache_evicts_the_least_recently_used_graph)
{
    nn_error err = {0};
    for (int shape = 0; shape < CU_GRAPH_CACHE + 1; shape++)
        for (int s = 0; s < 2; s++) {
            for (int k = 0; k <= shape; k++)
                kernel("k", 1, g1);
            kernel("end", 1, g1);
            cu_issue_flush(&q, &err);
            cu_issue_sync_point(&q);
        }
    cr_assert_eq(q.stats.captures, CU_GRAPH_CACHE + 1);
    cr_assert_eq(f.live_graphs, CU_GRAPH_CACHE);
    cr_assert_eq(f.destroyed, 1);
    cu_issue_forget(&q);
    cr_assert_eq(f.live_graphs, 0);
}

Test(cu_issue, payloads_survive_the_recording_arena_growing)
{
    nn_error err = {0};
    long want = 0;
    for (int i = 0; i < 3000; i++) {
        kernel("k", i, g1);
        want += i;
    }
    cu_issue_flush(&q, &err);
    cr_assert_eq(f.checksum, want);
}
