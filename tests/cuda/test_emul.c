/* test_emul.c: kernel code of the CUDA pack run on the host (it is compiled for both), against
 * the CPU plugins, to check the claims that hold to the bit without a GPU: dropout draws the
 * CPU plugin's masks from the same seed and layer name, and every optimizer's step (the
 * kernel's arithmetic and the arguments the pack computes for it) gives the CPU plugin's
 * values and slots exactly, over steps with changing rates and per-parameter multipliers. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cu_pack.h"
#include "instance.h"
#include "registry.h"

static nn_registry *reg;
static void *cu_self;
static nn_device cuda_dev, host_dev;

static void setup(void)
{
    reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_scan(reg, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(cu_backend_vtable.create(NULL, &cu_self, &err), NN_OK, "%s", err.msg);
    cuda_dev = (nn_device){.struct_size = sizeof(nn_device), .dl = {kDLCUDA, 0},
                           .name = "cuda:0", .backend = &cu_backend_vtable,
                           .backend_self = cu_self};
    host_dev = (nn_device){.struct_size = sizeof(nn_device), .dl = {kDLCPU, 0}, .name = "cpu"};
}

static void teardown(void)
{
    cu_backend_vtable.destroy(cu_self);
    nn_registry_free(reg);
}

TestSuite(cuda_emul, .init = setup, .fini = teardown);

static const nn_plugin_desc *cpu_plugin(int kind, const char *name)
{
    nn_error err = {0};
    const nn_plugin_entry *e = nn_registry_find(reg, kind, name, "cpu", &err);
    cr_assert_not_null(e, "%s", err.msg);
    return e->desc;
}

static nn_tensor *host(int ndim, const int64_t *shape)
{
    nn_tensor *t = nn_tensor_new(NN_F32, ndim, shape);
    cr_assert_not_null(t);
    return t;
}

/* the CPU dropout plugin's mask for one training forward */
static void cpu_mask(double p, const char *layer, uint64_t seed, int ndim, const int64_t *shape,
                     float *out)
{
    char pv[32];
    snprintf(pv, sizeof pv, "%.17g", p);
    nn_kv kv = {"p", pv, "test", 0};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, cpu_plugin(NN_KIND_LAYER, "dropout"), &kv, 1, "t",
                                    &err), NN_OK, "%s", err.msg);
    const nn_layer_vtable *vt = inst.vt;
    nn_tensor *x = host(ndim, shape), *y = host(ndim, shape), *m = host(ndim, shape);
    nn_layer_setup su = {.struct_size = sizeof su, .layer_name = layer, .training = 1,
                         .n_inputs = 1, .inputs = {x}, .device = &host_dev};
    cr_assert_eq(vt->setup(inst.self, &su, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(su.n_buffers, 1);
    nn_layer_io io = {.struct_size = sizeof io, .training = 1, .n_inputs = 1, .inputs = {x},
                      .output = y, .buffers = {m}, .seed = seed, .device = &host_dev};
    cr_assert_eq(vt->forward(inst.self, &io, &err), NN_OK, "%s", err.msg);
    memcpy(out, NN_F32P(m), nn_tensor_nbytes(m));
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_tensor_free(m);
    nn_instance_destroy(&inst);
}

Test(cuda_emul, dropout_draws_the_cpu_plugins_masks_bit_for_bit)
{
    static const struct {
        double p;
        const char *layer;
        uint64_t seed;
        int ndim;
        int64_t shape[4];
    } cases[] = {{0.5, "drop1", 42, 2, {4, 10}},    {0.25, "fc_drop", 7, 4, {2, 3, 5, 5}},
                 {0.9, "d", 0x5eed0003, 2, {3, 7}}, {0.0, "none", 1, 2, {2, 9}},
                 {0.5, "drop1", 43, 2, {4, 10}},    {0.1, "wide", 99, 2, {5, 3001}}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int64_t n = nn_shape_numel(cases[c].ndim, cases[c].shape), rows = cases[c].shape[0];
        float *want = malloc(sizeof(float) * (size_t)n), *got = malloc(sizeof(float) * (size_t)n);
        cr_assert(want && got);
        cpu_mask(cases[c].p, cases[c].layer, cases[c].seed, cases[c].ndim, cases[c].shape, want);
        k_dropout a;
        cu_dropout_args(&a, cases[c].p, cu_dropout_stream(cases[c].layer), cases[c].seed, rows,
                        n / rows);
        k_dropout_host(&a, got);
        int zeros = 0;
        for (int64_t i = 0; i < n; i++) {
            cr_assert_eq(*(uint32_t *)&got[i], *(uint32_t *)&want[i],
                         "case %zu element %lld: cuda %g, cpu %g", c, (long long)i, got[i],
                         want[i]);
            zeros += got[i] == 0.0f;
        }
        if (cases[c].p > 0)
            cr_assert_gt(zeros, 0, "case %zu drops nothing", c);
        free(want);
        free(got);
    }
}

/* ---- optimizers ---------------------------------------------------------------------------- */

#define NP 3
#define STEPS 4

static void same_steps(const char *name, const char *const *kv_text, int nkv)
{
    static const int64_t shapes[NP][2] = {{7, 1}, {5, 3}, {130, 1}};
    static const int ndims[NP] = {1, 2, 1};
    static const double lr_mult[NP] = {1, 0.5, 2}, wd_mult[NP] = {1, 0, 1};
    static const double lrs[STEPS] = {0.1, 0.05, 0.1, 0.02};
    nn_kv kv[8];
    for (int i = 0; i < nkv; i++) {
        char *eq = strchr(kv_text[i], '=');
        static char keys[8][32];
        snprintf(keys[i], sizeof keys[i], "%.*s", (int)(eq - kv_text[i]), kv_text[i]);
        kv[i] = (nn_kv){keys[i], eq + 1, "test", 0};
    }
    const nn_plugin_desc *descs[2] = {cpu_plugin(NN_KIND_OPTIMIZER, name), NULL};
    const nn_plugin_desc *const all[] = {&cu_sgd_desc, &cu_adam_desc, &cu_adamw_desc,
                                         &cu_rmsprop_desc, &cu_adagrad_desc};
    for (int i = 0; i < 5; i++)
        if (strcmp(all[i]->name, name) == 0)
            descs[1] = all[i];
    cr_assert_not_null(descs[1]);
    nn_instance inst[2];
    nn_optim_setup su[2];
    nn_error err = {0};
    const nn_device *dev[2] = {&host_dev, &cuda_dev};
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(nn_instance_create(&inst[s], descs[s], kv, nkv, "t", &err), NN_OK, "%s",
                     err.msg);
        su[s] = (nn_optim_setup){.struct_size = sizeof su[s], .device = dev[s]};
        cr_assert_eq(((const nn_optimizer_vtable *)inst[s].vt)->setup(inst[s].self, &su[s], &err),
                     NN_OK, "%s", err.msg);
    }
    cr_assert_eq(su[0].n_slots, su[1].n_slots);
    int ns = su[0].n_slots;
    nn_tensor *val[2][NP], *grad[NP], *slot[2][NP][NN_MAX_OPTIM_SLOTS];
    nn_optim_param p[2][NP];
    nn_rng r;
    nn_rng_init(&r, 0x0972, (uint64_t)ns, 0, 0);
    for (int k = 0; k < NP; k++) {
        grad[k] = host(ndims[k], shapes[k]);
        for (int s = 0; s < 2; s++) {
            val[s][k] = host(ndims[k], shapes[k]);
            for (int q = 0; q < ns; q++)
                slot[s][k][q] = host(ndims[k], shapes[k]);
        }
        for (int64_t i = 0; i < nn_tensor_numel(grad[k]); i++)
            NN_F32P(val[0][k])[i] = NN_F32P(val[1][k])[i] = (float)(2 * nn_rng_uniform(&r) - 1);
        for (int s = 0; s < 2; s++) {
            memset(&p[s][k], 0, sizeof p[s][k]);
            p[s][k].name = "p";
            p[s][k].value = val[s][k];
            p[s][k].grad = grad[k];
            for (int q = 0; q < ns; q++)
                p[s][k].slots[q] = slot[s][k][q];
            p[s][k].lr_mult = lr_mult[k];
            p[s][k].weight_decay_mult = wd_mult[k];
        }
    }
    for (int t = 1; t <= STEPS; t++) {
        for (int k = 0; k < NP; k++)
            for (int64_t i = 0; i < nn_tensor_numel(grad[k]); i++)
                NN_F32P(grad[k])[i] = (float)nn_rng_normal(&r);
        for (int s = 0; s < 2; s++) {
            nn_optim_step st = {.struct_size = sizeof st, .lr = lrs[t - 1], .t = t, .n_params = NP,
                                .params = p[s], .device = dev[s]};
            int rc = s ? cu_optim_host_step(inst[s].self, &st, &err)
                       : ((const nn_optimizer_vtable *)inst[s].vt)->step(inst[s].self, &st, &err);
            cr_assert_eq(rc, NN_OK, "%s", err.msg);
        }
        for (int k = 0; k < NP; k++) {
            cr_assert_eq(memcmp(NN_F32P(val[0][k]), NN_F32P(val[1][k]), nn_tensor_nbytes(grad[k])),
                         0, "%s: value of parameter %d after step %d differs", name, k, t);
            for (int q = 0; q < ns; q++)
                cr_assert_eq(memcmp(NN_F32P(slot[0][k][q]), NN_F32P(slot[1][k][q]),
                                    nn_tensor_nbytes(grad[k])),
                             0, "%s: slot %d of parameter %d after step %d differs", name, q, k,
                             t);
        }
    }
    for (int k = 0; k < NP; k++) {
        nn_tensor_free(grad[k]);
        for (int s = 0; s < 2; s++) {
            nn_tensor_free(val[s][k]);
            for (int q = 0; q < ns; q++)
                nn_tensor_free(slot[s][k][q]);
        }
    }
    nn_instance_destroy(&inst[0]);
    nn_instance_destroy(&inst[1]);
}

