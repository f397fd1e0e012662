/* synonym_replacement.c: transform plugin that replaces words of an I32 token sequence [L] by
 * synonyms from a file of comma-separated word groups, mapped to ids through the dataset's
 * vocabulary file. apply() never allocates, never writes self, never touches padding (id 0). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/transform.h>

#include "nn_datafile.h"
#include "tf_common.h"

typedef struct synrep {
    int64_t n;      /* words to replace, when p is not given */
    double p;       /* per-word probability, or < 0 */
    int64_t vocab;  /* number of ids */
    int64_t *off;   /* vocab + 1 offsets into syn: the synonyms of id i are syn[off[i]..off[i+1]) */
    int32_t *syn;
    int64_t len;
} synrep;

/* The vocabulary while loading: words by id, and (word, id) sorted by word for lookups. */
typedef struct vocab_ref {
    const char *word;
    int32_t id;
} vocab_ref;

typedef struct vocab {
    char **words;
    vocab_ref *sorted;
    int64_t n;
} vocab;

static void vocab_free(vocab *v)
{
    for (int64_t i = 0; i < v->n; i++)
        free(v->words[i]);
    free(v->words);
    free(v->sorted);
}

static int cmp_refs(const void *a, const void *b)
{
    const vocab_ref *x = a, *y = b;
    int c = strcmp(x->word, y->word);
    return c ? c : (x->id > y->id) - (x->id < y->id); /* equal words: the lower id wins */
}

static int vocab_load(vocab *v, const char *path, nn_error *err)
{
    memset(v, 0, sizeof *v);
    char *text;
    size_t len, alloc = 0, l;
    int rc = nnd_read_all(path, "vocabulary", &text, &len, err);
    if (rc) {
        nn_error_prefix(err, "transform 'synonym_replacement': key 'vocab'");
        return rc;
    }
    nnd_lines it;
    nnd_lines_init(&it, text, len);
    for (char *line; (line = nnd_lines_next(&it, &l));) {
        if ((size_t)v->n == alloc) {
            size_t na = alloc ? 2 * alloc : 1024;
            char **w = realloc(v->words, na * sizeof *w);
            if (!w) {
                rc = nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
                break;
            }
            v->words = w;
            alloc = na;
        }
        if (v->n >= INT32_MAX || !(v->words[v->n] = strdup(line))) {
            rc = nn_error_set(err, NN_ENOMEM, "synonym_replacement: vocabulary '%s' too large",
                              path);
            break;
        }
        v->n++;
    }
    free(text);
    if (!rc && v->n == 0)
        rc = nn_error_set(err, NN_EFORMAT,
                          "transform 'synonym_replacement': key 'vocab': '%s' is empty (expected "
                          "one token per line, line number = id)", path);
    if (!rc && !(v->sorted = malloc((size_t)v->n * sizeof *v->sorted)))
        rc = nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
    if (rc) {
        vocab_free(v);
        return rc;
    }
    for (int64_t i = 0; i < v->n; i++)
        v->sorted[i] = (vocab_ref){v->words[i], (int32_t)i};
    qsort(v->sorted, (size_t)v->n, sizeof *v->sorted, cmp_refs);
    return NN_OK;
}

/* returns the id of word, or -1 */
static int32_t vocab_find(const vocab *v, const char *word)
{
    int64_t lo = 0, hi = v->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->sorted[mid].word, word);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->n && strcmp(v->sorted[lo].word, word) == 0)
        return v->sorted[lo].id;
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Reads the groups as flat id lists: ids[gstart[g]..gstart[g+1]) for group g. Words not in
 * the vocabulary, padding (id 0) and repeats within a group are dropped; groups left with
 * fewer than two ids cannot offer a synonym and are dropped too. */
