/* fuzz_config.c: libFuzzer target for the model-file parser: the INI text (core/config.c on
 * libinih), --set overrides, and the schema check of every section's keys (core/params.c).
 * Input: the model text, then after a NUL byte NUL-separated --set assignments (one that
 * starts with '!' is an --unset of the rest).
 * Properties checked beyond "no crash, no leak, no sanitizer report":
 *  - a rejection says why, in text a terminal may show (no control byte, no invalid UTF-8:
 *    bytes of the input are quoted as \xNN);
 *  - what is accepted survives its own effective text: nn_config_text() parses back to the
 *    same sections, keys and values in the same order (the run directory's model.ini and the
 *    checkpoint depend on it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* the keys the examples use, with the types their plugins give them, so that the corpus
 * reaches every value parser */
static const nn_param_spec schema[] = {
    {.name = "type", .type = NN_PARAM_STRING, .doc = "plugin"},
    {.name = "units", .type = NN_PARAM_INT, .range = "[1, 16777216]", .doc = "d"},
    {.name = "filters", .type = NN_PARAM_INT, .range = "[1, 1048576]", .doc = "d"},
    {.name = "epochs", .type = NN_PARAM_INT, .range = "[1, 1000000]", .doc = "d"},
    {.name = "batch_size", .type = NN_PARAM_INT, .range = "[1, 1048576]", .doc = "d"},
    {.name = "seed", .type = NN_PARAM_INT, .range = "[0, 9.2e18]", .doc = "d"},
    {.name = "patience", .type = NN_PARAM_INT, .range = "[1, 1000000]", .doc = "d"},
    {.name = "step_size", .type = NN_PARAM_INT, .range = "[1, inf)", .doc = "d"},
    {.name = "t_max", .type = NN_PARAM_INT, .range = "[1, inf)", .doc = "d"},
    {.name = "warmup_steps", .type = NN_PARAM_INT, .range = "[0, inf)", .doc = "d"},
    {.name = "histogram_every", .type = NN_PARAM_INT, .range = "[0, inf)", .doc = "d"},
    {.name = "lr", .type = NN_PARAM_FLOAT, .range = "[0, inf)", .doc = "d"},
    {.name = "momentum", .type = NN_PARAM_FLOAT, .range = "[0, inf)", .doc = "d"},
    {.name = "weight_decay", .type = NN_PARAM_FLOAT, .range = "[0, inf)", .doc = "d"},
    {.name = "gamma", .type = NN_PARAM_FLOAT, .range = "(0, inf)", .doc = "d"},
    {.name = "p", .type = NN_PARAM_FLOAT, .range = "[0, 1)", .doc = "d"},
    {.name = "val_split", .type = NN_PARAM_FLOAT, .range = "[0, 1)", .doc = "d"},
    {.name = "label_smoothing", .type = NN_PARAM_FLOAT, .range = "[0, 1)", .doc = "d"},
    {.name = "clip_norm", .type = NN_PARAM_FLOAT, .range = "[0, inf)", .doc = "d"},
    {.name = "checkpoint_minutes", .type = NN_PARAM_FLOAT, .range = "[0, inf)", .doc = "d"},
    {.name = "nesterov", .type = NN_PARAM_BOOL, .doc = "d"},
    {.name = "stratify", .type = NN_PARAM_BOOL, .doc = "d"},
    {.name = "early_stopping", .type = NN_PARAM_BOOL, .doc = "d"},
    {.name = "decay_bias_and_norm", .type = NN_PARAM_BOOL, .doc = "d"},
    {.name = "from_data", .type = NN_PARAM_BOOL, .doc = "d"},
    {.name = "activation", .type = NN_PARAM_ENUM, .choices = "none|relu|gelu|tanh|sigmoid",
     .doc = "d"},
    {.name = "mode", .type = NN_PARAM_ENUM, .choices = "auto|min|max", .doc = "d"},
    {.name = "monitor", .type = NN_PARAM_ENUM, .choices = "val_loss|val_accuracy|loss",
     .doc = "d"},
    {.name = "kernel", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]", .doc = "d"},
    {.name = "size", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]", .doc = "d"},
    {.name = "padding", .type = NN_PARAM_STRING, .doc = "d"},
    {.name = "mean", .type = NN_PARAM_FLOAT_LIST, .doc = "d"},
    {.name = "std", .type = NN_PARAM_FLOAT_LIST, .range = "(0, inf)", .doc = "d"},
    {.name = "inputs", .type = NN_PARAM_STRING, .doc = "d"},
    {.name = "dir", .type = NN_PARAM_PATH, .doc = "d"},
    {.name = NULL},
};

