/* params.c: parses and checks parameter values against a plugin's declarative schema.
 * Every rejection names the key, the value, where it was written and what was expected;
 * nothing here trusts a plugin's schema before nn_schema_validate() accepted it. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "params_internal.h"

typedef struct nn_value {
    int set; /* given by the user */
    int has; /* has a value (user or default) */
    int64_t i;
    double f;
    char *s;
    int n;
    int64_t *ints;
    double *floats;
} nn_value;

struct nn_params {
    const nn_param_spec *schema;
    int count;
    nn_value *values;
    char *origin;
};

typedef struct range {
    double lo, hi;
    int lo_open, hi_open;
} range;

static const char *type_name(nn_param_type t)
{
    switch (t) {
    case NN_PARAM_BOOL: return "bool";
    case NN_PARAM_INT: return "int";
    case NN_PARAM_FLOAT: return "float";
    case NN_PARAM_STRING: return "string";
    case NN_PARAM_ENUM: return "enum";
    case NN_PARAM_INT_LIST: return "int list";
    case NN_PARAM_FLOAT_LIST: return "float list";
    case NN_PARAM_PATH: return "path";
    }
    return "?";
}

int nn_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m)
                m = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < m)
                m = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1; /* transposition */
            d[i][j] = m;
        }
    return d[la][lb];
}

const char *nn_closest(const char *word, const char *const *cands, int n)
{
    const char *best = NULL;
    int best_d = 3;
    size_t wl = strlen(word);
    for (int i = 0; i < n; i++) {
        int d = nn_edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    if (!best && wl >= 3)
        for (int i = 0; i < n; i++)
            if (strncasecmp(word, cands[i], wl) == 0)
                return cands[i];
    return best;
}

/* "[0, 1)" -> range; returns 0 or -1 when malformed */
static int parse_range(const char *text, range *r)
{
    char lo[64], hi[64], open, close;
    const char *comma = strchr(text, ',');
    while (isspace((unsigned char)*text))
        text++;
    open = *text;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len < 5 || !comma || (open != '[' && open != '('))
        return -1;
    close = text[len - 1];
    if (close != ']' && close != ')')
        return -1;
    size_t nlo = (size_t)(comma - text - 1), nhi = (size_t)(text + len - 1 - comma - 1);
    if (nlo >= sizeof lo || nhi >= sizeof hi)
        return -1;
    memcpy(lo, text + 1, nlo);
    lo[nlo] = 0;
    memcpy(hi, comma + 1, nhi);
    hi[nhi] = 0;
    char *end;
    r->lo = strtod(lo, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (end == lo || *end)
        return -1;
    r->hi = strtod(hi, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (end == hi || *end)
        return -1;
    r->lo_open = open == '(';
    r->hi_open = close == ')';
    return r->lo <= r->hi ? 0 : -1;
}

static int in_range(const range *r, double v)
{
    if (isnan(v))
        return 0;
    if (r->lo_open ? !(v > r->lo) : !(v >= r->lo))
        return 0;
    if (r->hi_open ? !(v < r->hi) : !(v <= r->hi))
        return 0;
    return 1;
}

/* v is in range, but kernels compute in float32: 1 when v's float32 rounding is not (momentum
 * 0.99999999 is 1.0f, an eps of 1e-50 is 0.0f), which would run another algorithm silently */
static int leaves_range_in_f32(const range *r, double v)
{
    return isfinite(v) && !in_range(r, (double)(float)v);
}

static int choice_index(const char *choices, const char *v)
{
    int idx = 0;
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, v, l) == 0)
            return idx;
        idx++;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

void nn_param_spec_describe(const nn_param_spec *s, char *buf, size_t cap)
{
    switch (s->type) {
    case NN_PARAM_ENUM:
        snprintf(buf, cap, "one of %s", s->choices ? s->choices : "?");
        break;
    case NN_PARAM_INT:
    case NN_PARAM_FLOAT:
    case NN_PARAM_INT_LIST:
    case NN_PARAM_FLOAT_LIST:
        if (s->range)
            snprintf(buf, cap, "%s in %s", type_name(s->type), s->range);
        else
            snprintf(buf, cap, "%s", type_name(s->type));
        break;
    default:
        snprintf(buf, cap, "%s", type_name(s->type));
    }
}

static char *trim_dup(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* 0, -1 when v is not an integer, -2 when it is one beyond 64 bits */
static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end)
        return -1;
    if (errno == ERANGE)
        return -2;
    if (errno)
        return -1;
    *out = x;
    return 0;
}