static int groups_load(const vocab *v, const char *path, int32_t **ids_out, int64_t **gstart_out,
                       int64_t *ngroups_out, nn_error *err)
{
    char *text, *line;
    size_t len, l;
    int rc = nnd_read_all(path, "synonyms file", &text, &len, err);
    if (rc) {
        nn_error_prefix(err, "transform 'synonym_replacement': key 'synonyms'");
        return rc;
    }
    nnd_lines it;
    nnd_lines_init(&it, text, len);
    int32_t *ids = NULL;
    int64_t *gstart = malloc(sizeof *gstart);
    size_t nids = 0, ids_cap = 0, ng = 0, g_cap = 1;
    if (!gstart)
        rc = nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
    else
        gstart[0] = 0;
    while (!rc && (line = nnd_lines_next(&it, &l))) {
        if (trim(line)[0] == '#')
            continue;
        size_t first = nids;
        for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            int32_t id = vocab_find(v, trim(tok));
            if (id <= 0)
                continue;
            int dup = 0;
            for (size_t k = first; k < nids && !dup; k++)
                dup = ids[k] == id;
            if (dup)
                continue;
            if (nids == ids_cap) {
                size_t nc = ids_cap ? 2 * ids_cap : 256;
                int32_t *t = realloc(ids, nc * sizeof *t);
                if (!t) {
                    rc = nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
                    break;
                }
                ids = t;
                ids_cap = nc;
            }
            ids[nids++] = id;
        }
        if (rc)
            break;
        if (nids - first < 2) {
            nids = first;
            continue;
        }
        if (ng + 2 > g_cap) {
            size_t nc = 2 * g_cap + 2;
            int64_t *t = realloc(gstart, nc * sizeof *t);
            if (!t) {
                rc = nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
                break;
            }
            gstart = t;
            g_cap = nc;
        }
        gstart[++ng] = (int64_t)nids;
    }
    free(text);
    if (!rc && ng == 0)
        rc = nn_error_set(err, NN_EFORMAT,
                          "transform 'synonym_replacement': key 'synonyms': no line of '%s' has "
                          "two words that are in the vocabulary, so no word could be replaced "
                          "(expected comma-separated groups of words, one group per line)", path);
    if (rc) {
        free(ids);
        free(gstart);
        return rc;
    }
    *ids_out = ids;
    *gstart_out = gstart;
    *ngroups_out = (int64_t)ng;
    return NN_OK;
}

/* For each id, the union of the other members of every group it belongs to, sorted. */
static int build_table(synrep *s, const int32_t *ids, const int64_t *gstart, int64_t ng,
                       nn_error *err)
{
    s->off = calloc((size_t)s->vocab + 1, sizeof *s->off);
    if (!s->off)
        return nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
    for (int64_t g = 0; g < ng; g++)
        for (int64_t k = gstart[g]; k < gstart[g + 1]; k++)
            s->off[ids[k] + 1] += gstart[g + 1] - gstart[g] - 1;
    for (int64_t i = 0; i < s->vocab; i++)
        s->off[i + 1] += s->off[i];
    int64_t total = s->off[s->vocab];
    int64_t *fill = malloc((size_t)s->vocab * sizeof *fill);
    s->syn = malloc((size_t)(total ? total : 1) * sizeof *s->syn);
    if (!fill || !s->syn) {
        free(fill);
        return nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
    }
    memcpy(fill, s->off, (size_t)s->vocab * sizeof *fill);
    for (int64_t g = 0; g < ng; g++)
        for (int64_t k = gstart[g]; k < gstart[g + 1]; k++)
            for (int64_t m = gstart[g]; m < gstart[g + 1]; m++)
                if (m != k)
                    s->syn[fill[ids[k]]++] = ids[m];
    free(fill);
    /* remove repeats (a word in several groups with a shared synonym), compacting in place */
    int64_t w = 0;
    for (int64_t i = 0; i < s->vocab; i++) {
        int64_t a = s->off[i], b = s->off[i + 1];
        qsort(s->syn + a, (size_t)(b - a), sizeof *s->syn, cmp_i32);
        s->off[i] = w;
        for (int64_t k = a; k < b; k++)
            if (k == a || s->syn[k] != s->syn[k - 1])
                s->syn[w++] = s->syn[k];
    }
    s->off[s->vocab] = w;
    return NN_OK;
}

static void synrep_destroy(void *self)
{
    synrep *s = self;
    free(s->off);
    free(s->syn);
    free(s);
}