static void show(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        fprintf(stderr, (*p >= 0x20 && *p < 0x7f) || *p == '\n' ? "%c" : "\\x%02x", *p);
    fprintf(stderr, "\n");
}

static void fail(const char *why, const char *msg)
{
    fprintf(stderr, "fuzz_config: %s:\n", why);
    show(msg);
    __builtin_trap();
}

/* a message a terminal may show: printable ASCII, tabs, newlines and valid UTF-8 only */
static void assert_printable(const char *msg)
{
    const unsigned char *p = (const unsigned char *)msg;
    if (!*p)
        fail("a rejection without a message", msg);
    while (*p) {
        if (*p < 0x80) {
            if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
                fail("a raw control byte in a message", msg);
            p++;
            continue;
        }
        int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
        if (!n || *p > 0xf4)
            fail("a byte that is not UTF-8 in a message", msg);
        for (int i = 1; i < n; i++) {
            /* nn_error_set cuts a message at NN_ERROR_MSG_MAX - 1 bytes, maybe inside a
             * character; nntrain's output escapes such a stub, so only there it may be */
            if (!p[i] && strlen(msg) == NN_ERROR_MSG_MAX - 1)
                return;
            if ((p[i] & 0xc0) != 0x80)
                fail("a byte that is not UTF-8 in a message", msg);
        }
        p += n;
    }
}

static void same_config(nn_config *a, nn_config *b)
{
    int same = nn_config_count(a) == nn_config_count(b);
    for (int i = 0; same && i < nn_config_count(a); i++) {
        const nn_config_section *x = nn_config_at(a, i), *y = nn_config_at(b, i);
        same = strcmp(x->name, y->name) == 0 && x->n == y->n;
        for (int k = 0; same && k < x->n; k++)
            same = strcmp(x->kvs[k].key, y->kvs[k].key) == 0 &&
                   strcmp(x->kvs[k].value, y->kvs[k].value) == 0;
    }
    if (!same) {
        fprintf(stderr, "fuzz_config: the effective text reads back differently; it was:\n");
        show(nn_config_text(a));
        fail("and reads back as", nn_config_text(b));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int checked;
    if (!checked) {
        nn_error serr = {0};
        if (nn_schema_validate(schema, &serr) != NN_OK)
            __builtin_trap();
        checked = 1;
    }
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    nn_config *c = NULL;
    nn_error err = {0};
    if (nn_config_parse(buf, "fuzz.ini", &c, &err) != NN_OK) {
        assert_printable(err.msg);
        free(buf);
        return 0;
    }
    /* the assignments after the text */
    size_t at = strlen(buf) + 1;
    while (at < size) {
        const char *a = buf + at;
        at += strlen(a) + 1;
        nn_error serr = {0};
        int rc = a[0] == '!' ? nn_config_unset(c, a + 1, &serr) : nn_config_set(c, a, &serr);
        if (rc != NN_OK)
            assert_printable(serr.msg);
    }
    /* every section's keys against the schema, placed as the core places them */
    for (int i = 0; i < nn_config_count(c); i++) {
        const nn_config_section *s = nn_config_at(c, i);
        char origin[300];
        snprintf(origin, sizeof origin, "fuzz.ini:%d: [%s]", s->line, s->name);
        nn_params *p = NULL;
        nn_error perr = {0};
        if (nn_params_parse(schema, s->kvs, s->n, origin, &p, &perr) != NN_OK)
            assert_printable(perr.msg);
        nn_params_free(p);
    }
    /* the effective text reads back as the same configuration */
    nn_config *back = NULL;
    nn_error berr = {0};
    if (nn_config_parse(nn_config_text(c), "fuzz-effective.ini", &back, &berr) != NN_OK) {
        fprintf(stderr, "fuzz_config: the effective text does not parse (%s); it was:\n", berr.msg);
        show(nn_config_text(c));
        __builtin_trap();
    }
    same_config(c, back);
    nn_config_free(back);
    nn_config_free(c);
    free(buf);
    return 0;
}
