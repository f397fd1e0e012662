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

/* a value out of range is refused, naming the field and its range, never silently replaced
 * by the default (rtol -1 used to run with 1e-3) */
Test(sdk_api, gradcheck_refuses_options_out_of_range)
{
    const nn_plugin_desc *d = find("good_square");
    nn_gradcheck_result res;
    nn_error err = {0};
    nn_gradcheck_opts o = {.struct_size = sizeof o, .rtol = -1};
    cr_assert_eq(nn_gradcheck_layer(d, NULL, "2x3", &o, &res, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "nn_gradcheck_opts: rtol -1 and atol 0 must each lie in [0, 1)"),
              "%s", err.msg);
    cr_assert_eq(res.n_checked, 0);
    o = (nn_gradcheck_opts){.struct_size = sizeof o, .atol = -1e-6};
    cr_assert_eq(nn_gradcheck_layer(d, NULL, "2x3", &o, NULL, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "atol -1e-06"), "%s", err.msg);
    o = (nn_gradcheck_opts){.struct_size = sizeof o, .atol = INFINITY};
    cr_assert_eq(nn_gradcheck_layer(d, NULL, "2x3", &o, NULL, &err), NN_EINVAL);
    o = (nn_gradcheck_opts){.struct_size = sizeof o, .rtol = NAN};
    cr_assert_eq(nn_gradcheck_loss(find("bad_loss"), NULL, "4x3", "4x3 f32 [0, 1]", &o, NULL,
                                   &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "rtol nan"), "%s", err.msg);
    o = (nn_gradcheck_opts){.struct_size = sizeof o, .max_elements = -5};
    cr_assert_eq(nn_gradcheck_layer(d, NULL, "2x3", &o, NULL, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "max_elements is -5, expected >= 0"), "%s", err.msg);
    o = (nn_gradcheck_opts){.struct_size = 4, .rtol = 1e-2};
    cr_assert_eq(nn_gradcheck_layer(d, NULL, "2x3", &o, NULL, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "struct_size is 4, expected sizeof(nn_gradcheck_opts)"), "%s",
              err.msg);
    /* a test spec's tolerances obey the same rule */
    nn_plugin_desc copy = *d;
    nn_test_spec spec = {.struct_size = sizeof spec, .atol = 1e9};
    copy.test = &spec;
    cr_assert_eq(nn_gradcheck_layer(&copy, NULL, "2x3", NULL, NULL, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "good_square: its test spec: rtol 0 and atol 1e+09 must each lie "
                     "in [0, 1)"), "%s", err.msg);
    o = (nn_gradcheck_opts){.struct_size = sizeof o, .rtol = 0.5, .atol = 0.5};
    cr_assert_eq(nn_gradcheck_layer(d, NULL, "2x3", &o, &res, &err), NN_OK, "%s", err.msg);
    cr_assert_float_eq(res.rtol, 0.5, 1e-12);
}

/* <nntrain/stock_setup.h>: the stock dense layer's keys, shapes, parameters and refusals, and
 * the shared key readers, as a backend pack uses them */
static const nn_param_spec dense_schema[] = {NN_STOCK_DENSE_PARAMS, {.name = NULL}};
static const nn_param_spec conv_schema[] = {NN_STOCK_CONV2D_PARAMS, {.name = NULL}};

static nn_layer_setup dense_setup_for(const nn_tensor *x, int n_inputs)
{
    nn_layer_setup s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.layer_name = "fc";
    s.n_inputs = n_inputs;
    for (int k = 0; k < n_inputs; k++)
        s.inputs[k] = x;
    return s;
}