static int synrep_create(const nn_params *params, void **self, nn_error *err)
{
    if (nn_params_is_set(params, "p") && nn_params_is_set(params, "n"))
        return nn_error_set(err, NN_EINVAL,
                            "transform 'synonym_replacement': keys 'n' and 'p' exclude each "
                            "other: give a number of words or a probability per word");
    synrep *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "synonym_replacement: out of memory");
    s->n = nn_params_int(params, "n");
    s->p = nn_params_is_set(params, "p") ? nn_params_float(params, "p") : -1.0;
    vocab v;
    int rc = vocab_load(&v, nn_params_str(params, "vocab"), err);
    if (rc) {
        free(s);
        return rc;
    }
    int32_t *ids = NULL;
    int64_t *gstart = NULL, ng = 0;
    rc = groups_load(&v, nn_params_str(params, "synonyms"), &ids, &gstart, &ng, err);
    s->vocab = v.n;
    vocab_free(&v);
    if (!rc)
        rc = build_table(s, ids, gstart, ng, err);
    free(ids);
    free(gstart);
    if (rc) {
        synrep_destroy(s);
        return rc;
    }
    *self = s;
    return NN_OK;
}

static int synrep_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    synrep *r = self;
    int rc = tf_expect("synonym_replacement", s->in, NN_I32, 1, "I32 token ids [L]", err);
    if (rc)
        return rc;
    r->len = s->in->shape[0];
    return NN_OK;
}

static int64_t n_synonyms(const synrep *r, int32_t id)
{
    if (id <= 0 || id >= r->vocab)
        return 0;
    return r->off[id + 1] - r->off[id];
}

static int synrep_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                        nn_error *err)
{
    (void)err;
    const synrep *r = self;
    const int32_t *x = NN_I32P(in);
    int32_t *y = NN_I32P(out);
    int64_t cands = 0;
    for (int64_t i = 0; i < r->len; i++) {
        y[i] = x[i];
        cands += n_synonyms(r, x[i]) > 0;
    }
    /* n mode picks min(n, candidates) distinct positions by selection sampling (one draw per
     * candidate until enough are picked); p mode draws one uniform per candidate. Each chosen
     * word then draws which of its synonyms replaces it. */
    int64_t need = r->n < cands ? r->n : cands, left = cands;
    for (int64_t i = 0; i < r->len; i++) {
        int64_t k = n_synonyms(r, x[i]);
        if (k == 0)
            continue;
        int pick;
        if (r->p >= 0) {
            pick = nn_rng_uniform(rng) < r->p;
        } else {
            if (need == 0)
                break;
            pick = (int64_t)nn_rng_below(rng, (uint64_t)left) < need;
            left--;
            need -= pick;
        }
        if (pick)
            y[i] = r->syn[r->off[x[i]] + (int64_t)nn_rng_below(rng, (uint64_t)k)];
    }
    return NN_OK;
}

static const nn_param_spec synrep_params[] = {
    {.name = "synonyms", .type = NN_PARAM_PATH, .required = 1,
     .doc = "text file, relative to the model file: one group of synonymous words per line, "
            "comma-separated ('#' starts a comment line); words not in the vocabulary are "
            "ignored"},
    {.name = "vocab", .type = NN_PARAM_PATH, .required = 1,
     .doc = "the dataset's vocabulary (vocab.txt), relative to the model file: one token per "
            "line, line number = id (0 is padding and is never replaced or produced)"},
    {.name = "n", .type = NN_PARAM_INT, .def = "1", .range = "[0, 1000000]",
     .doc = "number of words with synonyms to replace per sequence (distinct positions)"},
    {.name = "p", .type = NN_PARAM_FLOAT, .range = "[0, 1]",
     .doc = "instead of n: probability that each word with synonyms is replaced"},
    {0},
};

static const nn_transform_vtable synrep_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = synrep_create,
    .destroy = synrep_destroy,
    .setup = synrep_setup,
    .apply = synrep_apply,
    /* no fit, no state: the tables come from files named in the parameters */
};

static const nn_plugin_desc synrep_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "synonym_replacement", .version = "1.0.0",
    .license = "MIT",
    .summary = "Replace words of an I32 token sequence [L] by synonyms from a word-group file",
    .caps = NN_CAP_THREAD_SAFE, .params = synrep_params, .vtable = &synrep_vtable);

NN_PLUGIN_EXPORT(&synrep_desc);
