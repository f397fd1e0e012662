/* test_scale.c: the template plugin's own unit test, as a plugin author writes one: scale.c
 * is linked in (its descriptor is nn_plugin_descriptors[0]), nn_params_new builds parameters
 * as a model file would, and the SDK's gradient checker (<nntrain/gradcheck.h>) compares
 * backward with finite differences. Plain C, no test framework: exit status 0 means pass.
 * Copy it with the template; `meson test -C build` runs it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nntrain/nntrain.h>

extern const nn_plugin_desc *const nn_plugin_descriptors[];

static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

/* y = factor * alpha * x on a [2, 3] input, against numbers worked out by hand */
static void forward_multiplies_by_factor_and_alpha(const nn_plugin_desc *d)
{
    const nn_layer_vtable *vt = d->vtable;
    const char *kv[] = {"factor = -2", NULL};
    nn_params *p = NULL;
    nn_error err = {0};
    void *self = NULL;
    CHECK(nn_params_new(d->params, kv, "[layer.s]", &p, &err) == NN_OK, "%s", err.msg);
    CHECK(p && vt->create(p, &self, &err) == NN_OK, "%s", err.msg);
    if (!self) {
        nn_params_free(p);
        return;
    }
    int64_t shape[2] = {2, 3}, one[1] = {1};
    nn_tensor *x = nn_tensor_new(NN_F32, 2, shape), *y = nn_tensor_new(NN_F32, 2, shape);
    nn_tensor *alpha = nn_tensor_new(NN_F32, 1, one);
    nn_device cpu = {.struct_size = sizeof cpu, .dl = {kDLCPU, 0}, .name = "cpu"};
    nn_layer_setup su = {.struct_size = sizeof su, .layer_name = "s", .n_inputs = 1,
                         .inputs = {x}, .device = &cpu};
    CHECK(vt->setup(self, &su, &err) == NN_OK, "%s", err.msg);
    CHECK(su.n_params == 1 && strcmp(su.params[0].name, "alpha") == 0, "alpha not declared");
    CHECK(su.flops == 12, "flops %llu", (unsigned long long)su.flops);
    for (int i = 0; i < 6; i++)
        NN_F32P(x)[i] = 0.5f * (float)i - 1.0f;
    NN_F32P(alpha)[0] = 1.5f;
    nn_layer_io io = {.struct_size = sizeof io, .n_inputs = 1, .inputs = {x}, .output = y,
                      .params = {alpha}, .device = &cpu};
    CHECK(vt->forward(self, &io, &err) == NN_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        CHECK(fabsf(NN_F32P(y)[i] - -3.0f * (0.5f * (float)i - 1.0f)) < 1e-6f, "y[%d] = %g", i,
              NN_F32P(y)[i]);
    vt->destroy(self);
    nn_params_free(p);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_tensor_free(alpha);
}

/* backward against central differences, on several shapes, for x and alpha */
static void backward_matches_finite_differences(const nn_plugin_desc *d)
{
    const char *kv[] = {"factor=0.75", NULL};
    const char *shapes[] = {"2x3", "4x1x5x5", "7 f32 [-10, 10]"};
    for (int i = 0; i < 3; i++) {
        nn_gradcheck_result res;
        nn_error err = {0};
        CHECK(nn_gradcheck_layer(d, kv, shapes[i], NULL, &res, &err) == NN_OK, "%s: %s",
              shapes[i], err.msg);
        CHECK(res.n_checked > 0, "nothing was checked");
    }
}

/* a bad value never reaches create(): the message names the key and the value */
static void bad_factor_is_rejected_naming_the_key(const nn_plugin_desc *d)
{
    const char *bad[] = {"two", "nan", "1e999", ""};
    for (int i = 0; i < 4; i++) {
        char entry[32];
        snprintf(entry, sizeof entry, "factor=%s", bad[i]);
        const char *kv[] = {entry, NULL};
        nn_params *p = NULL;
        nn_error err = {0};
        CHECK(nn_params_new(d->params, kv, "[layer.s]", &p, &err) == NN_EINVAL,
              "factor = '%s' was accepted", bad[i]);
        CHECK(strstr(err.msg, "[layer.s] key 'factor'"), "%s", err.msg);
        nn_params_free(p);
    }
}

/* a key that is not in the schema gets a did-you-mean; setup names the shapes it refuses */
static void mistakes_are_named(const nn_plugin_desc *d)
{
    const char *kv[] = {"factr=2", NULL};
    nn_params *p = NULL;
    nn_error err = {0};
    CHECK(nn_params_new(d->params, kv, "[layer.s]", &p, &err) == NN_EINVAL, "factr accepted");
    CHECK(strstr(err.msg, "did you mean 'factor'?"), "%s", err.msg);
    CHECK(nn_params_new(d->params, NULL, "[layer.s]", &p, &err) == NN_OK, "%s", err.msg);
    const nn_layer_vtable *vt = d->vtable;
    void *self = NULL;
    CHECK(vt->create(p, &self, &err) == NN_OK, "%s", err.msg);
    int64_t shape[2] = {4, 2};
    nn_tensor *xi = nn_tensor_new(NN_I32, 2, shape);
    nn_layer_setup su = {.struct_size = sizeof su, .layer_name = "s", .n_inputs = 1,
                         .inputs = {xi}};
    CHECK(self && vt->setup(self, &su, &err) == NN_EINVAL, "an I32 input was accepted");
    CHECK(strcmp(err.msg, "layer 's' (scale): input [4, 2] must be F32") == 0, "%s", err.msg);
    if (self)
        vt->destroy(self);
    nn_tensor_free(xi);
    nn_params_free(p);
}

int main(void)
{
    const nn_plugin_desc *d = nn_plugin_descriptors[0];
    forward_multiplies_by_factor_and_alpha(d);
    backward_matches_finite_differences(d);
    bad_factor_is_rejected_naming_the_key(d);
    mistakes_are_named(d);
    if (failures == 0)
        printf("test_scale: all checks passed\n");
    return failures ? 1 : 0;
}
