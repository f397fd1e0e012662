/* test_torch_compat.c: lstm, gru, multihead_attention, transformer_encoder_layer and
 * patch_embedding load weights exported from PyTorch (torch_ref.py, Debian's python3-torch,
 * double precision) under PyTorch's state-dict names and reproduce its outputs to 1e-5 and
 * its input and parameter gradients of sum(output .* R) to 1e-4. Without python3-torch every
 * test here fails, saying so: it never skips. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct ref {
    char dir[256], name[64];
    char names[64][64];
    int ndim[64];
    int64_t shape[64][NN_MAX_DIMS];
    int n;
} ref;

static char g_dir[256];

/* runs torch_ref.py once for the NULL-terminated cases, into a fresh directory */
static void torch_export(const char *const *cases)
{
    const char *root = getenv("NNTRAIN_SOURCE_ROOT");
    cr_assert_not_null(root, "NNTRAIN_SOURCE_ROOT is not set (run through meson test)");
    snprintf(g_dir, sizeof g_dir, "/tmp/nnt_torch_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char cmd[1024];
    int len = snprintf(cmd, sizeof cmd, "%s %s/tests/layers/torch_ref.py %s", py, root, g_dir);
    for (; *cases; cases++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s", *cases);
    snprintf(cmd + len, sizeof cmd - (size_t)len, " 1>&2");
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
              "torch_ref.py failed (exit %d): PyTorch's reference needs Debian's "
              "python3-torch, installed by `bash scripts/install-deps.sh --test`",
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

static void torch_cleanup(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

/* reads the manifest of an exported case */
static void ref_make(ref *r, const char *name)
{
    snprintf(r->dir, sizeof r->dir, "%s", g_dir);
    snprintf(r->name, sizeof r->name, "%s", name);
    char path[512];
    snprintf(path, sizeof path, "%s/%s/manifest.txt", r->dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    r->n = 0;
    char line[512];
    while (r->n < 64 && fgets(line, sizeof line, f)) {
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        snprintf(r->names[r->n], sizeof r->names[0], "%s", tok);
        r->ndim[r->n] = atoi(strtok_r(NULL, " \n", &save));
        for (int d = 0; d < r->ndim[r->n]; d++)
            r->shape[r->n][d] = atoll(strtok_r(NULL, " \n", &save));
        r->n++;
    }
    fclose(f);
}

static int ref_find(const ref *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->names[i], name) == 0)
            return i;
    return -1;
}

/* reads NAME.f32 into dst, checking it holds n floats */
static void ref_load(const ref *r, const char *name, float *dst, int64_t n)
{
    int i = ref_find(r, name);
    cr_assert_geq(i, 0, "PyTorch exported no tensor '%s'", name);
    int64_t have = nn_shape_numel(r->ndim[i], r->shape[i]);
    cr_assert_eq(have, n, "'%s': PyTorch's tensor has %lld values, nntrain's %lld", name,
                 (long long)have, (long long)n);
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s.f32", r->dir, r->name, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "no %s", path);
    cr_assert_eq(fread(dst, sizeof *dst, (size_t)n, f), (size_t)n);
    fclose(f);
}

static void expect(const ref *r, const char *name, const float *got, int64_t n, double tol)
{
    float *want = malloc(sizeof *want * (size_t)n);
    ref_load(r, name, want, n);
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i])),
                  "'%s'[%lld]: nntrain %.8g, PyTorch %.8g (tolerance %g)", name, (long long)i,
                  got[i], want[i], tol);
    free(want);
}

typedef struct spec {
    const char *torch_case, *plugin;
    const char *const *kv;
    int cross, pad; /* keys/values input; F32 padding mask input */
    int last_only;  /* return_sequences = false: compare output[:, -1, :] only */
} spec;