enum {
    NN_FLOAT_BAD = -1,
    NN_FLOAT_HUGE = -2,
    NN_FLOAT_TINY = -3,
    NN_FLOAT_HEX = -4,
    NN_FLOAT_NONFINITE = -5 /* nan, inf */
};

/* a decimal number (strtod would also take hexadecimal, which integers are not) that a double
 * holds: 0, or a value of the kind float_problem names */
static int parse_float(const char *v, double *out)
{
    char *end;
    const char *digits = v + (*v == '+' || *v == '-');
    if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
        return NN_FLOAT_HEX;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x))
        return isinf(x) && end != v && !*end && errno == ERANGE ? NN_FLOAT_HUGE
               : end != v && !*end                            ? NN_FLOAT_NONFINITE
                                                               : NN_FLOAT_BAD;
    if (errno == ERANGE && x == 0)
        return NN_FLOAT_TINY; /* 1e-400: not 0, yet no double is nearer */
    *out = x; /* a subnormal (1e-320) is a number like any other */
    return 0;
}

/* what parse_float found wrong, for "VALUE is ..." */
static const char *float_problem(int code)
{
    switch (code) {
    case NN_FLOAT_HUGE: return "beyond the largest number (1.8e308)";
    case NN_FLOAT_TINY: return "too small for a double: it would be 0 (the smallest is 4.9e-324)";
    case NN_FLOAT_HEX: return "hexadecimal (write numbers in decimal)";
    case NN_FLOAT_NONFINITE: return "not a finite number";
    default: return "not a number";
    }
}

