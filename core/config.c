/* config.c: reads model files with libinih, keeping file:line for every key, and applies
 * --set overrides. It checks section names and duplicates, never their meaning. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nntrain/file.h"

#define LINE_MAX_LEN 4096

struct nn_config {
    char *path;   /* as given; used in messages */
    char *source; /* original text, line ends made LF */
    char *text;   /* serialised effective config, rebuilt on demand */
    nn_config_section *secs;
    int n, cap;
    char **strings;
    int n_strings, cap_strings;
};

static const char *const plain_sections[] = {"train", "data", "loss", "optimizer", "scheduler"};
static const char *const prefixed_sections[] = {"layer.", "transform.", "logger."};

static char *own(nn_config *c, const char *s)
{
    if (c->n_strings == c->cap_strings) {
        int cap = c->cap_strings ? c->cap_strings * 2 : 64;
        char **g = realloc(c->strings, (size_t)cap * sizeof *g);
        if (!g)
            return NULL;
        c->strings = g;
        c->cap_strings = cap;
    }
    char *d = strdup(s);
    if (d)
        c->strings[c->n_strings++] = d;
    return d;
}

/* libinih hands keys over under the first 49 bytes of their section's name (its MAX_SECTION
 * is 50): a longer name would put the header and its keys in two different sections */
#define SECTION_NAME_MAX 49

static int valid_section(const char *raw, char *why, size_t cap)
{
    char name[160]; /* for messages: a file's raw bytes never reach the terminal */
    nn_text_escape(raw, name, sizeof name, 0);
    if (strlen(raw) > SECTION_NAME_MAX) {
        snprintf(why, cap, "section name [%s] is longer than %d characters", name,
                 SECTION_NAME_MAX);
        return 0;
    }
    for (size_t i = 0; i < sizeof plain_sections / sizeof *plain_sections; i++)
        if (strcmp(raw, plain_sections[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof prefixed_sections / sizeof *prefixed_sections; i++) {
        size_t l = strlen(prefixed_sections[i]);
        if (strncmp(raw, prefixed_sections[i], l) == 0) {
            const char *rest = raw + l;
            if (!*rest) {
                snprintf(why, cap, "section [%s] needs a name after the dot, e.g. [%sNAME]",
                         name, prefixed_sections[i]);
                return 0;
            }
            for (; *rest; rest++)
                if (!(isalnum((unsigned char)*rest) || *rest == '_' || *rest == '-')) {
                    snprintf(why, cap, "section [%s]: names may use letters, digits, '_' and "
                             "'-' only", name);
                    return 0;
                }
            return 1;
        }
    }
    const char *cands[] = {"train", "data", "loss", "optimizer", "scheduler", "layer.NAME",
                           "transform.NAME", "logger.NAME"};
    const char *near = nn_closest(raw, cands, 8);
    snprintf(why, cap, "unknown section [%s]%s%s%s; sections are [train], [data], [loss], "
             "[optimizer], [scheduler], [layer.NAME], [transform.NAME], [logger.NAME]",
             name, near ? " (did you mean [" : "", near ? near : "", near ? "]?)" : "");
    return 0;
}

static nn_config_section *find_mut(nn_config *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->secs[i].name, name) == 0)
            return &c->secs[i];
    return NULL;
}

static nn_config_section *add_section(nn_config *c, const char *name, int line)
{
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        nn_config_section *g = realloc(c->secs, (size_t)cap * sizeof *g);
        if (!g)
            return NULL;
        c->secs = g;
        c->cap = cap;
    }
    nn_config_section *s = &c->secs[c->n];
    *s = (nn_config_section){own(c, name), line, 0, NULL};
    if (!s->name)
        return NULL;
    c->n++;
    return s;
}

static int add_kv(nn_config *c, nn_config_section *s, const char *key, const char *value,
                  const char *file, int line)
{
    nn_kv *g = realloc(s->kvs, ((size_t)s->n + 1) * sizeof *g);
    if (!g)
        return NN_ENOMEM;
    s->kvs = g;
    s->kvs[s->n] = (nn_kv){own(c, key), own(c, value), file, line};
    if (!s->kvs[s->n].key || !s->kvs[s->n].value)
        return NN_ENOMEM;
    s->n++;
    return NN_OK;
}