#define SAME(name, ...)                                                                  \
    do {                                                                                 \
        const char *const kv_[] = {__VA_ARGS__};                                          \
        same_steps(name, kv_, (int)(sizeof kv_ / sizeof *kv_));                          \
    } while (0)

Test(cuda_emul, optimizer_steps_give_the_cpu_plugins_values_and_slots_exactly)
{
    SAME("sgd", "lr=0.1");
    SAME("sgd", "momentum=0.9");
    SAME("sgd", "momentum=0.9", "nesterov=true");
    SAME("sgd", "momentum=0.9", "dampening=0.5", "weight_decay=0.01");
    SAME("sgd", "weight_decay=0.1");
    SAME("adam", "lr=0.001");
    SAME("adam", "amsgrad=true", "weight_decay=0.01");
    SAME("adam", "betas=0.5,0.9", "eps=0.001");
    SAME("adamw", "lr=0.01");
    SAME("adamw", "amsgrad=true", "weight_decay=0.1");
    SAME("rmsprop", "lr=0.01");
    SAME("rmsprop", "momentum=0.9", "weight_decay=0.01");
    SAME("rmsprop", "centered=true");
    SAME("rmsprop", "momentum=0.5", "centered=true", "alpha=0.9");
    SAME("adagrad", "lr=0.1");
    SAME("adagrad", "lr_decay=0.1", "initial_accumulator_value=0.5", "weight_decay=0.01");
}