/* Parses text into val per spec; on failure writes what was expected into why. */
static int parse_value(const nn_param_spec *s, const char *raw, nn_value *val, char *why,
                       size_t why_cap)
{
    char desc[160];
    nn_param_spec_describe(s, desc, sizeof desc);
    char *v = trim_dup(raw, strlen(raw));
    if (!v)
        return NN_ENOMEM;
    range r = {-INFINITY, INFINITY, 0, 0};
    if (s->range)
        parse_range(s->range, &r);
    int rc = NN_OK, bad;
    switch (s->type) {
    case NN_PARAM_BOOL: {
        int b;
        if (parse_bool(v, &b) != 0) {
            snprintf(why, why_cap, "expected a bool (true/false, yes/no, on/off, 1/0)");
            rc = NN_EINVAL;
        } else
            val->i = b;
        break;
    }
    case NN_PARAM_INT:
        if ((bad = parse_int(v, &val->i)) != 0) {
            snprintf(why, why_cap, "%s; expected %s",
                     bad == -2 ? "out of range (beyond 64 bits)" : "not an integer", desc);
            rc = NN_EINVAL;
        } else if (!in_range(&r, (double)val->i)) {
            snprintf(why, why_cap, "out of range; expected %s", desc);
            rc = NN_EINVAL;
        }
        val->f = (double)val->i;
        break;
    case NN_PARAM_FLOAT:
        if ((bad = parse_float(v, &val->f)) != 0) {
            snprintf(why, why_cap, "%s; expected %s", float_problem(bad), desc);
            rc = NN_EINVAL;
        } else if (!in_range(&r, val->f)) {
            snprintf(why, why_cap, "out of range; expected %s", desc);
            rc = NN_EINVAL;
        } else if (leaves_range_in_f32(&r, val->f)) {
            snprintf(why, why_cap, "rounds to %.9g in float32, the precision training computes "
                     "in, which is out of range; expected %s", (double)(float)val->f, desc);
            rc = NN_EINVAL;
        }
        break;
    case NN_PARAM_STRING:
    case NN_PARAM_PATH:
        val->s = v;
        v = NULL;
        break;
    case NN_PARAM_ENUM: {
        int idx = choice_index(s->choices, v);
        if (idx < 0) {
            snprintf(why, why_cap, "expected %s", desc);
            rc = NN_EINVAL;
        } else {
            val->i = idx;
            val->s = v;
            v = NULL;
        }
        break;
    }
    case NN_PARAM_INT_LIST:
    case NN_PARAM_FLOAT_LIST: {
        int is_int = s->type == NN_PARAM_INT_LIST, n = 0, cap = 0;
        if (*v == 0 && (s->required || (s->def && *s->def))) {
            /* a plugin whose key has a non-empty default, or must be given, counts on a value */
            snprintf(why, why_cap, "an empty list; expected at least one value (comma-separated "
                     "%s)%s", desc, s->required ? "" : "; remove the key to get its default");
            rc = NN_EINVAL;
            break;
        }
        if (*v == 0)
            break; /* an empty list: "none" for a key without a default */
        const char *p = v;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            char *item = trim_dup(p, l);
            if (!item) {
                rc = NN_ENOMEM;
                break;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                void *grown = is_int ? realloc(val->ints, (size_t)cap * sizeof *val->ints)
                                     : realloc(val->floats, (size_t)cap * sizeof *val->floats);
                if (!grown) {
                    free(item);
                    rc = NN_ENOMEM;
                    break;
                }
                if (is_int)
                    val->ints = grown;
                else
                    val->floats = grown;
            }
            int64_t iv = 0;
            double fv = 0;
            bad = is_int ? parse_int(item, &iv) : parse_float(item, &fv);
            if (is_int)
                fv = (double)iv;
            char shown[64];
            nn_text_escape(item, shown, sizeof shown, 0);
            if (bad) {
                snprintf(why, why_cap, "item %d '%s' is %s; expected comma-separated %s", n + 1,
                         shown,
                         !is_int     ? float_problem(bad)
                         : bad == -2 ? "out of range (beyond 64 bits)"
                                     : "not an integer",
                         desc);
                rc = NN_EINVAL;
            } else if (!in_range(&r, fv)) {
                snprintf(why, why_cap, "item %d (%s) out of range; expected %s", n + 1, shown,
                         desc);
                rc = NN_EINVAL;
            } else if (!is_int && leaves_range_in_f32(&r, fv)) {
                snprintf(why, why_cap, "item %d (%s) rounds to %.9g in float32, the precision "
                         "training computes in, which is out of range; expected %s", n + 1,
                         shown, (double)(float)fv, desc);
                rc = NN_EINVAL;
            }
            free(item);
            if (rc)
                break;
            if (is_int)
                val->ints[n++] = iv;
            else
                val->floats[n++] = fv;
            if (!comma)
                break;
            p = comma + 1;
        }
        val->n = n;
        break;
    }
    }
    free(v);
    return rc;
}

static void value_clear(nn_value *v)
{
    free(v->s);
    free(v->ints);
    free(v->floats);
    memset(v, 0, sizeof *v);
}

int nn_text_line_check(const char *field, const char *s, nn_error *err)
{
    for (size_t i = 0; s && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return nn_error_set(err, NN_EABI, "%s holds a control character (0x%02x) at byte "
                                "%zu; it is one line of text", field, c, i);
    }
    return NN_OK;
}

static int valid_name(const char *n)
{
    if (!n || !*n || strnlen(n, NN_PARAM_NAME_MAX + 1) > NN_PARAM_NAME_MAX)
        return 0;
    for (; *n; n++)
        if (!(islower((unsigned char)*n) || isdigit((unsigned char)*n) || *n == '_'))
            return 0;
    return 1;
}

static int is_numeric(nn_param_type t)
{
    return t == NN_PARAM_INT || t == NN_PARAM_FLOAT || t == NN_PARAM_INT_LIST ||
           t == NN_PARAM_FLOAT_LIST;
}

/* "a|b|c": no empty choice, none twice */
static int valid_choices(const char *choices)
{
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == 0)
            return 0;
        for (const char *q = choices; q < p;) {
            const char *qbar = strchr(q, '|');
            if ((size_t)(qbar - q) == l && strncmp(q, p, l) == 0)
                return 0;
            q = qbar + 1;
        }
        if (!bar)
            return 1;
        p = bar + 1;
    }
}

