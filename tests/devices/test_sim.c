/* test_sim.c: the sim pack's backend seen through the core's device module (core/device.h):
 * two real devices, memory the host cannot touch, bounds and ownership checks, copies that
 * are asynchronous for real, events, host buffers, and the device math against the host's. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "registry.h"

#ifndef NNTEST_SIM_SO
#error "NNTEST_SIM_SO (the built sim pack) must be defined"
#endif

static nn_registry *reg;

static void setup_reg(void)
{
    reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(reg, NNTEST_SIM_SO, &err), NN_OK, "%s", err.msg);
}

static void teardown_reg(void)
{
    nn_registry_free(reg);
}

TestSuite(sim, .init = setup_reg, .fini = teardown_reg);

static nn_dev *open_dev(const char *spec)
{
    nn_dev *d = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_dev_open(reg, spec, &d, &err), NN_OK, "%s: %s", spec, err.msg);
    return d;
}

/* t: a device tensor of n floats (filled in place: its dl.shape points into itself) */
static void dev_tensor(nn_tensor *t, nn_dev *d, int64_t n)
{
    memset(t, 0, sizeof *t);
    t->dl.device = nn_dev_public(d)->dl;
    nn_tensor_describe(t, NN_F32, 1, &n);
    nn_error err = {0};
    t->dl.data = nn_dev_alloc(d, nn_tensor_nbytes(t), &err);
    cr_assert(t->dl.data, "%s", err.msg);
}

static void host_tensor(nn_tensor *t, float *data, int64_t n)
{
    memset(t, 0, sizeof *t);
    nn_tensor_describe(t, NN_F32, 1, &n);
    t->dl.data = data;
}

Test(sim, has_two_devices_and_refuses_a_third)
{
    nn_dev *a = open_dev("sim:0"), *b = open_dev("sim:1");
    char line[256];
    nn_dev_describe(b, line, sizeof line);
    cr_assert(strstr(line, "pretend accelerator, 16 GiB of memory"), "%s", line);
    cr_assert_eq(nn_dev_public(b)->dl.device_id, 1);
    cr_assert_eq(nn_dev_public(b)->dl.device_type, kDLExtDev);
    nn_dev *c = NULL;
    nn_error err = {0};
    cr_assert_neq(nn_dev_open(reg, "sim:2", &c, &err), NN_OK);
    cr_assert(strstr(err.msg, "has 2 devices (sim:0 .. sim:1)"), "%s", err.msg);
    nn_dev_close(a);
    nn_dev_close(b);
}

Test(sim, device_count_follows_the_environment)
{
    setenv("NNTRAIN_SIM_DEVICES", "0", 1);
    nn_dev *d = NULL;
    nn_error err = {0};
    cr_assert_neq(nn_dev_open(reg, "sim", &d, &err), NN_OK);
    cr_assert(strstr(err.msg, "finds no device"), "%s", err.msg);
    setenv("NNTRAIN_SIM_DEVICES", "4", 1);
    nn_dev_close(open_dev("sim:3"));
}

Test(sim, host_code_that_reads_device_memory_faults, .signal = SIGSEGV)
{
    nn_dev *d = open_dev("sim:0");
    nn_error err = {0};
    volatile float *p = nn_dev_alloc(d, 256, &err);
    cr_assert(p, "%s", err.msg);
    signal(SIGSEGV, SIG_DFL); /* die of it, even where a sanitizer would catch it */
    float v = p[3]; /* must fault: device addresses are PROT_NONE on the host */
    cr_log_error("read %g from device memory on the host", (double)v);
}

