/* test_nodevice.c: the CUDA pack on a machine without a usable GPU (no driver, or no device):
 * the backend says why in every place a user meets it (device count, open, describe, the
 * `devices` listing, `train --device cuda`), refuses memory before open, and never crashes.
 * On a machine with a GPU these tests are skipped: test_gpu.c covers it. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "device.h"
#include "instance.h"
#include "registry.h"
#include "trainer/cli_fixture.h"

static nn_registry *reg;
static nn_instance be;
static const nn_backend_vtable *vt;

static void setup(void)
{
    cli_setup("cuda-nodevice");
    reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_scan(reg, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_BACKEND, "cuda", "cuda", &err);
    cr_assert_not_null(e, "%s", err.msg);
    cr_assert_eq(nn_instance_create(&be, e->desc, NULL, 0, "test", &err), NN_OK, "%s", err.msg);
    vt = e->desc->vtable;
    int n = vt->device_count(be.self, &err);
    if (n > 0)
        cr_skip_test("this machine has %d CUDA device%s: the GPU suite covers it", n,
                     n == 1 ? "" : "s");
}

static void teardown(void)
{
    nn_instance_destroy(&be);
    nn_registry_free(reg);
    cli_teardown();
}

TestSuite(cuda_nodevice, .init = setup, .fini = teardown);

Test(cuda_nodevice, the_device_count_says_why_there_is_none)
{
    nn_error err = {0};
    int n = vt->device_count(be.self, &err);
    cr_assert_leq(n, 0);
    if (n < 0) {
        cr_assert_eq(n, NN_ENOTFOUND);
        cr_assert(strstr(err.msg, "no CUDA device: cudaGetDeviceCount returned cudaError"),
                  "%s", err.msg);
    }
}

Test(cuda_nodevice, open_describe_and_memory_refuse_with_a_reason)
{
    nn_error err = {0};
    cr_assert_eq(vt->open(be.self, 0, &err), NN_ENOTFOUND);
    cr_assert(strstr(err.msg, "no CUDA device") || strstr(err.msg, "no device 0"), "%s",
              err.msg);
    char line[600];
    cr_assert_eq(vt->describe(be.self, line, sizeof line), NN_OK);
    cr_assert(strstr(line, "CUDA backend (not open): runtime 13.") == line ||
                  strstr(line, "CUDA backend (not open): runtime ") == line, "%s", line);
    cr_assert(strstr(line, "no CUDA device"), "%s", line);
    memset(&err, 0, sizeof err);
    cr_assert_null(vt->alloc(be.self, 64, 64, &err));
    cr_assert(strstr(err.msg, "before open"), "%s", err.msg);
    vt->free(be.self, NULL); /* harmless */
    memset(&err, 0, sizeof err);
    void *h = vt->ops->host_alloc(be.self, 4096, &err);
    if (h) /* a driver without devices can still pin memory */
        vt->ops->host_free(be.self, h);
    else
        cr_assert(strstr(err.msg, "cudaHostAlloc"), "%s", err.msg);
}

Test(cuda_nodevice, the_core_reports_the_reason_when_the_device_is_asked_for)
{
    nn_dev *d = NULL;
    nn_error err = {0};
    cr_assert_neq(nn_dev_open(reg, "cuda:0", &d, &err), NN_OK);
    cr_assert_null(d);
    cr_assert(strstr(err.msg, "--device 'cuda:0'") && strstr(err.msg, "no CUDA device"), "%s",
              err.msg);
}

Test(cuda_nodevice, the_cli_lists_the_pack_and_refuses_to_train_on_it)
{
    cr_assert_eq(nntrain("devices"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    char *row = strstr(out, "\ncuda ");
    cr_assert_not_null(row, "%s", out);
    cr_assert(strstr(row, "no CUDA device"), "%s", out);
    cr_assert(strstr(row, "layers:     add, avgpool2d, batchnorm, concat, conv1d, conv2d, dense, "
                          "dropout, elu,"), "%s", out);
    free(out);
    write_file("m.ini", "[data]\ntype = csv\nfile = none.csv\n[optimizer]\ntype = sgd\n"
                        "[layer.fc]\ntype = dense\nunits = 3\n");
    cr_assert_eq(nntrain("train m.ini --device cuda"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "--device 'cuda'") && strstr(out, "no CUDA device"), "%s", out);
    free(out);
}