static void run(const spec *s)
{
    ref r;
    ref_make(&r, s->torch_case);
    int in = ref_find(&r, "input"), out = ref_find(&r, "output");
    cr_assert(in >= 0 && out >= 0);
    int64_t shapes[3][NN_MAX_DIMS];
    int nds[3], n = 0;
    memcpy(shapes[n], r.shape[in], sizeof shapes[0]);
    nds[n++] = r.ndim[in];
    const char *extra[2] = {s->cross ? "kv" : NULL, s->pad ? "pad" : NULL};
    for (int k = 0; k < 2; k++) {
        if (!extra[k])
            continue;
        int i = ref_find(&r, extra[k]);
        cr_assert_geq(i, 0);
        memcpy(shapes[n], r.shape[i], sizeof shapes[0]);
        nds[n++] = r.ndim[i];
    }
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, s->plugin, (const char *const *)s->kv, n, nds,
                                (const int64_t(*)[NN_MAX_DIMS])shapes, NULL, 1,
                                s->cross ? 3u : 1u, &err),
                 NN_OK, "%s: %s", s->torch_case, err.msg);
    /* every parameter by its PyTorch name, and nothing PyTorch does not have */
    for (int k = 0; k < L.setup.n_params; k++) {
        const char *name = nn_layer_param_decl(&L.setup, k)->name;
        ref_load(&r, name, NN_F32P(L.params[k]), nn_tensor_numel(L.params[k]));
    }
    int n_torch_params = 0;
    for (int i = 0; i < r.n; i++)
        n_torch_params += strncmp(r.names[i], "grad.", 5) == 0 && strcmp(r.names[i], "grad.input") &&
                          strcmp(r.names[i], "grad.kv");
    cr_assert_eq(L.setup.n_params, n_torch_params, "%s: PyTorch has %d parameters",
                 s->torch_case, n_torch_params);
    n = 0;
    ref_load(&r, "input", NN_F32P(L.inputs[n]), nn_tensor_numel(L.inputs[n]));
    n++;
    for (int k = 0; k < 2; k++)
        if (extra[k]) {
            ref_load(&r, extra[k], NN_F32P(L.inputs[n]), nn_tensor_numel(L.inputs[n]));
            n++;
        }
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    if (s->last_only) { /* nntrain's [N, DH] against PyTorch's output[:, -1, :] */
        int64_t N = r.shape[out][0], T = r.shape[out][1], DH = r.shape[out][2];
        float *full = malloc(sizeof *full * (size_t)(N * T * DH));
        ref_load(&r, "output", full, N * T * DH);
        for (int64_t b = 0; b < N; b++)
            for (int64_t j = 0; j < DH; j++)
                cr_assert(fabs(NN_F32P(L.output)[b * DH + j] - full[(b * T + T - 1) * DH + j]) <=
                              1e-5,
                          "%s: output[%lld, -1, %lld]", s->torch_case, (long long)b, (long long)j);
        free(full);
        nnt_layer_close(&L);
        return;
    }
    /* float32 against PyTorch in float64: 1e-5 on O(1) outputs */
    expect(&r, "output", NN_F32P(L.output), nn_tensor_numel(L.output), 1e-5);
    ref_load(&r, "R", NN_F32P(L.grad_output), nn_tensor_numel(L.grad_output));
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    /* gradients sum over every sample and step in float32: 1e-4 */
    expect(&r, "grad.input", NN_F32P(L.grad_inputs[0]), nn_tensor_numel(L.grad_inputs[0]), 1e-4);
    if (s->cross)
        expect(&r, "grad.kv", NN_F32P(L.grad_inputs[1]), nn_tensor_numel(L.grad_inputs[1]), 1e-4);
    for (int k = 0; k < L.setup.n_params; k++) {
        char name[80];
        snprintf(name, sizeof name, "grad.%s", nn_layer_param_decl(&L.setup, k)->name);
        expect(&r, name, NN_F32P(L.param_grads[k]), nn_tensor_numel(L.param_grads[k]), 1e-4);
    }
    nnt_layer_close(&L);
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(torch_compat, lstm_matches_torch_nn_lstm)
{
    torch_export((const char *[]){"lstm", "lstm_bi2", NULL});
    run(&(spec){"lstm", "lstm", KV("hidden_size=4"), 0, 0, 0});
    run(&(spec){"lstm", "lstm", KV("hidden_size=4", "return_sequences=false"), 0, 0, 1});
    run(&(spec){"lstm_bi2", "lstm", KV("hidden_size=4", "num_layers=2", "bidirectional=true"), 0,
                0, 0});
    torch_cleanup();
}

Test(torch_compat, gru_matches_torch_nn_gru)
{
    torch_export((const char *[]){"gru", "gru_bi2", NULL});
    run(&(spec){"gru", "gru", KV("hidden_size=4"), 0, 0, 0});
    run(&(spec){"gru_bi2", "gru", KV("hidden_size=4", "num_layers=2", "bidirectional=true"), 0, 0,
                0});
    run(&(spec){"gru_bi2", "gru",
                KV("hidden_size=4", "num_layers=2", "bidirectional=true", "return_sequences=false"),
                0, 0, 1});
    torch_cleanup();
}

Test(torch_compat, multihead_attention_matches_torch_nn_multiheadattention)
{
    torch_export((const char *[]){"mha_self", "mha_self_causal_pad", "mha_cross_pad", NULL});
    run(&(spec){"mha_self", "multihead_attention", KV("num_heads=2"), 0, 0, 0});
    run(&(spec){"mha_self_causal_pad", "multihead_attention", KV("num_heads=2", "causal=true"), 0,
                1, 0});
    run(&(spec){"mha_cross_pad", "multihead_attention", KV("num_heads=2"), 1, 1, 0});
    torch_cleanup();
}

Test(torch_compat, transformer_encoder_layer_matches_torch)
{
    torch_export((const char *[]){"tel_post_relu", "tel_pre_gelu_pad", NULL});
    run(&(spec){"tel_post_relu", "transformer_encoder_layer",
                KV("nhead=2", "dim_feedforward=16", "dropout=0"), 0, 0, 0});
    run(&(spec){"tel_pre_gelu_pad", "transformer_encoder_layer",
                KV("nhead=2", "dim_feedforward=16", "dropout=0", "norm_first=true",
                   "activation=gelu"),
                0, 1, 0});
    torch_cleanup();
}

Test(torch_compat, patch_embedding_matches_a_strided_conv2d_and_class_token)
{
    torch_export((const char *[]){"patch", NULL});
    run(&(spec){"patch", "patch_embedding",
                KV("patch_size=4", "embed_dim=6", "class_token=true"), 0, 0, 0});
    torch_cleanup();
}