Test(sdk_api, stock_dense_setup_declares_what_the_stock_layer_declares)
{
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"units = 3", "bias_init = zeros", "weight_init = he_normal",
                        "activation = gelu", NULL};
    cr_assert_eq(nn_params_new(dense_schema, kv, "[layer.fc]", &p, &err), NN_OK, "%s", err.msg);
    nn_stock_dense k;
    nn_stock_dense_read(p, &k);
    nn_params_free(p);
    cr_assert(k.units == 3 && k.bias && k.bias_zeros && k.activation == 4);
    cr_assert_eq(k.winit, NN_INIT_HE_NORMAL);
    nn_tensor x;
    memset(&x, 0, sizeof x);
    const int64_t xs[2] = {4, 6};
    nn_tensor_describe(&x, NN_F32, 2, xs);
    nn_layer_setup s = dense_setup_for(&x, 1);
    cr_assert_eq(nn_stock_dense_setup(&k, "fc", &s, &err), NN_OK, "%s", err.msg);
    cr_assert(s.output.dl.ndim == 2 && s.output.shape[0] == 4 && s.output.shape[1] == 3);
    cr_assert_eq(s.n_params, 2);
    const nn_param_decl *w = &s.params[NN_STOCK_DENSE_WEIGHT], *b = &s.params[NN_STOCK_DENSE_BIAS];
    cr_assert_str_eq(w->name, "weight");
    cr_assert(w->ndim == 2 && w->shape[0] == 3 && w->shape[1] == 6 && w->fan_in == 6);
    cr_assert_eq(w->init, NN_INIT_HE_NORMAL);
    cr_assert_str_eq(b->name, "bias");
    cr_assert(b->ndim == 1 && b->shape[0] == 3 && b->init == NN_INIT_ZEROS);
    cr_assert(b->flags & NN_TENSOR_BIAS);
    cr_assert_eq(s.flops, 2u * 4 * 6 * 3);
    k.bias = 0;
    s = dense_setup_for(&x, 1);
    cr_assert_eq(nn_stock_dense_setup(&k, "fc", &s, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(s.n_params, 1, "no bias declared when bias = false");
    /* the refusals, with the stock sentences */
    s = dense_setup_for(&x, 2);
    cr_assert_eq(nn_stock_dense_setup(&k, "fc", &s, &err), NN_ESHAPE);
    cr_assert(strstr(err.msg, "layer 'fc': dense takes 1 input, got 2"), "%s", err.msg);
    const int64_t x3[3] = {4, 6, 2};
    nn_tensor_describe(&x, NN_F32, 3, x3);
    s = dense_setup_for(&x, 1);
    cr_assert_eq(nn_stock_dense_setup(&k, "fc", &s, &err), NN_ESHAPE);
    cr_assert(strstr(err.msg, "dense expects a [batch, features] input") &&
                  strstr(err.msg, "put a flatten layer before it"),
              "%s", err.msg);
    nn_tensor_describe(&x, NN_I64, 2, xs);
    s = dense_setup_for(&x, 1);
    cr_assert_eq(nn_stock_dense_setup(&k, "fc", &s, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "dense supports float32 (F32) input only"), "%s", err.msg);
}

Test(sdk_api, stock_key_readers_broadcast_one_value_and_name_a_bad_count)
{
    cr_assert_eq(nn_stock_weight_init(0), NN_INIT_FAN_IN_UNIFORM);
    cr_assert_eq(nn_stock_weight_init(3), NN_INIT_XAVIER_UNIFORM);
    cr_assert_eq(nn_stock_weight_init(99), NN_INIT_FAN_IN_UNIFORM);
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"filters = 4", "kernel = 3", "stride = 2, 1", "dilation = 1, 2, 3",
                        NULL};
    cr_assert_eq(nn_params_new(conv_schema, kv, "[layer.c]", &p, &err), NN_OK, "%s", err.msg);
    int64_t v[2] = {0, 0};
    cr_assert_eq(nn_stock_int_list(p, "kernel", 2, v, "conv2d", &err), NN_OK, "%s", err.msg);
    cr_assert(v[0] == 3 && v[1] == 3);
    cr_assert_eq(nn_stock_int_list(p, "stride", 2, v, "conv2d", &err), NN_OK, "%s", err.msg);
    cr_assert(v[0] == 2 && v[1] == 1);
    cr_assert_eq(nn_stock_int_list(p, "dilation", 2, v, "conv2d", &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "[layer.c]: conv2d: key 'dilation' takes 1 or 2 values, got 3"),
              "%s", err.msg);
    cr_assert_eq(nn_stock_int_list(p, "stride", 1, v, "conv1d", &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "key 'stride' takes 1 value, got 2"), "%s", err.msg);
    nn_params_free(p);
}

Test(sdk_api, stock_optimizer_keys_refuse_what_torch_refuses_and_name_the_slots)
{
    static const nn_param_spec sgd_schema[] = {NN_STOCK_SGD_PARAMS, {.name = NULL}};
    static const nn_param_spec adam_schema[] = {NN_STOCK_ADAM_PARAMS, {.name = NULL}};
    nn_params *p = NULL;
    nn_error err = {0};
    nn_optim_setup st = {.struct_size = sizeof st};
    const char *sgd_kv[] = {"momentum = 0.9", "nesterov = true", NULL};
    cr_assert_eq(nn_params_new(sgd_schema, sgd_kv, "[optimizer]", &p, &err), NN_OK, "%s",
                 err.msg);
    nn_stock_sgd sk = {0};
    cr_assert_eq(nn_stock_sgd_read(p, &sk, &err), NN_OK, "%s", err.msg);
    nn_params_free(p);
    cr_assert(sk.nesterov && sk.momentum == 0.9 && sk.dampening == 0);
    nn_stock_sgd_slots(&sk, &st);
    cr_assert_eq(st.n_slots, 1);
    cr_assert_str_eq(st.slot_names[0], "momentum_buffer");
    sk.momentum = 0;
    nn_stock_sgd_slots(&sk, &st);
    cr_assert_eq(st.n_slots, 0, "no momentum, no slot");
    const char *bad_sgd[] = {"momentum = 0.9", "dampening = 0.1", "nesterov = true", NULL};
    cr_assert_eq(nn_params_new(sgd_schema, bad_sgd, "[optimizer]", &p, &err), NN_OK);
    cr_assert_eq(nn_stock_sgd_read(p, &sk, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "'nesterov' = true needs 'momentum' > 0 and 'dampening' = 0"),
              "%s", err.msg);
    nn_params_free(p);

    const char *adam_kv[] = {"amsgrad = true", "betas = 0.8, 0.99", NULL};
    cr_assert_eq(nn_params_new(adam_schema, adam_kv, "[optimizer]", &p, &err), NN_OK, "%s",
                 err.msg);
    nn_stock_adam ak = {0};
    cr_assert_eq(nn_stock_adam_read(p, &ak, &err), NN_OK, "%s", err.msg);
    nn_params_free(p);
    cr_assert(ak.beta1 == 0.8 && ak.beta2 == 0.99 && ak.amsgrad);
    nn_stock_adam_slots(&ak, &st);
    cr_assert_eq(st.n_slots, 3);
    cr_assert_str_eq(st.slot_names[2], "max_exp_avg_sq");
    const char *bad_adam[] = {"betas = 0.9, 0.99, 0.999", NULL};
    cr_assert_eq(nn_params_new(adam_schema, bad_adam, "[optimizer]", &p, &err), NN_OK);
    cr_assert_eq(nn_stock_adam_read(p, &ak, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "key 'betas' needs exactly 2 numbers (beta1, beta2), got 3"), "%s",
              err.msg);
    nn_params_free(p);
}