int nn_schema_validate(const nn_param_spec *schema, nn_error *err)
{
    if (!schema)
        return NN_OK;
    for (int i = 0; schema[i].name; i++) {
        const nn_param_spec *s = &schema[i];
        if (i > 255)
            return nn_error_set(err, NN_EABI, "parameter schema has no NULL-name terminator");
        if (!valid_name(s->name)) {
            char shown[NN_PARAM_NAME_MAX + 8];
            nn_text_escape(s->name, shown, sizeof shown, 0);
            size_t len = s->name ? strlen(s->name) : 0;
            char bytes[40] = "";
            if (len > NN_PARAM_NAME_MAX)
                snprintf(bytes, sizeof bytes, " (%zu bytes)", len);
            return nn_error_set(err, NN_EABI, "parameter name '%s'%s is not [a-z0-9_]{1,%d}",
                                shown, bytes, NN_PARAM_NAME_MAX);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(schema[j].name, s->name) == 0)
                return nn_error_set(err, NN_EABI, "parameter '%s' is declared twice", s->name);
        if (s->type < NN_PARAM_BOOL || s->type > NN_PARAM_PATH)
            return nn_error_set(err, NN_EABI, "parameter '%s' has unknown type %d", s->name,
                                (int)s->type);
        if (s->type == NN_PARAM_ENUM && (!s->choices || !*s->choices))
            return nn_error_set(err, NN_EABI, "enum parameter '%s' has no choices", s->name);
        if (s->type == NN_PARAM_ENUM && !valid_choices(s->choices))
            return nn_error_set(err, NN_EABI, "enum parameter '%s' has an empty or repeated "
                                "choice in \"%s\"", s->name, s->choices);
        if (s->type != NN_PARAM_ENUM && s->choices)
            return nn_error_set(err, NN_EABI, "parameter '%s' has choices but is a %s, not an "
                                "enum", s->name, type_name(s->type));
        if (s->range && !is_numeric(s->type))
            return nn_error_set(err, NN_EABI, "parameter '%s' has a range but is a %s, not a "
                                "number", s->name, type_name(s->type));
        const char *fields[] = {"doc", "default", "range", "choices"};
        const char *texts[] = {s->doc, s->def, s->range, s->choices};
        for (int f = 0; f < 4; f++) {
            char field[NN_PARAM_NAME_MAX + 40];
            snprintf(field, sizeof field, "parameter '%s': %s", s->name, fields[f]);
            if (nn_text_line_check(field, texts[f], err) != NN_OK)
                return NN_EABI;
        }
        range r;
        if (s->range && parse_range(s->range, &r) != 0)
            return nn_error_set(err, NN_EABI, "parameter '%s' has malformed range \"%s\"",
                                s->name, s->range);
        /* "(1, 1)", "[1, 1)", "(1, 1]": no value fits, so no model file could set the key */
        if (s->range && r.lo == r.hi && (r.lo_open || r.hi_open))
            return nn_error_set(err, NN_EABI, "parameter '%s' has an empty range \"%s\": no "
                                "value fits (write [%g, %g] for the one value)", s->name,
                                s->range, r.lo, r.hi);
        if (s->required && s->def)
            return nn_error_set(err, NN_EABI, "parameter '%s' is required but has a default",
                                s->name);
        if (!s->doc || !*s->doc)
            return nn_error_set(err, NN_EABI, "parameter '%s' has no doc string", s->name);
        if (s->def) {
            nn_value v = {0};
            char why[512];
            int rc = parse_value(s, s->def, &v, why, sizeof why);
            value_clear(&v);
            if (rc)
                return nn_error_set(err, NN_EABI, "parameter '%s': default \"%s\" is invalid: %s",
                                    s->name, s->def, why);
        }
    }
    return NN_OK;
}

/* origin without a leading "FILE:LINE: ", "FILE: " or "FILE " of the key's own file: the
 * key's line is the more exact place, and saying the file twice reads as two places */
