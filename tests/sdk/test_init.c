/* test_init.c: NN_INIT_CONSTANT, the initialiser that starts a learned parameter at a value
 * the model file gives (init_arg): filled by nn_init_tensor for any seed, and kept by the
 * model's first initialisation and by every re-initialisation. */
#include <criterion/criterion.h>

#include "config.h"
#include "graph.h"
#include "registry.h"

Test(init, constant_fills_every_element_with_init_arg_whatever_the_seed)
{
    int64_t shape[2] = {3, 5};
    nn_tensor *t = nn_tensor_new(NN_F32, 2, shape);
    cr_assert(t);
    for (uint64_t seed = 1; seed < 4; seed++) {
        nn_init_tensor(t, NN_INIT_CONSTANT, -0.375, 5, 3, seed, 99);
        for (int i = 0; i < 15; i++)
            cr_assert_eq(NN_F32P(t)[i], -0.375f, "element %d = %g", i, NN_F32P(t)[i]);
    }
    nn_tensor_free(t);
}

Test(init, learned_parameter_starts_at_the_model_files_value)
{
    nn_registry *reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(reg, NNTEST_BETA_SO, &err), NN_OK, "%s", err.msg);
    nn_config *cfg = NULL;
    cr_assert_eq(nn_config_parse("[layer.s]\ntype = learned_shift\nbeta = 0.75\n", "m.ini", &cfg,
                                 &err), NN_OK, "%s", err.msg);
    nn_model *m = nn_model_new(reg, NULL);
    cr_assert_eq(nn_model_from_config(m, cfg, &err), NN_OK, "%s", err.msg);
    int64_t sample[1] = {4};
    nn_plan *p = NULL;
    cr_assert_eq(nn_model_plan(m, 1, sample, NN_F32, 2, 0, 7, &p, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_model_param_count(m), 1);
    for (uint64_t seed = 7; seed < 9; seed++) {
        if (seed > 7)
            cr_assert_eq(nn_model_reinit(m, seed, &err), NN_OK, "%s", err.msg);
        nn_tensor *beta = nn_model_param(m, 0, NULL, NULL, NULL, NULL);
        cr_assert_eq(nn_tensor_numel(beta), 4);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(NN_F32P(beta)[i], 0.75f, "seed %llu: beta[%d] = %g",
                         (unsigned long long)seed, i, NN_F32P(beta)[i]);
    }
    nn_model_free(m);
    nn_config_free(cfg);
    nn_registry_free(reg);
}
