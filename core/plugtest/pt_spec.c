/* pt_spec.c: the text of test cases: tensor specs ("2x3x8x8 i32 [0, 5)"), "k=v; k=v" parameter
 * lists with overrides, and instances made from them. It parses and names things; it never
 * calls a plugin function other than create(). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"

static const struct {
    const char *name;
    nn_dtype dt;
} dtypes[] = {{"f32", NN_F32}, {"f64", NN_F64}, {"i32", NN_I32}, {"i64", NN_I64}, {"u8", NN_U8}};

static int is_float(nn_dtype dt)
{
    return dt == NN_F32 || dt == NN_F64;
}

static const char *skip(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int bad(nn_error *err, const char *entry, size_t len, const char *why)
{
    return nn_error_set(err, NN_EINVAL, "tensor spec '%.*s': %s (expected \"SHAPE [DTYPE] "
                        "[RANGE]\", e.g. \"2x3x8x8\" or \"4 i32 [0, 10)\")", (int)len, entry, why);
}

/* one entry "SHAPE [DTYPE] [RANGE]" of len bytes */
static int parse_one(const char *entry, size_t len, pt_tensor_spec *t, nn_error *err)
{
    char buf[256];
    if (len >= sizeof buf)
        return bad(err, entry, len, "too long");
    memcpy(buf, entry, len);
    buf[len] = 0;
    memset(t, 0, sizeof *t);
    const char *p = skip(buf);
    for (;;) {
        if (!isdigit((unsigned char)*p))
            return bad(err, entry, len, "a dimension is not a number");
        if (t->ndim == NN_MAX_DIMS)
            return bad(err, entry, len, "more than 8 dimensions");
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 1 || v > (1 << 24))
            return bad(err, entry, len, "a dimension is outside [1, 16777216]");
        t->shape[t->ndim++] = v;
        p = end;
        if (*p != 'x')
            break;
        p++;
    }
    p = skip(p);
    t->dtype = NN_F32;
    if (isalpha((unsigned char)*p)) {
        size_t wl = 0;
        while (isalnum((unsigned char)p[wl]))
            wl++;
        int found = 0;
        for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
            if (strlen(dtypes[i].name) == wl && strncmp(p, dtypes[i].name, wl) == 0) {
                t->dtype = dtypes[i].dt;
                found = 1;
            }
        if (!found)
            return bad(err, entry, len, "unknown dtype (f32, f64, i32, i64, u8)");
        p = skip(p + wl);
    }
    t->lo = is_float(t->dtype) ? -1 : 0;
    t->hi = is_float(t->dtype) ? 1 : (t->dtype == NN_U8 ? 256 : 2);
    if (*p == '[' || *p == '(') {
        char *end;
        double lo = strtod(p + 1, &end);
        const char *q = skip(end);
        if (end == p + 1 || *q != ',')
            return bad(err, entry, len, "a range needs two numbers, e.g. [0, 10)");
        double hi = strtod(q + 1, &end);
        q = skip(end);
        if (end == q + 1 || (*q != ']' && *q != ')') || !isfinite(lo) || !isfinite(hi))
            return bad(err, entry, len, "a range needs two finite numbers, e.g. [0, 10)");
        if (!is_float(t->dtype)) {
            lo = ceil(lo) + (*p == '(');
            hi = *q == ']' ? floor(hi) + 1 : ceil(hi);
        }
        if (!(hi > lo) && !(is_float(t->dtype) && hi == lo))
            return bad(err, entry, len, "the range is empty");
        t->lo = lo;
        t->hi = hi;
        t->has_range = 1;
        p = skip(q + 1);
    }
    if (*p)
        return bad(err, entry, len, "unexpected text after the shape, dtype and range");
    return NN_OK;
}

int pt_parse_tensors(const char *text, pt_tensor_spec *out, int max, int *n, nn_error *err)
{
    *n = 0;
    if (!text || !*skip(text))
        return nn_error_set(err, NN_EINVAL, "empty tensor spec");
    const char *p = text;
    for (;;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (*n == max)
            return nn_error_set(err, NN_EINVAL, "tensor spec '%s': more than %d tensors", text,
                                max);
        int rc = parse_one(p, len, &out[*n], err);
        if (rc)
            return rc;
        (*n)++;
        if (!semi)
            return NN_OK;
        p = semi + 1;
    }
}

void pt_tensor_spec_str(const pt_tensor_spec *t, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? "x" : "",
                                 (long long)t->shape[i]);
    const char *dn = "f32";
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dt == t->dtype)
            dn = dtypes[i].name;
    if (t->dtype != NN_F32 && used < cap)
        used += (size_t)snprintf(buf + used, cap - used, " %s", dn);
    if (t->has_range && used < cap)
        snprintf(buf + used, cap - used, is_float(t->dtype) ? " [%g, %g]" : " [%g, %g)", t->lo,
                 t->hi);
}

void pt_case_label(pt_case *c)
{
    size_t used = 0;
    char one[96];
    c->label[0] = 0;
    for (int i = 0; i < c->n_inputs && used < sizeof c->label; i++) {
        pt_tensor_spec_str(&c->in[i], one, sizeof one);
        used += (size_t)snprintf(c->label + used, sizeof c->label - used, "%s%s", i ? "; " : "",
                                 one);
    }
    if (c->has_target && used < sizeof c->label) {
        pt_tensor_spec_str(&c->target, one, sizeof one);
        used += (size_t)snprintf(c->label + used, sizeof c->label - used, " -> %s", one);
    }
    if (c->params[0] && used < sizeof c->label)
        snprintf(c->label + used, sizeof c->label - used, "%s%.100s", used ? "; " : "",
                 c->params);
}

