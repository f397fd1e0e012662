/* data_fixtures.h: model-file fixtures for the core/data tests: a CSV of 100 rows in three
 * classes (60/30/10), a config parsed from text, and nn_data opened from it. Test-only. */
#ifndef NN_TEST_DATA_DATA_FIXTURES_H
#define NN_TEST_DATA_DATA_FIXTURES_H

#include "core/config.h"
#include "core/data/data.h"
#include "core/data/loader.h"
#include "fixtures.h"

/* row i: features (i, 2i + 0.5), class c0 for i % 10 < 6, c1 for < 9, else c2 */
static inline int dfx_class(int i)
{
    return i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2;
}

static inline void dfx_write_csv(const char *rel, int n)
{
    char *buf = malloc((size_t)n * 64 + 64);
    size_t o = (size_t)sprintf(buf, "f0,f1,label\n");
    for (int i = 0; i < n; i++)
        o += (size_t)sprintf(buf + o, "%d,%.1f,c%d\n", i, 2.0 * i + 0.5, dfx_class(i));
    fx_write(rel, buf, o);
    free(buf);
}

static inline nn_registry *dfx_registry(void)
{
    nn_registry *r = fx_registry();
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(r, TEST_TRANSFORM_DIR, &err), 0, "%s", err.msg);
    return r;
}

typedef struct dfx {
    nn_registry *reg;
    nn_config *cfg;
    nn_data *d;
} dfx;

/* parses ini text and opens it; returns the status, the message in err */
static inline int dfx_open(dfx *f, const char *ini, const nn_data_opts *o, nn_error *err)
{
    memset(f, 0, sizeof *f);
    f->reg = dfx_registry();
    cr_assert_eq(nn_config_parse(ini, "model.ini", &f->cfg, err), 0, "%s", err->msg);
    nn_data_opts oo = *o;
    oo.base_dir = fx_dir;
    return nn_data_open(f->reg, f->cfg, &oo, &f->d, err);
}

static inline void dfx_ok(dfx *f, const char *ini, const nn_data_opts *o)
{
    nn_error err = {0};
    cr_assert_eq(dfx_open(f, ini, o, &err), 0, "%s", err.msg);
}

static inline void dfx_free(dfx *f)
{
    nn_data_free(f->d);
    nn_config_free(f->cfg);
    nn_registry_free(f->reg);
}

#endif