/* ---- the error record kernels write (read by the backend at a synchronisation) ------------ */

Test(cuda_emul, a_recorded_bad_id_becomes_a_sentence_naming_the_layer_and_position)
{
    cu_dev *d = cu_self;
    k_err rec = {0};
    d->err_host = &rec;
    nn_error err = {0};
    cr_assert_eq(cu_check_async(d, &err), NN_OK, "no record: no error");
    int emb = cu_site(d, "layer '%s' (embedding)", "tok");
    int ce = cu_site(d, "cross_entropy");
    cr_assert_eq(cu_site(d, "cross_entropy"), ce, "a site is registered once");
    rec = (k_err){.set = 1, .site = emb, .code = K_ERR_TOKEN, .value = 12, .index = 7,
                  .limit = 10, .aux = 5};
    cr_assert_eq(cu_check_async(d, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "layer 'tok' (embedding): token id 12 at batch row 1, position 2 "
                              "is outside [0, 10) (num_embeddings)");
    cr_assert_eq(rec.set, 0, "the record is cleared once reported");
    cr_assert_eq(cu_check_async(d, &err), NN_OK);
    rec = (k_err){.set = 1, .site = ce, .code = K_ERR_CLASS, .value = -3, .index = 41,
                  .limit = 10};
    cr_assert_eq(cu_check_async(d, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "cross_entropy: sample 41 has class id -3, outside [0, 10)");
    d->err_host = NULL;
}
