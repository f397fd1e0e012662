/* spec_check.h: runs the SDK's gradient checker (<nntrain/gradcheck.h>, what `nntrain plugins
 * test` runs) over every case a layer's descriptor declares in its test spec, so a test can
 * assert them without copying the cases. Test code. */
#ifndef NNT_SPEC_CHECK_H
#define NNT_SPEC_CHECK_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* every case of `name`'s test spec (at least min_cases of them) passes the gradient check */
static inline void spec_gradient(const char *name, int min_cases)
{
    nn_error err = {0};
    nn_registry *reg = nn_registry_new(NULL);
    cr_assert_eq(nn_registry_scan(reg, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_LAYER, name, NULL, &err);
    cr_assert(e, "%s", err.msg);
    const nn_test_spec *spec = e->desc->test;
    cr_assert(spec && spec->n_cases >= min_cases, "%s declares %d test cases, want %d", name,
              spec ? spec->n_cases : 0, min_cases);
    for (int i = 0; i < spec->n_cases; i++) {
        char params[512], *kv[32], *save = NULL;
        int n = 0;
        snprintf(params, sizeof params, "%s", spec->cases[i].params ? spec->cases[i].params : "");
        for (char *t = strtok_r(params, ";", &save); t && n < 31; t = strtok_r(NULL, ";", &save))
            kv[n++] = t;
        kv[n] = NULL;
        nn_gradcheck_result res;
        cr_assert_eq(nn_gradcheck_layer(e->desc, (const char *const *)kv, spec->cases[i].inputs,
                                        NULL, &res, &err), NN_OK, "%s case %d (%s; %s): %s",
                     name, i, spec->cases[i].inputs, spec->cases[i].params, err.msg);
        cr_assert_gt(res.n_checked, 0);
    }
    nn_registry_free(reg);
}

#endif