Test(sim, copies_round_trip_and_memset_fills)
{
    nn_dev *d = open_dev("sim:0");
    nn_tensor a, b;
    dev_tensor(&a, d, 1000);
    dev_tensor(&b, d, 1000);
    float in[1000], out[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = (float)i * 0.5f - 7.0f;
    nn_tensor h_in, h_out;
    host_tensor(&h_in, in, 1000);
    host_tensor(&h_out, out, 1000);
    nn_error err = {0};
    cr_assert_eq(nn_dev_upload(d, &a, &h_in, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_copy(d, b.dl.data, a.dl.data, 4000, NN_COPY_DEVICE_TO_DEVICE, &err),
                 NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_download(d, &h_out, &b, &err), NN_OK, "%s", err.msg);
    cr_assert_arr_eq(in, out, sizeof in);
    cr_assert_eq(nn_dev_memset(d, a.dl.data, 0xff, 4000, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_download(d, &h_out, &a, &err), NN_OK, "%s", err.msg);
    cr_assert(isnan(out[0]) && isnan(out[999]));
    nn_dev_free(d, a.dl.data);
    nn_dev_free(d, b.dl.data);
    nn_dev_close(d);
}

Test(sim, memory_of_one_device_is_refused_by_the_other)
{
    nn_dev *d0 = open_dev("sim:0"), *d1 = open_dev("sim:1");
    nn_tensor a;
    dev_tensor(&a, d0, 16);
    float h[16] = {0};
    nn_tensor ht;
    host_tensor(&ht, h, 16);
    nn_error err = {0};
    cr_assert_neq(nn_dev_download(d1, &ht, &a, &err), NN_OK);
    cr_assert(strstr(err.msg, "is memory of device sim:0, not of sim:1"), "%s", err.msg);
    memset(&err, 0, sizeof err);
    cr_assert_neq(nn_dev_scale(d1, &a, 2.0f, &err), NN_OK);
    cr_assert(strstr(err.msg, "tensor is marked as on device type 12 index 0"), "%s", err.msg);
    a.dl.device.device_id = 1; /* lie about the device: the address still tells */
    memset(&err, 0, sizeof err);
    cr_assert_neq(nn_dev_scale(d1, &a, 2.0f, &err), NN_OK);
    cr_assert(strstr(err.msg, "memory of device sim:0"), "%s", err.msg);
    nn_dev_close(d0);
    nn_dev_close(d1);
}

Test(sim, host_memory_freed_memory_and_overruns_are_refused)
{
    nn_dev *d = open_dev("sim:0");
    float h[64] = {0};
    nn_tensor ht, a;
    host_tensor(&ht, h, 64);
    dev_tensor(&a, d, 64);
    nn_error err = {0};
    cr_assert_neq(nn_dev_copy(d, h, h, 64, NN_COPY_DEVICE_TO_HOST, &err), NN_OK);
    cr_assert(strstr(err.msg, "is not device memory"), "%s", err.msg);
    memset(&err, 0, sizeof err);
    cr_assert_neq(nn_dev_copy(d, a.dl.data, (char *)a.dl.data + 64, 256,
                              NN_COPY_DEVICE_TO_DEVICE, &err), NN_OK);
    cr_assert(strstr(err.msg, "runs 64 bytes past the end of its 256-byte allocation"), "%s",
              err.msg);
    memset(&err, 0, sizeof err);
    cr_assert_neq(nn_dev_copy(d, a.dl.data, h, 64, (nn_copy_kind)9, &err), NN_OK);
    cr_assert(strstr(err.msg, "unknown copy kind 9"), "%s", err.msg);
    memset(&err, 0, sizeof err);
    cr_assert_neq(nn_dev_copy(d, a.dl.data, a.dl.data, 64, NN_COPY_HOST_TO_DEVICE, &err),
                  NN_OK);
    cr_assert(strstr(err.msg, "the source"), "%s", err.msg);
    nn_dev_free(d, a.dl.data);
    memset(&err, 0, sizeof err);
    cr_assert_neq(nn_dev_download(d, &ht, &a, &err), NN_OK);
    cr_assert(strstr(err.msg, "not inside a live allocation"), "%s", err.msg);
    nn_dev_close(d);
}

Test(sim, an_async_copy_lands_when_its_event_completes_and_before_later_work)
{
    nn_dev *d = open_dev("sim:0");
    nn_tensor a;
    dev_tensor(&a, d, 4);
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    nn_error err = {0};
    void *ev = nn_dev_event_new(d, &err);
    cr_assert(ev, "%s", err.msg);
    cr_assert_eq(nn_dev_copy_async(d, a.dl.data, in, sizeof in, NN_COPY_HOST_TO_DEVICE, ev,
                                   &err), NN_OK, "%s", err.msg);
    /* later device work sees the bytes: scale runs after the copy */
    cr_assert_eq(nn_dev_scale(d, &a, 10.0f, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_event_wait(d, ev, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_copy_async(d, out, a.dl.data, sizeof out, NN_COPY_DEVICE_TO_HOST, ev,
                                   &err), NN_OK, "%s", err.msg);
    /* not there before the event completes: a caller that does not wait reads stale data */
    cr_assert_eq(out[0], 0.0f);
    cr_assert_eq(nn_dev_event_wait(d, ev, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(out[0], 10.0f);
    cr_assert_eq(out[3], 40.0f);
    nn_dev_event_free(d, ev);
    nn_dev_free(d, a.dl.data);
    nn_dev_close(d);
}

Test(sim, an_event_of_another_device_is_refused)
{
    nn_dev *d0 = open_dev("sim:0"), *d1 = open_dev("sim:1");
    nn_error err = {0};
    void *ev = nn_dev_event_new(d0, &err);
    cr_assert(ev);
    cr_assert_neq(nn_dev_event_wait(d1, ev, &err), NN_OK);
    cr_assert(strstr(err.msg, "the event was made by sim:0"), "%s", err.msg);
    nn_dev_event_free(d0, ev);
    nn_dev_close(d0);
    nn_dev_close(d1);
}

Test(sim, host_buffers_are_page_aligned_and_copy)
{
    nn_dev *d = open_dev("sim:0");
    nn_error err = {0};
    float *h = nn_dev_host_alloc(d, 10000 * sizeof(float), &err);
    cr_assert(h, "%s", err.msg);
    cr_assert_eq((uintptr_t)h % 4096, 0);
    for (int i = 0; i < 10000; i++)
        h[i] = (float)i;
    nn_tensor a, ht;
    dev_tensor(&a, d, 10000);
    host_tensor(&ht, h, 10000);
    cr_assert_eq(nn_dev_upload(d, &a, &ht, &err), NN_OK, "%s", err.msg);
    memset(h, 0, 10000 * sizeof(float));
    cr_assert_eq(nn_dev_download(d, &ht, &a, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(h[9999], 9999.0f);
    nn_dev_host_free(d, h);
    nn_dev_free(d, a.dl.data);
    nn_dev_close(d);
}

Test(sim, running_out_of_memory_says_how_to_get_more)
{
    setenv("NNTRAIN_SIM_MEMORY", "1M", 1);
    nn_dev *d = open_dev("sim:0");
    nn_error err = {0};
    void *a = nn_dev_alloc(d, 600 << 10, &err), *b;
    cr_assert(a, "%s", err.msg);
    cr_assert_null(b = nn_dev_alloc(d, 600 << 10, &err));
    cr_assert(strstr(err.msg, "out of device memory") && strstr(err.msg, "NNTRAIN_SIM_MEMORY"),
              "%s", err.msg);
    nn_dev_free(d, a);
    memset(&err, 0, sizeof err);
    cr_assert(b = nn_dev_alloc(d, 600 << 10, &err), "freed memory is reusable: %s", err.msg);
    nn_dev_free(d, b);
    nn_dev_close(d);
    setenv("NNTRAIN_SIM_MEMORY", "lots", 1);
    cr_assert_neq(nn_dev_open(reg, "sim:0", &d, &err), NN_OK);
    cr_assert(strstr(err.msg, "NNTRAIN_SIM_MEMORY = \"lots\""), "%s", err.msg);
}

/* runs one op on the host and on sim with the same input; returns the two results */
static void both_norms(const float *x, int64_t n, int inf, double start, double *host,
                       double *sim)
{
    nn_dev *d = open_dev("sim:0");
    nn_tensor hx, dx;
    host_tensor(&hx, (float *)x, n);
    dev_tensor(&dx, d, n);
    nn_error err = {0};
    *host = start;
    cr_assert_eq(nn_dev_norm_acc(nn_dev_host(), &hx, inf, host, &err), NN_OK);
    double *acc = nn_dev_alloc(d, sizeof(double), &err);
    cr_assert_eq(nn_dev_upload(d, &dx, &hx, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_copy(d, acc, &start, sizeof start, NN_COPY_HOST_TO_DEVICE, &err), NN_OK);
    cr_assert_eq(nn_dev_norm_acc(d, &dx, inf, acc, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_copy(d, sim, acc, sizeof *sim, NN_COPY_DEVICE_TO_HOST, &err), NN_OK);
    nn_dev_close(d);
}

Test(sim, norms_accumulate_and_propagate_nan_and_infinity_like_the_host)
{
    float x[5] = {3, -4, 0.5f, 1e-3f, -2};
    double h, s;
    both_norms(x, 5, 0, 1.0, &h, &s);
    cr_assert_eq(h, s);
    cr_assert_float_eq(s, 1 + 9 + 16 + 0.25 + 1e-6 + 4, 1e-6);
    both_norms(x, 5, 1, 0.0, &h, &s);
    cr_assert_eq(s, 4.0);
    x[1] = NAN;
    both_norms(x, 5, 1, 0.0, &h, &s);
    cr_assert(isnan(h) && isnan(s), "host %g sim %g", h, s);
    both_norms(x, 5, 0, 0.0, &h, &s);
    cr_assert(isnan(h) && isnan(s), "host %g sim %g", h, s);
    x[1] = -INFINITY;
    both_norms(x, 5, 1, 0.0, &h, &s);
    cr_assert(isinf(s) && s > 0, "sim %g", s);
}

Test(sim, accuracy_counts_follow_the_hosts_ties_nans_and_bad_ids)
{
    nn_dev *d = open_dev("sim:0");
    /* rows: tie (1, 1, 0) target 1: argmax 0 -> wrong, but 1 is not below anything -> top-1;
     * NaN first; out-of-range id; clean hit */
    float p[12] = {1, 1, 0, NAN, 2, 1, 0, 5, 1, 0, 0, 3};
    int32_t t[4] = {1, 1, 7, 2};
    int64_t ps[2] = {4, 3}, ts = 4;
    nn_tensor hp = {0}, ht = {0}, dp = {0}, dt = {0};
    nn_tensor_describe(&hp, NN_F32, 2, ps);
    nn_tensor_describe(&ht, NN_I32, 1, &ts);
    hp.dl.data = p;
    ht.dl.data = t;
    dp = hp;
    dt = ht;
    dp.dl.shape = dp.shape;
    dp.dl.strides = dp.strides;
    dt.dl.shape = dt.shape;
    dt.dl.strides = dt.strides;
    dp.dl.device = dt.dl.device = nn_dev_public(d)->dl;
    nn_error err = {0};
    dp.dl.data = nn_dev_alloc(d, sizeof p, &err);
    dt.dl.data = nn_dev_alloc(d, sizeof t, &err);
    double *out = nn_dev_alloc(d, 2 * sizeof(double), &err);
    cr_assert_eq(nn_dev_upload(d, &dp, &hp, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dev_upload(d, &dt, &ht, &err), NN_OK, "%s", err.msg);
    for (int k = 0; k <= 2; k++) {
        double host[2] = {-1, -1}, sim[2] = {-1, -1};
        cr_assert_eq(nn_dev_copy(d, out, sim, sizeof sim, NN_COPY_HOST_TO_DEVICE, &err), NN_OK);
        cr_assert_eq(nn_dev_count_correct(nn_dev_host(), &hp, &ht, 4, k, host, &err), NN_OK);
        cr_assert_eq(nn_dev_count_correct(d, &dp, &dt, 4, k, out, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(nn_dev_copy(d, sim, out, sizeof sim, NN_COPY_DEVICE_TO_HOST, &err), NN_OK);
        cr_assert_eq(sim[0], host[0], "top_k %d: correct host %g sim %g", k, host[0], sim[0]);
        cr_assert_eq(sim[1], host[1], "top_k %d: in top host %g sim %g", k, host[1], sim[1]);
        cr_assert_eq(sim[0], 1.0); /* only the last row: argmax ties and NaN go to index 0 */
        cr_assert_eq(sim[1], k ? 3.0 : -1.0, "top_k %d: %g", k, sim[1]);
    }
    nn_dev_close(d);
}