static const char *origin_after_file(const char *origin, const nn_kv *kv)
{
    if (!kv || !kv->file || !*kv->file)
        return origin;
    size_t fl = strlen(kv->file);
    if (strncmp(origin, kv->file, fl) != 0 || (origin[fl] != ':' && origin[fl] != ' '))
        return origin;
    const char *q = origin + fl;
    if (*q == ':') {
        q++;
        while (isdigit((unsigned char)*q))
            q++;
        if (*q == ':')
            q++;
    }
    while (*q == ' ')
        q++;
    return q;
}

/* length of the valid UTF-8 sequence at s (2..4), or 0 */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

const char *nn_text_escape(const char *s, char *buf, size_t cap, int keep_lines)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!cap)
        return buf;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        char piece[8];
        int len = 0, step = 1;
        int u = *p >= 0x80 ? utf8_len(p) : 0;
        if (u) {
            memcpy(piece, p, (size_t)u);
            len = step = u;
        } else if (*p < 0x20 || *p >= 0x7F) {
            if (keep_lines && (*p == '\n' || *p == '\t')) {
                piece[len++] = (char)*p;
            } else {
                piece[len++] = '\\';
                piece[len++] = 'x';
                piece[len++] = hex[*p >> 4];
                piece[len++] = hex[*p & 15];
            }
        } else {
            piece[len++] = (char)*p;
        }
        if (o + (size_t)len + 4 > cap) { /* room for "..." and the NUL */
            if (o + 4 <= cap) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(buf + o, piece, (size_t)len);
        o += (size_t)len;
        p += step;
    }
    buf[o < cap ? o : cap - 1] = 0;
    return buf;
}

/* "model.ini:7: [layer.fc1] ": where a message is about, with one space before the rest */
static void where(char *buf, size_t cap, const nn_kv *kv, const char *origin)
{
    int n = 0;
    origin = origin_after_file(origin, kv);
    if (kv && kv->file && kv->line > 0)
        n = snprintf(buf, cap, "%s:%d: ", kv->file, kv->line);
    else if (kv && kv->file)
        n = snprintf(buf, cap, "%s: ", kv->file);
    if (n < 0 || (size_t)n >= cap)
        n = 0;
    snprintf(buf + n, cap - (size_t)n, "%s%s", origin, *origin ? " " : "");
}

const char *nn_kv_where(char *buf, size_t cap, const nn_kv *kv, const char *origin)
{
    where(buf, cap, kv, origin ? origin : "");
    size_t l = strlen(buf);
    while (l > 0 && buf[l - 1] == ' ')
        buf[--l] = 0;
    return buf;
}

/* A relative path written in a model file means "next to that file": prefix its directory.
 * Values from --set (file "--set") or without a file stay relative to the working directory. */
static int resolve_path(nn_value *v, const char *file)
{
    if (!v->s || !*v->s || v->s[0] == '/' || !file || strcmp(file, "--set") == 0)
        return NN_OK;
    const char *slash = strrchr(file, '/');
    if (!slash)
        return NN_OK; /* the model file is in the working directory */
    size_t dl = (size_t)(slash - file), vl = strlen(v->s);
    char *joined = malloc(dl + vl + 2);
    if (!joined)
        return NN_ENOMEM;
    memcpy(joined, file, dl);
    joined[dl] = '/';
    memcpy(joined + dl + 1, v->s, vl + 1);
    free(v->s);
    v->s = joined;
    return NN_OK;
}

