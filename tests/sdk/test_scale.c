/* test_scale.c: the SDK template plugin (sdk/template/scale.c, y = factor * alpha * x) held
 * to the bar of every plugin: forward values against hand-computed ones, backward against
 * finite differences, rejected parameters naming the key, and setup errors naming shapes. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "instance.h"
#include "nntrain/nntrain.h"
#include "registry.h"

static nn_registry *reg;
static const nn_plugin_desc *desc;

static void load(void)
{
    reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(reg, NNTEST_SCALE_DIR, &err), NN_OK, "%s", err.msg);
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_LAYER, "scale", NULL, &err);
    cr_assert(e, "%s", err.msg);
    desc = e->desc;
}

static void unload(void)
{
    nn_registry_free(reg);
}

typedef struct fixture {
    nn_instance inst;
    nn_tensor *x, *y, *alpha, *dalpha, *dy, *dx;
    nn_layer_io io;
} fixture;

/* an instance with factor given as text, set up on a [2, 3] input, alpha = a */
static void make(fixture *f, const char *factor, float a)
{
    nn_kv kv = {"factor", factor, "model.ini", 5};
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&f->inst, desc, &kv, 1, "[layer.s]", &err), NN_OK, "%s",
                 err.msg);
    int64_t shape[] = {2, 3}, one[] = {1};
    f->x = nn_tensor_new(NN_F32, 2, shape);
    nn_layer_setup su = {.struct_size = sizeof su, .layer_name = "s", .training = 1,
                         .n_inputs = 1, .inputs = {f->x}};
    const nn_layer_vtable *vt = f->inst.vt;
    cr_assert_eq(vt->setup(f->inst.self, &su, &err), NN_OK, "%s", err.msg);
    cr_assert(nn_shape_equal(&su.output, f->x));
    cr_assert_eq(su.n_params, 1);
    cr_assert_str_eq(su.params[0].name, "alpha");
    cr_assert_eq(su.params[0].init, NN_INIT_ONES);
    cr_assert_eq(su.flops, 12);
    f->y = nn_tensor_new(NN_F32, 2, shape);
    f->dy = nn_tensor_new(NN_F32, 2, shape);
    f->dx = nn_tensor_new(NN_F32, 2, shape);
    f->alpha = nn_tensor_new(NN_F32, 1, one);
    f->dalpha = nn_tensor_new(NN_F32, 1, one);
    NN_F32P(f->alpha)[0] = a;
    for (int i = 0; i < 6; i++) {
        NN_F32P(f->x)[i] = 0.5f * (float)i - 1.0f;
        NN_F32P(f->dy)[i] = 0.25f * (float)(i % 4) - 0.3f;
    }
    f->io = (nn_layer_io){.struct_size = sizeof f->io, .training = 1, .n_inputs = 1,
                          .inputs = {f->x}, .output = f->y, .params = {f->alpha},
                          .param_grads = {f->dalpha}, .grad_output = f->dy,
                          .grad_inputs = {f->dx}};
}

static void unmake(fixture *f)
{
    nn_instance_destroy(&f->inst);
    nn_tensor *t[] = {f->x, f->y, f->alpha, f->dalpha, f->dy, f->dx};
    for (int i = 0; i < 6; i++)
        nn_tensor_free(t[i]);
}

/* L = sum(y * dy) for the current x and alpha, so dL/dx = dx and dL/dalpha = dalpha */
static double objective(fixture *f)
{
    nn_error err = {0};
    const nn_layer_vtable *vt = f->inst.vt;
    cr_assert_eq(vt->forward(f->inst.self, &f->io, &err), NN_OK, "%s", err.msg);
    double l = 0;
    for (int i = 0; i < 6; i++)
        l += (double)NN_F32P(f->y)[i] * NN_F32P(f->dy)[i];
    return l;
}

Test(scale, forward_multiplies_by_factor_and_alpha, .init = load, .fini = unload)
{
    fixture f;
    make(&f, "-2", 1.5f);
    objective(&f);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(NN_F32P(f.y)[i], -3.0f * (0.5f * (float)i - 1.0f), 1e-6f);
    unmake(&f);
}

