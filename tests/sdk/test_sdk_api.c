/* test_sdk_api.c: what a plugin's own unit test gets from the SDK, used exactly as a third
 * party would: only <nntrain/nntrain.h>, the plugin's .c linked in (nntest_broken.c), and
 * libnncore's nn_params_new and gradient checker. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <nntrain/nntrain.h>

extern const nn_plugin_desc *const nn_plugin_descriptors[];

static const nn_plugin_desc *find(const char *name)
{
    for (int i = 0; nn_plugin_descriptors[i]; i++)
        if (strcmp(nn_plugin_descriptors[i]->name, name) == 0)
            return nn_plugin_descriptors[i];
    cr_assert_fail("no descriptor '%s'", name);
    return NULL;
}

static const nn_param_spec schema[] = {
    {.name = "units", .type = NN_PARAM_INT, .range = "[1, inf)", .required = 1,
     .doc = "output features"},
    {.name = "alpha", .type = NN_PARAM_FLOAT, .def = "0.25", .range = "[0, 1]", .doc = "slope"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "fast", .choices = "fast|exact", .doc = "how"},
    {.name = NULL},
};

Test(sdk_api, params_new_fills_defaults_and_reads_given_values)
{
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"units = 7", "mode=exact", NULL};
    cr_assert_eq(nn_params_new(schema, kv, "[layer.t]", &p, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_params_int(p, "units"), 7);
    cr_assert_float_eq(nn_params_float(p, "alpha"), 0.25, 1e-12);
    cr_assert_eq(nn_params_enum(p, "mode"), 1);
    cr_assert(nn_params_is_set(p, "units") && !nn_params_is_set(p, "alpha"));
    cr_assert_str_eq(nn_params_origin(p), "[layer.t]");
    nn_params_free(p);
    nn_params_free(NULL);
}

Test(sdk_api, params_new_rejects_bad_values_naming_the_key)
{
    nn_params *p = (nn_params *)1;
    nn_error err = {0};
    const char *bad[] = {"units=3", "alpha=1.5", NULL};
    cr_assert_eq(nn_params_new(schema, bad, NULL, &p, &err), NN_EINVAL);
    cr_assert_null(p);
    cr_assert(strstr(err.msg, "[test] key 'alpha' = '1.5': out of range"), "%s", err.msg);
    const char *typo[] = {"unit=3", NULL};
    cr_assert_eq(nn_params_new(schema, typo, NULL, &p, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "did you mean 'units'?"), "%s", err.msg);
    cr_assert_eq(nn_params_new(schema, NULL, NULL, &p, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "missing required key 'units'"), "%s", err.msg);
    const char *noeq[] = {"units", NULL};
    cr_assert_eq(nn_params_new(schema, noeq, NULL, &p, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "'units' is not key=value"), "%s", err.msg);
}

Test(sdk_api, params_new_feeds_a_plugins_create_directly)
{
    const nn_plugin_desc *d = find("good_square");
    nn_params *p = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_params_new(d->params, NULL, NULL, &p, &err), NN_OK, "%s", err.msg);
    const nn_layer_vtable *vt = d->vtable;
    void *self = NULL;
    cr_assert_eq(vt->create(p, &self, &err), NN_OK, "%s", err.msg);
    vt->destroy(self);
    nn_params_free(p);
}

Test(sdk_api, gradcheck_passes_a_correct_layer_on_several_shapes)
{
    const nn_plugin_desc *d = find("good_square");
    const char *shapes[] = {"3x4", "2x3x5x2", "7 f32 [2, 50]"};
    for (int i = 0; i < 3; i++) {
        nn_gradcheck_result res;
        nn_error err = {0};
        cr_assert_eq(nn_gradcheck_layer(d, NULL, shapes[i], NULL, &res, &err), NN_OK,
                     "%s: %s", shapes[i], err.msg);
        cr_assert_leq(res.worst, 1.0);
        cr_assert_gt(res.n_checked, 0);
        cr_assert_float_eq(res.rtol, 1e-3, 1e-15);
    }
}

Test(sdk_api, gradcheck_finds_a_wrong_derivative_and_names_the_element)
{
    nn_gradcheck_result res;
    nn_error err = {0};
    cr_assert_eq(nn_gradcheck_layer(find("bad_grad"), NULL, "2x3", NULL, &res, &err), NN_EINVAL);
    cr_assert_gt(res.worst, 1.0);
    /* dx = 3 x dy against 2 x dy: half again too large everywhere */
    cr_assert_float_eq(res.worst_rel, 1.0 / 3.0, 0.01, "%g", res.worst_rel);
    cr_assert(strstr(err.msg, "gradient mismatch: input 0 ["), "%s", err.msg);
    cr_assert(strstr(res.where, "analytic") && strstr(res.where, "numeric"), "%s", res.where);
}

Test(sdk_api, gradcheck_of_a_loss_finds_a_flipped_sign)
{
    nn_gradcheck_result res;
    nn_error err = {0};
    cr_assert_eq(nn_gradcheck_loss(find("bad_loss"), NULL, "4x3", "4x3 f32 [0, 1]", NULL, &res,
                                   &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "prediction ["), "%s", err.msg);
    cr_assert_float_eq(res.worst_rel, 2.0, 1e-3);
}

Test(sdk_api, gradcheck_reports_bad_arguments_clearly)
{
    nn_error err = {0};
    cr_assert_eq(nn_gradcheck_layer(find("good_square"), NULL, "3y4", NULL, NULL, &err),
                 NN_EINVAL);
    cr_assert(strstr(err.msg, "tensor spec '3y4'"), "%s", err.msg);
    cr_assert_eq(nn_gradcheck_layer(find("bad_loss"), NULL, "3", NULL, NULL, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "is not a layer"), "%s", err.msg);
    const char *kv[] = {"nokey=1", NULL};
    cr_assert_eq(nn_gradcheck_layer(find("good_square"), kv, "3", NULL, NULL, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "unknown key 'nokey'"), "%s", err.msg);
}