int nn_params_parse(const nn_param_spec *schema, const nn_kv *kvs, int n, const char *origin,
                    nn_params **out, nn_error *err)
{
    *out = NULL;
    int count = 0;
    while (schema && schema[count].name)
        count++;
    nn_params *p = calloc(1, sizeof *p);
    if (!p)
        return nn_error_set(err, NN_ENOMEM, "out of memory parsing parameters");
    p->schema = schema;
    p->count = count;
    p->values = calloc((size_t)count + 1, sizeof *p->values);
    p->origin = strdup(origin ? origin : "");
    if (!p->values || !p->origin) {
        nn_params_free(p);
        return nn_error_set(err, NN_ENOMEM, "out of memory parsing parameters");
    }
    const char **names = calloc((size_t)count + 1, sizeof *names);
    if (!names) {
        nn_params_free(p);
        return nn_error_set(err, NN_ENOMEM, "out of memory parsing parameters");
    }
    for (int i = 0; i < count; i++)
        names[i] = schema[i].name;

    int rc = NN_OK;
    char loc[300], why[512], key[160], val[200];
    for (int k = 0; k < n && rc == NN_OK; k++) {
        const nn_kv *kv = &kvs[k];
        int idx = -1;
        for (int i = 0; i < count; i++)
            if (strcmp(schema[i].name, kv->key) == 0)
                idx = i;
        where(loc, sizeof loc, kv, p->origin);
        nn_text_escape(kv->key, key, sizeof key, 0);
        if (idx < 0) {
            const char *near = nn_closest(kv->key, names, count);
            if (near)
                rc = nn_error_set(err, NN_EINVAL, "%sunknown key '%s' (did you mean '%s'?)", loc,
                                  key, near);
            else
                rc = nn_error_set(err, NN_EINVAL, "%sunknown key '%s'%s", loc, key,
                                  count ? "; see `nntrain plugins show` for the valid keys"
                                        : "; this plugin takes no parameters");
            break;
        }
        nn_value *v = &p->values[idx];
        if (v->set) {
            rc = nn_error_set(err, NN_EINVAL, "%skey '%s' is given twice", loc, key);
            break;
        }
        value_clear(v);
        int prc = parse_value(&schema[idx], kv->value, v, why, sizeof why);
        if (prc == NN_OK && schema[idx].type == NN_PARAM_PATH)
            prc = resolve_path(v, kv->file);
        if (prc == NN_ENOMEM)
            rc = nn_error_set(err, NN_ENOMEM, "out of memory parsing parameters");
        else if (prc)
            rc = nn_error_set(err, NN_EINVAL, "%skey '%s' = '%s': %s", loc, key,
                              nn_text_escape(kv->value, val, sizeof val, 0), why);
        v->set = v->has = 1;
    }
    for (int i = 0; i < count && rc == NN_OK; i++) {
        nn_value *v = &p->values[i];
        if (v->set)
            continue;
        if (schema[i].required) {
            char desc[160];
            nn_param_spec_describe(&schema[i], desc, sizeof desc);
            where(loc, sizeof loc, NULL, p->origin);
            rc = nn_error_set(err, NN_EINVAL, "%smissing required key '%s' (%s: %s)", loc,
                              schema[i].name, desc, schema[i].doc);
        } else if (schema[i].def) {
            if (parse_value(&schema[i], schema[i].def, v, why, sizeof why) != NN_OK)
                rc = nn_error_set(err, NN_EINTERNAL, "default of '%s' does not parse",
                                  schema[i].name);
            v->has = 1;
        }
    }
    free(names);
    if (rc) {
        nn_params_free(p);
        return rc;
    }
    *out = p;
    return NN_OK;
}

void nn_params_free(nn_params *p)
{
    if (!p)
        return;
    for (int i = 0; p->values && i < p->count; i++)
        value_clear(&p->values[i]);
    free(p->values);
    free(p->origin);
    free(p);
}

static const nn_value *lookup(const nn_params *p, const char *key)
{
    if (!p)
        return NULL;
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->schema[i].name, key) == 0)
            return &p->values[i];
    return NULL;
}

int nn_params_is_set(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v && v->set;
}

int nn_params_has(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v && v->has;
}

int nn_params_bool(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v ? (int)v->i : 0;
}

int64_t nn_params_int(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v ? v->i : 0;
}

double nn_params_float(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v ? v->f : 0.0;
}

const char *nn_params_str(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v && v->has ? v->s : NULL;
}

int nn_params_enum(const nn_params *p, const char *key)
{
    const nn_value *v = lookup(p, key);
    return v && v->has ? (int)v->i : -1;
}

const int64_t *nn_params_ints(const nn_params *p, const char *key, int *n)
{
    const nn_value *v = lookup(p, key);
    *n = v ? v->n : 0;
    return v ? v->ints : NULL;
}

const double *nn_params_floats(const nn_params *p, const char *key, int *n)
{
    const nn_value *v = lookup(p, key);
    *n = v ? v->n : 0;
    return v ? v->floats : NULL;
}

const char *nn_params_origin(const nn_params *p)
{
    return p ? p->origin : "";
}