Test(scale, backward_matches_finite_differences, .init = load, .fini = unload)
{
    fixture f;
    make(&f, "0.75", 1.3f);
    nn_error err = {0};
    const nn_layer_vtable *vt = f.inst.vt;
    cr_assert_eq(vt->backward(f.inst.self, &f.io, &err), NN_OK, "%s", err.msg);
    const float h = 1e-2f; /* the objective is linear in each variable: differences are exact */
    for (int i = 0; i < 6; i++) {
        float keep = NN_F32P(f.x)[i];
        NN_F32P(f.x)[i] = keep + h;
        double up = objective(&f);
        NN_F32P(f.x)[i] = keep - h;
        double down = objective(&f);
        NN_F32P(f.x)[i] = keep;
        double fd = (up - down) / (2 * h);
        cr_assert(fabs(fd - NN_F32P(f.dx)[i]) <= 1e-3 * fmax(1.0, fabs(fd)),
                  "dx[%d] = %g, finite differences %g", i, NN_F32P(f.dx)[i], fd);
    }
    float a = NN_F32P(f.alpha)[0];
    NN_F32P(f.alpha)[0] = a + h;
    double up = objective(&f);
    NN_F32P(f.alpha)[0] = a - h;
    double down = objective(&f);
    NN_F32P(f.alpha)[0] = a;
    double fd = (up - down) / (2 * h);
    cr_assert(fabs(fd - NN_F32P(f.dalpha)[0]) <= 1e-3 * fmax(1.0, fabs(fd)),
              "dalpha = %g, finite differences %g", NN_F32P(f.dalpha)[0], fd);
    cr_assert(fabs(fd) > 0.1, "a gradient check on a zero gradient proves nothing");
    unmake(&f);
}

Test(scale, backward_without_input_gradient_still_writes_alpha_gradient, .init = load,
     .fini = unload)
{
    fixture f;
    make(&f, "1", 1.0f);
    f.io.grad_inputs[0] = NULL; /* the first layer: its input is data */
    nn_error err = {0};
    const nn_layer_vtable *vt = f.inst.vt;
    cr_assert_eq(vt->backward(f.inst.self, &f.io, &err), NN_OK, "%s", err.msg);
    double want = 0;
    for (int i = 0; i < 6; i++)
        want += (double)NN_F32P(f.x)[i] * NN_F32P(f.dy)[i];
    cr_assert_float_eq(NN_F32P(f.dalpha)[0], (float)want, 1e-6f);
    unmake(&f);
}

Test(scale, bad_factor_is_rejected_naming_the_key, .init = load, .fini = unload)
{
    const char *bad[] = {"two", "nan", "inf", "1e999", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nn_kv kv = {"factor", bad[i], "model.ini", 5};
        nn_instance inst;
        nn_error err = {0};
        cr_assert_eq(nn_instance_create(&inst, desc, &kv, 1, "[layer.s]", &err), NN_EINVAL,
                     "factor = '%s' was accepted", bad[i]);
        cr_assert(strstr(err.msg, "model.ini:5: [layer.s] key 'factor'"), "%s", err.msg);
    }
    nn_kv kv = {"factr", "2", "model.ini", 5};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, desc, &kv, 1, "[layer.s]", &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "did you mean 'factor'?"), "%s", err.msg);
}

Test(scale, setup_rejects_two_inputs_and_non_f32_input, .init = load, .fini = unload)
{
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, desc, NULL, 0, "[layer.s]", &err), NN_OK, "%s",
                 err.msg);
    int64_t shape[] = {4, 2};
    nn_tensor *x = nn_tensor_new(NN_F32, 2, shape), *xi = nn_tensor_new(NN_I32, 2, shape);
    const nn_layer_vtable *vt = inst.vt;
    nn_layer_setup su = {.struct_size = sizeof su, .layer_name = "s", .n_inputs = 2,
                         .inputs = {x, x}};
    cr_assert_eq(vt->setup(inst.self, &su, &err), NN_ESHAPE);
    cr_assert_str_eq(err.msg, "layer 's' (scale): takes 1 input, got 2");
    su = (nn_layer_setup){.struct_size = sizeof su, .layer_name = "s", .n_inputs = 1,
                          .inputs = {xi}};
    cr_assert_eq(vt->setup(inst.self, &su, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "layer 's' (scale): input [4, 2] must be F32");
    nn_tensor_free(x);
    nn_tensor_free(xi);
    nn_instance_destroy(&inst);
}