typedef struct parse_state {
    nn_config *c;
    const char *text; /* cursor into the source */
    int line;         /* line number of the line last handed to inih */
    int too_long;
    nn_error *err;
    int failed;
} parse_state;

/* fgets-like reader over the source text that counts lines for the handler */
static char *reader(char *str, int num, void *stream)
{
    parse_state *ps = stream;
    if (!*ps->text)
        return NULL;
    const char *line = ps->text, *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
    ps->line++;
    ps->text += len;
    if (len >= (size_t)num) {
        if (!ps->failed)
            nn_error_set(ps->err, NN_EFORMAT, "%s:%d: line is longer than %d characters",
                         ps->c->path, ps->line, num - 2);
        ps->failed = 1;
        len = (size_t)num - 1;
    }
    memcpy(str, line, len);
    str[len] = 0;
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *ps = user;
    nn_config *c = ps->c;
    char why[400], key[160];
    if (ps->failed)
        return 1;
    nn_text_escape(name, key, sizeof key, 0);
    if (!*section) {
        nn_error_set(ps->err, NN_EFORMAT, "%s:%d: key '%s' appears before any [section]",
                     c->path, ps->line, key);
        ps->failed = 1;
        return 0;
    }
    nn_config_section *s = find_mut(c, section);
    if (!s) {
        if (!valid_section(section, why, sizeof why)) {
            nn_error_set(ps->err, NN_EFORMAT, "%s:%d: %s", c->path, ps->line, why);
            ps->failed = 1;
            return 0;
        }
        s = add_section(c, section, ps->line);
        if (!s)
            return nn_error_set(ps->err, NN_ENOMEM, "out of memory"), ps->failed = 1, 0;
    }
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->kvs[i].key, name) == 0) {
            nn_error_set(ps->err, NN_EFORMAT, "%s:%d: [%s] key '%s' is set twice (first at "
                         "line %d)", c->path, ps->line, section, key, s->kvs[i].line);
            ps->failed = 1;
            return 0;
        }
    /* `key =; note` is a comment after an empty value, as `key = ; note` is to inih */
    if (value[0] == ';')
        value = "";
    if (add_kv(c, s, name, value, c->path, ps->line) != NN_OK) {
        nn_error_set(ps->err, NN_ENOMEM, "out of memory");
        ps->failed = 1;
        return 0;
    }
    return 1;
}

/* The byte length of the invisible or space-like non-ASCII character UTF-8 text q starts
 * with (U+00A0, U+1680, U+2000..U+200D, U+2028/9, U+202F, U+205F, U+2060, U+3000, U+FEFF),
 * its code point in *cp; 0 for any other. An editor shows such a character as nothing or a
 * space, so a line it starts looks like a section header that inih does not take as one. */
static size_t invisible_len(const char *q, const char *end, unsigned *cp)
{
    const unsigned char *u = (const unsigned char *)q;
    size_t n = (size_t)(end - q);
    if (n >= 2 && u[0] == 0xC2 && u[1] == 0xA0)
        return *cp = 0xA0, 2;
    if (n < 3 || (u[0] & 0xF0) != 0xE0 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80)
        return 0;
    unsigned c = (unsigned)(u[0] & 0x0F) << 12 | (unsigned)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200D) || c == 0x2028 || c == 0x2029 ||
        c == 0x202F || c == 0x205F || c == 0x2060 || c == 0x3000 || c == 0xFEFF)
        return *cp = c, 3;
    return 0;
}

/* inih reports sections only through keys: find [headers] ourselves for empty sections and
 * for header syntax errors. */