int pt_case_from_test(const nn_test_case *tc, int kind, pt_case *c, nn_error *err)
{
    memset(c, 0, sizeof *c);
    if (tc->params && strlen(tc->params) >= sizeof c->params)
        return nn_error_set(err, NN_EINVAL, "test case params are longer than %zu bytes",
                            sizeof c->params - 1);
    snprintf(c->params, sizeof c->params, "%s", tc->params ? tc->params : "");
    c->fixture = tc->fixture;
    int rc;
    if (kind == NN_KIND_LAYER || kind == NN_KIND_LOSS || kind == NN_KIND_TRANSFORM) {
        int max = kind == NN_KIND_LAYER ? NN_MAX_INPUTS : 1;
        if (!tc->inputs)
            return nn_error_set(err, NN_EINVAL, "test case without 'inputs' (a %s needs them)",
                                nn_kind_name(kind));
        if ((rc = pt_parse_tensors(tc->inputs, c->in, max, &c->n_inputs, err)))
            return rc;
    }
    if (kind == NN_KIND_LOSS) {
        if (!tc->target)
            return nn_error_set(err, NN_EINVAL, "loss test case without 'target'");
        int n;
        if ((rc = pt_parse_tensors(tc->target, &c->target, 1, &n, err)))
            return rc;
        c->has_target = 1;
        const pt_tensor_spec *p = &c->in[0];
        if (!is_float(c->target.dtype) && !c->target.has_range) {
            c->target.lo = 0; /* class ids of the prediction's last dimension */
            c->target.hi = (double)p->shape[p->ndim - 1];
        }
    }
    pt_case_label(c);
    return NN_OK;
}

/* ---- key=value lists ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = 0;
    return s;
}

/* splits one "k=v" in place into out; returns 0 or -1 when there is no '=' */
static int split_kv(char *entry, nn_kv *out, int line)
{
    char *eq = strchr(entry, '=');
    if (!eq)
        return -1;
    *eq = 0;
    *out = (nn_kv){.key = trim(entry), .value = trim(eq + 1), .file = NULL, .line = line};
    return 0;
}

int pt_kv_from_text(const char *params, const char *const *extra, nn_kv *out, int max, int *n,
                    char **text, nn_error *err)
{
    size_t bytes = (params ? strlen(params) : 0) + 2;
    for (int i = 0; extra && extra[i]; i++)
        bytes += strlen(extra[i]) + 2;
    char *buf = malloc(bytes), *w = buf;
    *n = 0;
    *text = buf;
    if (!buf)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    if (params) {
        size_t l = strlen(params);
        memcpy(w, params, l + 1);
        char *save = NULL;
        for (char *tok = strtok_r(w, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
            if (!*trim(tok))
                continue;
            if (*n == max)
                return nn_error_set(err, NN_EINVAL, "more than %d parameters", max);
            if (split_kv(tok, &out[*n], *n + 1))
                return nn_error_set(err, NN_EINVAL, "parameter '%s' is not key=value",
                                    trim(tok));
            (*n)++;
        }
        w += l + 1;
    }
    for (int i = 0; extra && extra[i]; i++) {
        size_t l = strlen(extra[i]);
        memcpy(w, extra[i], l + 1);
        nn_kv kv;
        if (split_kv(w, &kv, 0))
            return nn_error_set(err, NN_EINVAL, "parameter '%s' is not key=value", extra[i]);
        w += l + 1;
        int k = 0;
        while (k < *n && strcmp(out[k].key, kv.key) != 0)
            k++;
        if (k == *n && *n == max)
            return nn_error_set(err, NN_EINVAL, "more than %d parameters", max);
        out[k] = kv;
        if (k == *n)
            (*n)++;
    }
    return NN_OK;
}

int pt_instance(nn_instance *inst, const nn_plugin_desc *desc, const char *params,
                const char *const *extra, nn_error *err)
{
    nn_kv kvs[PT_MAX_KV];
    int n;
    char *text;
    int rc = pt_kv_from_text(params, extra, kvs, PT_MAX_KV, &n, &text, err);
    if (rc == NN_OK) {
        char origin[96];
        snprintf(origin, sizeof origin, "[%s.%s]", nn_kind_name(desc->kind), desc->name);
        rc = nn_instance_create(inst, desc, kvs, n, origin, err);
    }
    free(text);
    return rc;
}

/* The SDK's public constructor (params.h): the core's parser on "key=value" strings. */
int nn_params_new(const nn_param_spec *schema, const char *const *kv, const char *origin,
                  nn_params **out, nn_error *err)
{
    *out = NULL;
    int n = 0;
    size_t bytes = 1;
    for (; kv && kv[n]; n++)
        bytes += strlen(kv[n]) + 1;
    nn_kv *kvs = calloc((size_t)n + 1, sizeof *kvs);
    char *text = malloc(bytes), *w = text;
    int rc = NN_OK;
    if (!kvs || !text)
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; rc == NN_OK && i < n; i++) {
        size_t l = strlen(kv[i]);
        memcpy(w, kv[i], l + 1);
        if (split_kv(w, &kvs[i], i + 1))
            rc = nn_error_set(err, NN_EINVAL, "%s: '%s' is not key=value", origin ? origin : "[test]",
                              kv[i]);
        w += l + 1;
    }
    if (rc == NN_OK)
        rc = nn_params_parse(schema, kvs, n, origin ? origin : "[test]", out, err);
    free(kvs);
    free(text);
    return rc;
}
