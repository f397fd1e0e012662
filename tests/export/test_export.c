/* test_export.c: `nntrain export` and `train --init-from` checked by runtimes that are not
 * nntrain: python3-onnx's checker (full_check) and ONNX Runtime (npm onnxruntime-node, through
 * ort_check.js) on the exported examples, whose outputs must match `nntrain predict` to 1e-5;
 * PyTorch (torch_check.py) loading safetensors-torch output with strict=True, and starting
 * an nntrain run from weights it saved. Each example trains one short epoch on the first
 * samples of Fashion-MNIST (Debian's dataset-fashion-mnist): seconds per test. A runtime that
 * is really missing skips its test with the reason; nothing is skipped silently. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/cli_fixture.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"
#define TEST_IMAGES FMNIST "/t10k-images-idx3-ubyte.gz"
/* as the idx plugin scales pixels: v / 255 in float */
#define PIXEL_SCALE "0.00392156862745098"
#define LIMITS "--set train.epochs=1 --set data.limit=320 --set data.test_limit=40"

static const char *src_root(void)
{
    const char *r = getenv("NNTRAIN_SOURCE_ROOT");
    cr_assert_not_null(r, "NNTRAIN_SOURCE_ROOT is not set (run through meson test)");
    return r;
}

static const char *python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* runs a shell command in dir with its output in dir/NAME; returns its exit status */
static int shell(const char *out, const char *fmt, ...)
{
    char c[3000], cmd[3400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c, sizeof c, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && (%s) > %s 2>&1", dir, c, out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void need_fmnist(void)
{
    if (access(TEST_IMAGES, R_OK) != 0)
        cr_skip_test("SKIP: %s is missing (Debian's dataset-fashion-mnist, "
                     "scripts/install-deps.sh)", TEST_IMAGES);
}

static void need_python_module(const char *mod, const char *pkg)
{
    if (shell("probe.txt", "%s -c 'import %s'", python(), mod) != 0)
        cr_skip_test("SKIP: %s cannot import %s (Debian's %s, installed by "
                     "`bash scripts/install-deps.sh --test`)", python(), mod, pkg);
}

static const char *node_modules(void)
{
    static char p[1200];
    const char *env = getenv("NNTRAIN_NODE_MODULES");
    if (env)
        snprintf(p, sizeof p, "%s", env);
    else
        snprintf(p, sizeof p, "%s/.deps/npm/node_modules", src_root());
    return p;
}

static void need_ort(void)
{
    if (shell("probe.txt", "node --version") != 0)
        cr_skip_test("SKIP: node is missing (Debian's nodejs, scripts/install-deps.sh --test)");
    char pkg[1400];
    snprintf(pkg, sizeof pkg, "%s/onnxruntime-node/package.json", node_modules());
    if (access(pkg, R_OK) != 0)
        cr_skip_test("SKIP: %s is missing: `bash scripts/install-deps.sh --test` installs the "
                     "npm package onnxruntime-node there", pkg);
}

static char *must_slurp(const char *name)
{
    char *t = slurp(name);
    cr_assert_not_null(t, "%s was not written", name);
    return t;
}

/* the number after "key": in a JSON line */
static double json_num(const char *text, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(text, k);
    cr_assert_not_null(p, "no %s in: %s", key, text);
    return strtod(p + strlen(k), NULL);
}

/* trains EXAMPLE briefly, exports it, checks it with onnx's checker and runs it in ONNX
 * Runtime against `nntrain predict`; returns check_onnx.py's JSON line (owned) */
static char *export_and_compare(const char *model, const char *sets)
{
    need_fmnist();
    need_python_module("onnx", "python3-onnx");
    need_ort();
    cr_assert_eq(nntrain("train %s %s %s --run-dir run -q --no-test", model, LIMITS, sets), 0,
                 "train: %s", slurp("out.txt"));
    cr_assert_eq(nntrain("export %s %s %s --checkpoint run/last.safetensors -o m.onnx", model,
                         LIMITS, sets), 0, "export: %s", slurp("out.txt"));
    cr_assert_eq(nntrain("predict %s %s %s --checkpoint run/last.safetensors --output p.csv",
                         model, LIMITS, sets), 0, "predict: %s", slurp("out.txt"));
    int rc = shell("onnx.txt", "%s %s/tests/export/check_onnx.py m.onnx", python(), src_root());
    char *info = must_slurp("onnx.txt");
    cr_assert_eq(rc, 0, "onnx.checker.check_model(full_check=True) refused it: %s", info);
    cr_assert(strstr(info, "\"inputs\": {\"input\": [\"N\", 1, 28, 28]}"),
              "the input is not [N, 1, 28, 28] with a symbolic batch: %s", info);
    cr_assert(strstr(info, "\"outputs\": {\"output\": [\"N\", 10], \"probabilities\": "
                           "[\"N\", 10]}"), "outputs: %s", info);
    cr_assert(strstr(info, "\\\"Ankle boot\\\"]"), "no class names in the metadata: %s", info);
    cr_assert_geq(json_num(info, "opset"), 17);
    cr_assert_null(strstr(info, "\"Dropout\""), "a Dropout node in the eval graph: %s", info);
    rc = shell("ort.txt", "NNTRAIN_NODE_MODULES=%s node %s/tests/export/ort_check.js m.onnx %s "
               "%s p.csv 1e-5", node_modules(), src_root(), TEST_IMAGES, PIXEL_SCALE);
    char *ort = must_slurp("ort.txt");
    cr_assert_eq(rc, 0, "ONNX Runtime's outputs differ from nntrain predict: %s", ort);
    cr_assert_eq(json_num(ort, "rows"), 40, "%s", ort);
    cr_assert_leq(json_num(ort, "max_diff"), 1e-5, "%s", ort);
    cr_assert_eq(json_num(ort, "agree"), 40, "ORT's classes differ from predict's: %s", ort);
    cr_log_info("%s", ort);
    free(ort);
    return info;
}

static char example[1200];
static const char *ex(const char *name)
{
    snprintf(example, sizeof example, "%s/examples/%s.ini", src_root(), name);
    return example;
}

static void setup(void)
{
    cli_setup("export");
}

TestSuite(export, .init = setup, .fini = cli_teardown, .timeout = 240);

Test(export, mlp_runs_in_onnx_runtime_as_in_predict)
{
    char *info = export_and_compare(ex("fashion_mnist_mlp"), "");
    cr_assert(strstr(info, "\"ops\": [\"Flatten\", \"Gemm\", \"Relu\", \"Gemm\", \"Relu\", "
                           "\"Gemm\", \"Softmax\"]"), "%s", info);
    free(info);
}

Test(export, cnn_with_batchnorm_dropout_and_normalize_runs_in_onnx_runtime)
{
    /* fashion_mnist_full: normalize fitted on the data (the graph's first nodes), random
     * crops and flips (training only: absent), batch norm, dropout (absent) */
    char *info = export_and_compare(ex("fashion_mnist_full"), "");
    cr_assert(strstr(info, "\"ops\": [\"Sub\", \"Mul\", \"Conv\""),
              "normalize is not the first nodes: %s", info);
    cr_assert(strstr(info, "\"BatchNormalization\""), "%s", info);
    cr_assert_null(strstr(info, "\"Identity\""), "dropout left a node: %s", info);
    cr_assert(strstr(info, "\"bn1.running_mean\""), "running statistics not named: %s", info);
    free(info);
}

Test(export, residual_mlp_runs_in_onnx_runtime)
{
    char *info = export_and_compare(ex("residual_mlp"), "");
    cr_assert(strstr(info, "\"Add\"") && strstr(info, "\"LayerNormalization\""), "%s", info);
    free(info);
}

Test(export, lstm_runs_in_onnx_runtime)
{
    char *info = export_and_compare(ex("fashion_mnist_lstm"), "");
    cr_assert(strstr(info, "\"LSTM\""), "%s", info);
    free(info);
}

Test(export, vision_transformer_runs_in_onnx_runtime)
{
    char *info = export_and_compare(ex("fashion_mnist_vit"), "");
    cr_assert(strstr(info, "\"Softmax\"") && strstr(info, "\"Erf\""), "%s", info);
    free(info);
}

Test(export, the_sdk_template_layer_exports_through_its_slot)
{
    /* sdk/template/scale.c, built here as a plugin (NNTEST_SCALE_DIR); mixup, a batch
     * transform of training, leaves no node */
    write_file("m.ini", "[train]\nbatch_size = 32\n[data]\ntype = idx\ndir = " FMNIST "\n"
                        "[transform.mix]\ntype = mixup\n"
                        "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.1\n"
                        "[layer.flat]\ntype = flatten\n[layer.fc]\ntype = dense\nunits = 10\n"
                        "[layer.s]\ntype = scale\nfactor = 0.5\n");
    char *info = export_and_compare("m.ini", "--plugin-dir " NNTEST_SCALE_DIR);
    cr_assert(strstr(info, "\"ops\": [\"Flatten\", \"Gemm\", \"Mul\", \"Softmax\"]"), "%s",
              info);
    free(info);
}

Test(export, a_layer_without_an_export_slot_fails_naming_it)
{
    /* tests/plugins' nntest_valid: a layer (y = factor x) whose plugin has no export slot */
    need_fmnist();
    cr_assert_eq(shell("cp.txt", "mkdir plugins && cp %s/nntest_valid.so plugins/",
                       NNTEST_PLUGIN_DIR), 0, "%s", slurp("cp.txt"));
    write_file("m.ini", "[train]\nbatch_size = 16\n[data]\ntype = idx\ndir = " FMNIST "\n"
                        "limit = 32\ntest_limit = 8\n[loss]\ntype = cross_entropy\n"
                        "[optimizer]\ntype = sgd\n[layer.flat]\ntype = flatten\n"
                        "[layer.fc]\ntype = dense\nunits = 10\n"
                        "[layer.half]\ntype = nntest_valid\nunits = 1\n");
    cr_assert_eq(nntrain("train m.ini --set train.epochs=1 --run-dir run -q --no-test "
                         "--plugin-dir plugins"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("export m.ini --checkpoint run/last.safetensors -o m.onnx "
                         "--plugin-dir plugins"), 1);
    char *out = must_slurp("out.txt");
    cr_assert(strstr(out, "m.ini:17: [layer.half]: layer 'half' (type nntest_valid, plugins/"
                          "nntest_valid.so) cannot be exported to ONNX: its plugin has no export "
                          "slot"), "%s", out);
    free(out);
    cr_assert_eq(access(path_in("m.onnx"), F_OK), -1, "a partial m.onnx was left");
    /* the weights alone need no slot */
    cr_assert_eq(nntrain("export m.ini --checkpoint run/last.safetensors --format "
                         "safetensors-torch -o w.safetensors --plugin-dir plugins"), 0,
                 "%s", slurp("out.txt"));
}

Test(export, bad_command_lines_are_refused)
{
    need_fmnist();
    write_file("m.ini", "[data]\ntype = idx\ndir = " FMNIST "\n[loss]\ntype = cross_entropy\n"
                        "[layer.flat]\ntype = flatten\n[layer.fc]\ntype = dense\nunits = 10\n");
    cr_assert_eq(nntrain("export m.ini --checkpoint x --format tflite"), 2);
    char *out = must_slurp("out.txt");
    cr_assert(strstr(out, "--format tflite: expected onnx or safetensors-torch"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("export m.ini --checkpoint x --opset 12"), 2);
    out = must_slurp("out.txt");
    cr_assert(strstr(out, "--opset 12: expected an ONNX opset from 17 to 21"), "%s", out);
    free(out);
    /* export runs on the host: a device is refused, not used to look for export slots */
    cr_assert_eq(nntrain("export m.ini --checkpoint x --device sim:0"), 2);
    out = must_slurp("out.txt");
    cr_assert(strstr(out, "--device sim:0: export runs on the host"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("export m.ini --checkpoint x --device ''"), 2);
    out = must_slurp("out.txt");
    cr_assert(strstr(out, "--device '': expected TYPE or TYPE:N"), "%s", out);
    free(out);
}

/* ---- the other stock layers, in small models of Fashion-MNIST images ---- */

#define ZOO_HEAD "[train]\nbatch_size = 32\nseed = 3\n[data]\ntype = idx\ndir = " FMNIST "\n" \
                 "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.003\n"

/* rows as a sequence: permute, a 2-layer bidirectional GRU, causal self-attention, sinusoidal
 * positions, a post-norm encoder layer (dropout on in training), matmul with scale and
 * transpose, softmax over an axis, max pooling over time */
static const char seq_ini[] = ZOO_HEAD
    "[layer.rows]\ntype = reshape\nshape = 28, 28\n[layer.cols]\ntype = permute\n"
    "order = 0, 2, 1\n[layer.gru]\ntype = gru\nhidden_size = 8\nbidirectional = true\n"
    "num_layers = 2\n[layer.attn]\ntype = multihead_attention\nnum_heads = 2\n"
    "causal = true\n[layer.pos]\ntype = positional_embedding\nmode = sinusoidal\n"
    "max_len = 28\n[layer.enc]\ntype = transformer_encoder_layer\nnhead = 2\n"
    "dim_feedforward = 16\ndropout = 0.1\nactivation = relu\n[layer.scores]\n"
    "type = matmul\ninputs = enc, enc\ntranspose_b = true\nscale = 0.25\n[layer.sm]\n"
    "type = softmax\n[layer.mix]\ntype = matmul\ninputs = sm, enc\n[layer.pool]\n"
    "type = sequence_pool\nmode = max\n[layer.head]\ntype = dense\nunits = 10\n";

/* strided, padded, dilated and grouped convolutions, average pooling without the padding,
 * concat, global average pooling, every activation layer, and log_softmax on the logits */
static const char conv_ini[] = ZOO_HEAD
    "[layer.c1]\ntype = conv2d\nfilters = 4\nkernel = 3\nstride = 2\npadding = 1\n"
    "[layer.a1]\ntype = leaky_relu\n[layer.p1]\ntype = avgpool2d\nkernel = 3\n"
    "stride = 2\npadding = 1\ncount_include_pad = false\n[layer.c2]\ntype = conv2d\n"
    "filters = 4\nkernel = 3\npadding = same\ndilation = 2\n[layer.e]\ntype = elu\n"
    "[layer.c3]\ntype = conv2d\ninputs = p1\nfilters = 4\nkernel = 1\ngroups = 2\n"
    "activation = tanh\n[layer.cat]\ntype = concat\ninputs = e, c3\n[layer.m]\n"
    "type = mish\n[layer.g]\ntype = global_avgpool\n[layer.flat]\ntype = flatten\n"
    "[layer.f1]\ntype = dense\nunits = 16\n[layer.sw]\ntype = swish\n[layer.f2]\n"
    "type = dense\nunits = 16\n[layer.hs]\ntype = hardswish\n[layer.sp]\ntype = softplus\n"
    "[layer.ge]\ntype = gelu\n[layer.sg]\ntype = sigmoid\n[layer.ln]\ntype = layernorm\n"
    "[layer.drop]\ntype = dropout\np = 0.2\n[layer.head]\ntype = dense\nunits = 10\n"
    "[layer.lsm]\ntype = log_softmax\n";

/* conv1d with a fused gelu, an LSTM returning sequences, the last step pooled */
static const char c1d_ini[] = ZOO_HEAD
    "[layer.rows]\ntype = reshape\nshape = 28, 28\n[layer.c]\ntype = conv1d\n"
    "filters = 6\nkernel = 5\nstride = 2\npadding = 2\nactivation = gelu\n[layer.lstm]\n"
    "type = lstm\ninputs = c\nhidden_size = 6\nreturn_sequences = true\n[layer.t]\n"
    "type = permute\norder = 0, 2, 1\n[layer.pool]\ntype = sequence_pool\nmode = last\n"
    "[layer.head]\ntype = dense\nunits = 10\n";

Test(export, sequence_layers_run_in_onnx_runtime)
{
    write_file("m.ini", seq_ini);
    char *info = export_and_compare("m.ini", "");
    cr_assert(strstr(info, "\"GRU\"") && strstr(info, "\"LayerNormalization\""), "%s", info);
    free(info);
}

Test(export, convolutions_pooling_and_activations_run_in_onnx_runtime)
{
    write_file("m.ini", conv_ini);
    char *info = export_and_compare("m.ini", "");
    /* mish is x tanh(softplus(x)) before opset 18 */
    const char *ops[] = {"LeakyRelu", "AveragePool", "Elu", "Concat", "GlobalAveragePool",
                         "HardSwish", "Softplus", "Sigmoid", "Tanh", "Erf", "LogSoftmax"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char q[64];
        snprintf(q, sizeof q, "\"%s\"", ops[i]);
        cr_assert(strstr(info, q), "no %s node: %s", ops[i], info);
    }
    free(info);
    /* the newest opset (Mish a node of its own, reduce axes as inputs): ONNX Runtime only, as
     * Debian's onnx checker stops at opset 17 */
    cr_assert_eq(nntrain("export m.ini " LIMITS " --checkpoint run/last.safetensors -o m21.onnx "
                         "--opset 21"), 0, "%s", slurp("out.txt"));
    int rc = shell("ort.txt", "NNTRAIN_NODE_MODULES=%s node %s/tests/export/ort_check.js m21.onnx "
                   "%s %s p.csv 1e-5", node_modules(), src_root(), TEST_IMAGES, PIXEL_SCALE);
    char *ort = must_slurp("ort.txt");
    cr_assert_eq(rc, 0, "opset 21: %s", ort);
    cr_assert_leq(json_num(ort, "max_diff"), 1e-5, "%s", ort);
    free(ort);
}

Test(export, conv1d_and_lstm_sequences_run_in_onnx_runtime)
{
    write_file("m.ini", c1d_ini);
    char *info = export_and_compare("m.ini", "");
    cr_assert(strstr(info, "\"LSTM\"") && strstr(info, "\"Conv\""), "%s", info);
    free(info);
}

/* token ids: embedding with a padding row, learned positions, a pre-norm encoder layer and
 * attention masking the padding input, mean pooling over the real positions */
static const char text_ini[] =
    "[train]\n"
    "batch_size = 16\n"
    "epochs = 2\n"
    "[data]\n"
    "type = text\n"
    "path = train.tsv\n"
    "test_path = test.tsv\n"
    "max_len = 12\n"
    "[loss]\n"
    "type = cross_entropy\n"
    "[optimizer]\n"
    "type = adam\n"
    "lr = 0.01\n"
    "[layer.emb]\n"
    "type = embedding\n"
    "num_embeddings = 64\n"
    "embedding_dim = 8\n"
    "padding_idx = 0\n"
    "[layer.pos]\n"
    "type = positional_embedding\n"
    "max_len = 12\n"
    "[layer.enc]\n"
    "type = transformer_encoder_layer\n"
    "inputs = pos, input\n"
    "nhead = 2\n"
    "dim_feedforward = 16\n"
    "dropout = 0\n"
    "norm_first = true\n"
    "activation = gelu\n"
    "[layer.attn]\n"
    "type = multihead_attention\n"
    "inputs = enc, enc, input\n"
    "num_heads = 2\n"
    "[layer.pool]\n"
    "type = sequence_pool\n"
    "inputs = attn, input\n"
    "mode = mean\n"
    "[layer.head]\n"
    "type = dense\n"
    "units = 2\n";

/* label<TAB>text lines: a sentiment word among fillers, 1 to 10 words, some unknown at test */
static void write_text(const char *name, int n, unsigned seed)
{
    static const char *const pos[] = {"good", "great", "fine", "nice"},
                              *const neg[] = {"bad", "awful", "poor", "sad"},
                              *const fill[] = {"the", "a", "movie", "was", "very", "plot",
                                               "Acting", "and", "it"};
    FILE *f = fopen(path_in(name), "w");
    cr_assert_not_null(f);
    srand(seed);
    for (int i = 0; i < n; i++) {
        int y = rand() % 2, words = 1 + rand() % 9, at = rand() % (words + 1);
        fprintf(f, "%s\t", y ? "pos" : "neg");
        for (int k = 0; k <= words; k++)
            fprintf(f, "%s%s", k ? " " : "", k == at ? (y ? pos : neg)[rand() % 4]
                                                       : fill[rand() % 9]);
        if (rand() % 5 == 0)
            fprintf(f, " zzz%d", rand() % 1000);
        fputc('\n', f);
    }
    fclose(f);
}

Test(export, token_models_with_padding_run_in_onnx_runtime)
{
    need_python_module("onnx", "python3-onnx");
    need_ort();
    write_text("train.tsv", 200, 5);
    write_text("test.tsv", 40, 6);
    write_file("m.ini", text_ini);
    cr_assert_eq(nntrain("train m.ini --run-dir run -q --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("export m.ini --checkpoint run/last.safetensors -o m.onnx"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("predict m.ini --checkpoint run/last.safetensors --output p.csv"), 0,
                 "%s", slurp("out.txt"));
    int rc = shell("onnx.txt", "%s %s/tests/export/check_onnx.py m.onnx", python(), src_root());
    char *info = must_slurp("onnx.txt");
    cr_assert_eq(rc, 0, "onnx.checker refused it: %s", info);
    cr_assert(strstr(info, "\"inputs\": {\"input\": [\"N\", 12]}"), "%s", info);
    cr_assert(strstr(info, "\"Gather\"") && strstr(info, "\"Equal\""), "%s", info);
    free(info);
    rc = shell("ort.txt", "NNTRAIN_NODE_MODULES=%s node %s/tests/export/ort_check.js m.onnx "
               "test.tsv run/vocab.txt:12 p.csv 1e-5", node_modules(), src_root());
    char *ort = must_slurp("ort.txt");
    cr_assert_eq(rc, 0, "ONNX Runtime's outputs differ from nntrain predict: %s", ort);
    cr_assert_eq(json_num(ort, "rows"), 40, "%s", ort);
    cr_assert_eq(json_num(ort, "agree"), 40, "%s", ort);
    cr_log_info("%s", ort);
    free(ort);
}

/* ---- PyTorch ---- */

static const char cnn_ini[] =
    "[train]\nbatch_size = 32\n[data]\ntype = idx\ndir = " FMNIST "\n"
    "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.05\nmomentum = 0.9\n"
    "[layer.conv1]\ntype = conv2d\nfilters = 8\nkernel = 3\npadding = same\nactivation = relu\n"
    "[layer.bn1]\ntype = batchnorm\n[layer.pool]\ntype = maxpool2d\nkernel = 2\n"
    "[layer.flatten]\ntype = flatten\n[layer.drop]\ntype = dropout\np = 0.3\n"
    "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
    "[layer.fc2]\ntype = dense\nunits = 10\n";

static char *torch_compare(const char *weights, const char *csv)
{
    int rc = shell("torch.txt", "%s %s/tests/export/torch_check.py compare %s %s %s 1e-5",
                   python(), src_root(), weights, TEST_IMAGES, csv);
    char *t = must_slurp("torch.txt");
    cr_assert_eq(rc, 0, "PyTorch's outputs differ from nntrain predict: %s", t);
    cr_assert_eq(json_num(t, "rows"), 40, "%s", t);
    cr_assert_leq(json_num(t, "max_diff"), 1e-5, "%s", t);
    cr_log_info("%s", t);
    return t;
}

Test(export, safetensors_torch_loads_strictly_into_the_torch_module)
{
    need_fmnist();
    need_python_module("torch", "python3-torch");
    write_file("m.ini", cnn_ini);
    cr_assert_eq(nntrain("train m.ini " LIMITS " --run-dir run -q --no-test"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("export m.ini " LIMITS " --checkpoint run/last.safetensors "
                         "--format safetensors-torch"), 0, "%s", slurp("out.txt"));
    char *out = must_slurp("out.txt");
    cr_assert(strstr(out, "wrote run/last.torch.safetensors"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("predict m.ini " LIMITS " --checkpoint run/last.safetensors "
                         "--output p.csv"), 0, "%s", slurp("out.txt"));
    /* num_batches_tracked counts the training batches, as PyTorch's would */
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("run/last.torch.safetensors"), &c, &err), 0, "%s",
                 err.msg);
    const nn_tensor *nbt = nn_checkpoint_tensor(c, "bn1.num_batches_tracked");
    cr_assert_not_null(nbt);
    cr_assert_eq(nn_tensor_dtype(nbt), NN_I64);
    int64_t steps;
    memcpy(&steps, nbt->dl.data, sizeof steps);
    cr_assert_eq(steps, 10, "%lld: 320 samples in batches of 32", (long long)steps);
    cr_assert_null(nn_checkpoint_tensor(c, "optim.fc1.weight.momentum_buffer"));
    cr_assert_str_eq(nn_checkpoint_meta(c, "format"), "pt");
    nn_checkpoint_free(c);
    free(torch_compare("run/last.torch.safetensors", "p.csv"));
    /* with micro-batches it counts them, not the updates: 10 batches in groups of 3 are 4
     * updates (it said 4) */
    cr_assert_eq(nntrain("train m.ini " LIMITS " --run-dir acc -q --no-test "
                         "--set train.accumulate=3"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("export m.ini " LIMITS " --checkpoint acc/last.safetensors "
                         "--format safetensors-torch"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nn_checkpoint_read(path_in("acc/last.torch.safetensors"), &c, &err), 0, "%s",
                 err.msg);
    memcpy(&steps, nn_checkpoint_tensor(c, "bn1.num_batches_tracked")->dl.data, sizeof steps);
    cr_assert_eq(steps, 10, "%lld: 10 batches, 4 updates of accumulate = 3", (long long)steps);
    nn_checkpoint_free(c);
}

Test(export, weights_saved_by_pytorch_start_a_run_with_the_same_predictions)
{
    need_fmnist();
    need_python_module("torch", "python3-torch");
    write_file("m.ini", cnn_ini);
    cr_assert_eq(shell("save.txt", "%s %s/tests/export/torch_check.py save init.safetensors 7",
                       python(), src_root()), 0, "%s", slurp("save.txt"));
    /* lr 0 and a frozen running average: the run's weights stay PyTorch's */
    cr_assert_eq(nntrain("train m.ini " LIMITS " --run-dir run --no-test --init-from "
                         "init.safetensors --set optimizer.lr=0 --set layer.bn1.momentum=0"),
                 0, "%s", slurp("out.txt"));
    char *out = must_slurp("out.txt");
    cr_assert(strstr(out, "init-from init.safetensors: loaded 10 of the model's 10 tensors "
                          "(skipped 1 PyTorch bookkeeping and 0 optimizer tensors)"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("predict m.ini " LIMITS " --checkpoint run/last.safetensors "
                         "--output p.csv"), 0, "%s", slurp("out.txt"));
    free(torch_compare("init.safetensors", "p.csv"));
}

/* init_from without PyTorch: another run's weights, renamed, with a layer the file lacks */
Test(export, init_from_maps_names_and_lists_what_it_did_not_load)
{
    need_fmnist();
    const char *base = "[train]\nbatch_size = 16\n[data]\ntype = idx\ndir = " FMNIST "\n"
                       "limit = 32\ntest_limit = 8\n[loss]\ntype = cross_entropy\n"
                       "[optimizer]\ntype = sgd\n[layer.flat]\ntype = flatten\n";
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s[layer.body]\ntype = dense\nunits = 12\n"
                          "[layer.out]\ntype = dense\nunits = 10\n", base);
    snprintf(b, sizeof b, "%s[layer.trunk]\ntype = dense\nunits = 12\n"
                          "[layer.head]\ntype = dense\nunits = 10\n", base);
    write_file("a.ini", a);
    write_file("b.ini", b);
    cr_assert_eq(nntrain("train a.ini --set train.epochs=1 --run-dir ra -q --no-test"), 0);
    /* strict (the default): nothing matches by name */
    cr_assert_eq(nntrain("train b.ini --set train.epochs=1 --run-dir rb -q --no-test "
                         "--init-from ra/last.safetensors"), 1);
    char *out = must_slurp("out.txt");
    cr_assert(strstr(out, "--init-from ra/last.safetensors: the file has no tensor for "
                          "trunk.weight, trunk.bias, head.weight, head.bias; the model has no "
                          "tensor for body.weight, body.bias, out.weight, out.bias; rename with "
                          "init_map"), "%s", out);
    free(out);
    /* one prefix renamed, not strict: head keeps its initial values and is listed */
    cr_assert_eq(nntrain("train b.ini --set train.epochs=1 --run-dir rb --no-test --init-from "
                         "ra/last.safetensors --set 'train.init_map=body.=trunk.' "
                         "--set train.init_strict=false"), 0, "%s", slurp("out.txt"));
    out = must_slurp("out.txt");
    cr_assert(strstr(out, "init-from ra/last.safetensors: loaded 2 of the model's 4 tensors\n"),
              "%s", out);
    cr_assert(strstr(out, "not loaded, kept their initial values (2): head.weight, head.bias"),
              "%s", out);
    cr_assert(strstr(out, "in the file but not in the model, ignored (2): out.weight, out.bias"),
              "%s", out);
    free(out);
    /* the loaded tensor holds a's values before training moved it: lr 0 keeps them */
    cr_assert_eq(nntrain("train b.ini --set train.epochs=1 --run-dir rc -q --no-test "
                         "--init-from ra/last.safetensors --set 'train.init_map=body.=trunk.' "
                         "--set train.init_strict=false --set optimizer.lr=0"), 0);
    nn_checkpoint *ca, *cb;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("ra/last.safetensors"), &ca, &err), 0);
    cr_assert_eq(nn_checkpoint_read(path_in("rc/last.safetensors"), &cb, &err), 0);
    const nn_tensor *wa = nn_checkpoint_tensor(ca, "body.weight"),
                    *wb = nn_checkpoint_tensor(cb, "trunk.weight");
    cr_assert(wa && wb);
    cr_assert_eq(memcmp(wa->dl.data, wb->dl.data, nn_tensor_nbytes(wa)), 0);
    nn_checkpoint_free(ca);
    nn_checkpoint_free(cb);
    /* a shape that differs is an error, strict or not */
    cr_assert_eq(nntrain("train b.ini --set train.epochs=1 --run-dir rd -q --no-test "
                         "--init-from ra/last.safetensors --set 'train.init_map=body.=trunk.' "
                         "--set train.init_strict=false --set layer.trunk.units=11"), 1);
    out = must_slurp("out.txt");
    cr_assert(strstr(out, "ra/last.safetensors: 'body.weight' (mapped to 'trunk.weight'): "
                          "checkpoint tensor 'body.weight' has shape [12, 784] but the model "
                          "expects [11, 784]"), "%s", out);
    free(out);
    /* two file tensors onto one model tensor: refused, never the last one silently winning */
    cr_assert_eq(nntrain("train b.ini --set train.epochs=1 --run-dir re -q --no-test "
                         "--init-from ra/last.safetensors "
                         "--set 'train.init_map=body.=trunk., out.=trunk.' "
                         "--set train.init_strict=false"), 1);
    out = must_slurp("out.txt");
    cr_assert(strstr(out, "ra/last.safetensors: two of its tensors map to the model's "
                          "'trunk.weight' (the second: 'out.weight'); see init_map"), "%s", out);
    free(out);
    cr_assert_neq(access(path_in("re/last.safetensors"), F_OK), 0, "a refused run wrote a "
                  "checkpoint");
}