static int scan_headers(nn_config *c, nn_error *err)
{
    const char *p = c->source;
    int line = 0;
    char why[400];
    while (*p) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *q = p;
        unsigned cp = 0, first = 0; /* the first invisible non-ASCII character, if any */
        for (size_t k = 0; q < p + len; q += k ? k : 1) {
            k = invisible_len(q, p + len, &cp);
            if (!k && !isspace((unsigned char)*q))
                break;
            if (k && !first)
                first = cp;
        }
        if (first && q < p + len && *q == '[')
            return nn_error_set(err, NN_EFORMAT, "%s:%d: a section header must start the line "
                                "(spaces before it are fine); found U+%04X, an invisible or "
                                "non-ASCII space, before '['", c->path, line, first);
        if (q < p + len && *q == '[') {
            const char *close = memchr(q, ']', (size_t)(p + len - q));
            if (!close)
                return nn_error_set(err, NN_EFORMAT, "%s:%d: section header has no closing ']'",
                                    c->path, line);
            char name[256];
            size_t nlen = (size_t)(close - q - 1);
            if (nlen >= sizeof name)
                return nn_error_set(err, NN_EFORMAT, "%s:%d: section name too long", c->path,
                                    line);
            memcpy(name, q + 1, nlen);
            name[nlen] = 0;
            if (!valid_section(name, why, sizeof why))
                return nn_error_set(err, NN_EFORMAT, "%s:%d: %s", c->path, line, why);
            nn_config_section *s = find_mut(c, name);
            if (s && s->line != line)
                return nn_error_set(err, NN_EFORMAT,
                                    "%s:%d: section [%s] appears twice (first at line %d)",
                                    c->path, line, name, s->line);
            if (!s && !add_section(c, name, line))
                return nn_error_set(err, NN_ENOMEM, "out of memory");
        }
        p = nl ? nl + 1 : p + len;
    }
    return NN_OK;
}

/* CRLF (Windows) and a lone CR (old Mac editors) end a line as LF does: rewrites them to LF in
 * place, so that line numbers count what an editor shows. A UTF-8 byte-order mark at the
 * start goes too: the header scan must see the first [section] as inih does. */
static void unify_line_ends(char *s)
{
    char *w = s;
    const char *r = s;
    if ((unsigned char)r[0] == 0xEF && (unsigned char)r[1] == 0xBB && (unsigned char)r[2] == 0xBF)
        r += 3;
    for (; *r; r++) {
        if (*r == '\r') {
            *w++ = '\n';
            if (r[1] == '\n')
                r++;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

int nn_config_parse(const char *text, const char *name, nn_config **out, nn_error *err)
{
    *out = NULL;
    nn_config *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    c->path = strdup(name);
    c->source = strdup(text);
    if (!c->path || !c->source) {
        nn_config_free(c);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    unify_line_ends(c->source);
    int rc = scan_headers(c, err);
    if (rc) {
        nn_config_free(c);
        return rc;
    }
    parse_state ps = {.c = c, .text = c->source, .err = err};
    ini_max_line = LINE_MAX_LEN;
    /* Indentation means nothing in a model file: an indented `units = 10` is a key of its own,
     * never a continuation that inih would silently glue onto the previous value. */
    ini_allow_multiline = false;
    int bad = ini_parse_stream(reader, &ps, handler, &ps);
    if (!ps.failed && bad > 0) {
        nn_error_set(err, NN_EFORMAT, "%s:%d: expected 'key = value', '[section]' or a comment",
                     c->path, bad);
        ps.failed = 1;
    } else if (!ps.failed && bad < 0) {
        nn_error_set(err, NN_ENOMEM, "%s: out of memory while parsing", c->path);
        ps.failed = 1;
    }
    if (ps.failed) {
        nn_config_free(c);
        return err ? err->status : NN_EFORMAT;
    }
    *out = c;
    return NN_OK;
}

int nn_config_load(const char *path, nn_config **out, nn_error *err)
{
    *out = NULL;
    FILE *f = nn_file_fopen(path, "model file", err); /* a FIFO or device is refused, unread */
    if (!f)
        return err && err->status ? err->status : NN_EIO;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                fclose(f);
                return nn_error_set(err, NN_ENOMEM, "out of memory reading %s", path);
            }
            buf = g;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return nn_error_set(err, NN_EIO, "cannot read model file %s", path);
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        free(buf);
        return nn_error_set(err, NN_EFORMAT, "%s: contains a NUL byte; not a text file", path);
    }
    int rc = nn_config_parse(buf, path, out, err);
    free(buf);
    return rc;
}

void nn_config_free(nn_config *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->secs[i].kvs);
    for (int i = 0; i < c->n_strings; i++)
        free(c->strings[i]);
    free(c->strings);
    free(c->secs);
    free(c->path);
    free(c->source);
    free(c->text);
    free(c);
}

/* A key that --set may name: what plugin schemas use, and what the effective text gives
 * back unchanged (a ':' or a leading ';' or '[' would read as something else) */
static int valid_key(const char *k)
{
    if (!*k)
        return 0;
    for (; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '_' || *k == '-'))
            return 0;
    return 1;
}

