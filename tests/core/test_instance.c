/* test_instance.c: nn_instance_create parses parameters against the plugin's schema before
 * create() runs, hands create() the parsed values, and reports a failing create() with the
 * section and plugin it came from. Uses tests/plugins/nntest_valid (y = factor * x). */
#include "helpers.h"

#include "instance.h"
#include "nntrain/nntrain.h"
#include "registry.h"

static nn_registry *reg;
static char *dir;

static void load(void)
{
    dir = plugin_dir_with("nntest_valid", NULL);
    reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(reg, dir, &err), NN_OK, "%s", err.msg);
}

static void unload(void)
{
    nn_registry_free(reg);
    tmpdir_free(dir);
}

static const nn_plugin_desc *valid_desc(void)
{
    nn_error err = {0};
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_LAYER, "nntest_valid", NULL, &err);
    cr_assert(e, "%s", err.msg);
    return e->desc;
}

Test(instance, create_receives_the_parsed_parameters, .init = load, .fini = unload)
{
    nn_kv kv[] = {{"units", "4", "model.ini", 3}, {"factor", "0.25", "model.ini", 4}};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, valid_desc(), kv, 2, "[layer.s]", &err), NN_OK,
                 "%s", err.msg);
    cr_assert_eq(nn_params_int(inst.params, "units"), 4);
    cr_assert_eq(nn_params_bool(inst.params, "use_bias"), 1); /* the default */
    const nn_layer_vtable *vt = inst.vt;

    /* the plugin computes with what it was given: y = 0.25 * x */
    int64_t shape[] = {2, 3};
    nn_tensor *x = nn_tensor_new(NN_F32, 2, shape);
    nn_layer_setup su = {.struct_size = sizeof su, .layer_name = "s", .n_inputs = 1,
                         .inputs = {x}};
    cr_assert_eq(vt->setup(inst.self, &su, &err), NN_OK, "%s", err.msg);
    cr_assert(nn_shape_equal(&su.output, x));
    nn_tensor *y = nn_tensor_new(NN_F32, 2, shape);
    for (int i = 0; i < 6; i++)
        NN_F32P(x)[i] = (float)(i - 2);
    nn_layer_io io = {.struct_size = sizeof io, .n_inputs = 1, .inputs = {x}, .output = y};
    cr_assert_eq(vt->forward(inst.self, &io, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(NN_F32P(y)[i], 0.25f * (float)(i - 2), 1e-7f);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_instance_destroy(&inst);
    cr_assert_null(inst.self);
    cr_assert_null(inst.params);
}

Test(instance, bad_parameter_is_reported_before_create_runs, .init = load, .fini = unload)
{
    nn_kv kv[] = {{"units", "4", "model.ini", 3}, {"factr", "0.25", "model.ini", 4}};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, valid_desc(), kv, 2, "[layer.s]", &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "model.ini:4: [layer.s] unknown key 'factr' (did you mean "
                              "'factor'?)");
    cr_assert_null(inst.self);
    cr_assert_null(inst.params);
    nn_instance_destroy(&inst); /* harmless on a failed instance */
}

Test(instance, failing_create_is_reported_with_section_and_plugin, .init = load, .fini = unload)
{
    nn_kv kv[] = {{"units", "4", "model.ini", 3}, {"tag", "fail", "model.ini", 4}};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, valid_desc(), kv, 2, "model.ini [layer.s]", &err),
                 NN_EINVAL);
    cr_assert_str_eq(err.msg, "model.ini [layer.s]: layer 'nntest_valid': tag 'fail' asks "
                              "create() to fail");
    cr_assert_null(inst.params);
}

Test(instance, a_create_message_that_starts_with_the_origin_gets_it_once, .init = load,
     .fini = unload)
{
    nn_kv kv[] = {{"units", "4", "model.ini", 3}, {"tag", "fail_at_origin", "model.ini", 4}};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, valid_desc(), kv, 2, "model.ini:2: [layer.s]", &err),
                 NN_EINVAL);
    cr_assert_str_eq(err.msg, "model.ini:2: [layer.s]: tag 'fail_at_origin' asks create() to "
                              "fail");
}

Test(instance, an_instance_knows_its_plugin_file_and_origin, .init = load, .fini = unload)
{
    nn_kv kv[] = {{"units", "4", "model.ini", 3}};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(nn_instance_create(&inst, valid_desc(), kv, 1, "model.ini:2: [layer.s]", &err),
                 NN_OK, "%s", err.msg);
    cr_assert_not_null(inst.path);
    char want[4200];
    snprintf(want, sizeof want, "%s/nntest_valid.so", dir);
    cr_assert_str_eq(inst.path, want); /* what a crash report names */
    cr_assert_str_eq(inst.origin, "model.ini:2: [layer.s]");
    nn_instance_destroy(&inst);
}