int nn_config_put(nn_config *c, const char *section, const char *key, const char *value,
                  nn_error *err)
{
    return nn_config_put_as(c, section, key, value, "--set", err);
}

int nn_config_put_as(nn_config *c, const char *section, const char *key, const char *value,
                     const char *option, nn_error *err)
{
    char why[400], sec[160], k[160];
    nn_text_escape(section, sec, sizeof sec, 0);
    nn_text_escape(key, k, sizeof k, 0);
    if (!*key)
        return nn_error_set(err, NN_EINVAL, "--set %s.: the key is empty", sec);
    if (!valid_key(key))
        return nn_error_set(err, NN_EINVAL, "--set %s.%s: a key is made of letters, digits, "
                            "'_' and '-'", sec, k);
    /* what the model file could not hold would not survive nn_config_text() either */
    for (const char *v = value; *v; v++)
        if (*v == '\n' || *v == '\r' ||
            (*v == ';' && (v == value || isspace((unsigned char)v[-1]))))
            return nn_error_set(err, NN_EINVAL, "--set %s.%s: the value may not hold a line "
                                "break, start with ';' or hold ' ;' (a model file would read "
                                "a comment there)", sec, k);
    /* nor spaces around it: a model file's reader drops them */
    while (isspace((unsigned char)*value))
        value++;
    size_t vl = strlen(value);
    while (vl > 0 && isspace((unsigned char)value[vl - 1]))
        vl--;
    nn_config_section *s = find_mut(c, section);
    if (!s) {
        if (!valid_section(section, why, sizeof why))
            return nn_error_set(err, NN_EINVAL, "--set %s.%s: %s", sec, k, why);
        if (strncmp(section, "layer.", 6) == 0)
            return nn_error_set(err, NN_EINVAL,
                                "--set %s.%s: %s has no section [%s]; --set can change layers "
                                "but not add them", sec, k, c->path, sec);
        s = add_section(c, section, 0);
        if (!s)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    char *trimmed = strndup(value, vl);
    if (!trimmed)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    free(c->text);
    c->text = NULL;
    int rc = NN_OK, found = 0;
    for (int i = 0; i < s->n && !found; i++)
        if (strcmp(s->kvs[i].key, key) == 0) {
            found = 1;
            s->kvs[i].value = own(c, trimmed);
            s->kvs[i].file = option;
            s->kvs[i].line = 0;
            if (!s->kvs[i].value)
                rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        }
    if (!found && add_kv(c, s, key, trimmed, option, 0) != NN_OK)
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    free(trimmed);
    return rc;
}

/* Removes section.key; how ("--unset a.b", "--set a.b=") starts every message. */
static int remove_key(nn_config *c, const char *section, const char *key, const char *how,
                      nn_error *err)
{
    char sec[160], k[160];
    nn_text_escape(section, sec, sizeof sec, 0);
    nn_text_escape(key, k, sizeof k, 0);
    nn_config_section *s = find_mut(c, section);
    if (!s)
        return nn_error_set(err, NN_EINVAL, "%s: %s has no section [%s], so no key '%s' to "
                            "remove", how, c->path, sec, k);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->kvs[i].key, key) == 0) {
            free(c->text);
            c->text = NULL;
            nn_section_take(s, key, NULL);
            return NN_OK;
        }
    const char **keys = malloc(((size_t)s->n + 1) * sizeof *keys);
    if (!keys)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    char list[300] = "";
    size_t used = 0;
    for (int i = 0; i < s->n; i++) {
        keys[i] = s->kvs[i].key;
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     s->kvs[i].key);
    }
    const char *near = nn_closest(key, keys, s->n);
    char listed[320], nearby[160];
    nn_text_escape(list, listed, sizeof listed, 0);
    nn_text_escape(near, nearby, sizeof nearby, 0);
    int rc = nn_error_set(err, NN_EINVAL, "%s: [%s] in %s sets no key '%s'%s%s%s, so there is "
                          "nothing to remove (a key it does not set has its default already); "
                          "the keys it sets: %s", how, sec, c->path, k,
                          near ? " (did you mean '" : "", near ? nearby : "", near ? "'?)" : "",
                          s->n ? listed : "none");
    free(keys);
    return rc;
}

/* splits "section.key" (section may hold dots) into sec/key; returns 0 or -1 */
static int split_name(const char *name, size_t len, char *sec, size_t cap, const char **key)
{
    while (len > 0 && isspace((unsigned char)name[len - 1]))
        len--;
    if (len >= cap)
        return -1;
    memcpy(sec, name, len);
    sec[len] = 0;
    char *dot = strrchr(sec, '.');
    if (!dot || dot == sec)
        return -1;
    *dot = 0;
    *key = dot + 1;
    return 0;
}

int nn_config_set(nn_config *c, const char *assignment, nn_error *err)
{
    char shown[300], lhs[512], how[400];
    const char *key;
    nn_text_escape(assignment, shown, sizeof shown, 0);
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return nn_error_set(err, NN_EINVAL, "--set '%s': expected section.key=value (or "
                            "section.key= to remove the key)", shown);
    if (split_name(assignment, (size_t)(eq - assignment), lhs, sizeof lhs, &key) != 0)
        return nn_error_set(err, NN_EINVAL,
                            "--set '%s': expected section.key=value (e.g. train.epochs=1)",
                            shown);
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    if (!*v) { /* `--set optimizer.momentum=`: as --unset */
        snprintf(how, sizeof how, "--set %s", shown);
        return remove_key(c, lhs, key, how, err);
    }
    return nn_config_put(c, lhs, key, eq + 1, err);
}

int nn_config_unset(nn_config *c, const char *name, nn_error *err)
{
    char shown[300], sec[512], how[400];
    const char *key;
    nn_text_escape(name, shown, sizeof shown, 0);
    if (split_name(name, strlen(name), sec, sizeof sec, &key) != 0 || !*key)
        return nn_error_set(err, NN_EINVAL, "--unset '%s': expected section.key (e.g. "
                            "optimizer.momentum)", shown);
    snprintf(how, sizeof how, "--unset %s", shown);
    return remove_key(c, sec, key, how, err);
}

int nn_config_count(const nn_config *c) { return c->n; }
const nn_config_section *nn_config_at(const nn_config *c, int i) { return &c->secs[i]; }
const char *nn_config_path(const nn_config *c) { return c->path; }
const char *nn_config_source(const nn_config *c) { return c->source; }

const char *nn_config_origin(char *buf, size_t cap, const nn_config *c,
                             const nn_config_section *s, const char *name)
{
    if (s && s->line > 0)
        snprintf(buf, cap, "%s:%d: [%s]", c->path, s->line, s->name);
    else
        snprintf(buf, cap, "%s: [%s]", c->path, s ? s->name : name);
    return buf;
}

const nn_config_section *nn_config_find(const nn_config *c, const char *section)
{
    return find_mut((nn_config *)c, section);
}

const nn_kv *nn_config_get(const nn_config *c, const char *section, const char *key)
{
    const nn_config_section *s = nn_config_find(c, section);
    for (int i = 0; s && i < s->n; i++)
        if (strcmp(s->kvs[i].key, key) == 0)
            return &s->kvs[i];
    return NULL;
}

const char *nn_config_text(nn_config *c)
{
    if (c->text)
        return c->text;
    size_t cap = 256;
    for (int i = 0; i < c->n; i++) {
        cap += strlen(c->secs[i].name) + 4;
        for (int k = 0; k < c->secs[i].n; k++)
            cap += strlen(c->secs[i].kvs[k].key) + strlen(c->secs[i].kvs[k].value) + 4;
    }
    c->text = malloc(cap);
    if (!c->text)
        return "";
    size_t used = 0;
    c->text[0] = 0; /* no sections: empty text, not garbage */
    for (int i = 0; i < c->n; i++) {
        used += (size_t)snprintf(c->text + used, cap - used, "%s[%s]\n", i ? "\n" : "",
                                 c->secs[i].name);
        for (int k = 0; k < c->secs[i].n; k++)
            used += (size_t)snprintf(c->text + used, cap - used, "%s = %s\n",
                                     c->secs[i].kvs[k].key, c->secs[i].kvs[k].value);
    }
    return c->text;
}

int nn_section_take(nn_config_section *s, const char *key, nn_kv *out)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->kvs[i].key, key) == 0) {
            if (out)
                *out = s->kvs[i];
            memmove(&s->kvs[i], &s->kvs[i + 1], (size_t)(s->n - i - 1) * sizeof *s->kvs);
            s->n--;
            return 1;
        }
    return 0;
}
