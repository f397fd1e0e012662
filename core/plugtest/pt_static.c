/* pt_static.c: the checks every kind gets: the schema (and what the kind needs beyond it), the
 * file's exported symbols (read from its ELF dynamic symbol table, never by loading it), and
 * create/destroy cycles that must leave no heap block behind. */
#define _POSIX_C_SOURCE 200809L
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim.h"
#include "params_internal.h"
#include "pt_internal.h"

/* ---- what a kind needs (also used by `plugins check`) ---- */

static int reserved_key(const nn_plugin_desc *d, const char *key)
{
    static const char *const layer_keys[] = {"inputs", "lr_mult", "weight_decay_mult", NULL};
    static const char *const data_keys[] = {"val_split", "stratify", "val_type", NULL};
    if (strcmp(key, "type") == 0)
        return 1;
    const char *const *list = d->kind == NN_KIND_LAYER ? layer_keys
                              : d->kind == NN_KIND_DATASET ? data_keys : NULL;
    for (int i = 0; list && list[i]; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    if (d->kind == NN_KIND_DATASET && strncmp(key, "val_", 4) == 0)
        return 1; /* [data] val_* keys configure the validation dataset */
    if (d->kind == NN_KIND_SCHEDULER)
        for (const nn_param_spec *s = nn_optim_scheduler_core_keys(); s->name; s++)
            if (strcmp(key, s->name) == 0)
                return 1;
    return 0;
}

int nn_plugin_check_kind(const nn_plugin_desc *d, nn_error *err)
{
    const char *kind = nn_kind_name(d->kind);
    for (const nn_param_spec *s = d->params; s && s->name; s++)
        if (reserved_key(d, s->name))
            return nn_error_set(err, NN_EABI, "%s '%s': key '%s' can never reach the plugin: "
                                "nntrain reads it from the model file's section itself; "
                                "rename it", kind, d->name, s->name);
    if (d->kind == NN_KIND_OPTIMIZER) {
        const nn_param_spec *lr = NULL;
        for (const nn_param_spec *s = d->params; s && s->name; s++)
            if (strcmp(s->name, "lr") == 0)
                lr = s;
        if (!lr || lr->type != NN_PARAM_FLOAT)
            return nn_error_set(err, NN_EABI, "optimizer '%s': its schema has no float key "
                                "'lr'%s; nntrain reads the base learning rate from it (declare "
                                "{.name = \"lr\", .type = NN_PARAM_FLOAT, .def = \"0.01\", ...})",
                                d->name, lr ? " (its 'lr' is not NN_PARAM_FLOAT)" : "");
    }
    return NN_OK;
}

/* ---- exported symbols ---- */

static void extra_name(const char *name, char *names, size_t cap, int *count)
{
    if (strcmp(name, NN_PLUGIN_SYMBOL_NAME) == 0 || strncmp(name, "__odr_asan", 10) == 0)
        return; /* ASan's one-definition-rule indicators are the sanitizer's, not the plugin's */
    size_t used = strlen(names);
    if (used + 2 < cap)
        snprintf(names + used, cap - used, "%s%s", used ? " " : "", name);
    (*count)++;
}

/* One scanner per ELF class: the defined, exported (global or weak, default or protected
 * visibility) entries of .dynsym. */
#define DEFINE_ELF_SCAN(NAME, Ehdr, Shdr, Sym, ST_BIND, ST_VISIBILITY)                 \
    static int NAME(const char *buf, size_t size, const char *path, char *names,       \
                    size_t cap, int *count, nn_error *err)                             \
    {                                                                                  \
        const Ehdr *eh = (const Ehdr *)buf;                                            \
        if (size < sizeof(Ehdr) || eh->e_shoff == 0 || eh->e_shentsize != sizeof(Shdr) || \
            eh->e_shoff + (size_t)eh->e_shnum * sizeof(Shdr) > size)                   \
            return nn_error_set(err, NN_EFORMAT, "%s: no section headers to read the "   \
                                "exported symbols from", path);                        \
        const Shdr *sh = (const Shdr *)(buf + eh->e_shoff);                            \
        for (int i = 0; i < eh->e_shnum; i++) {                                        \
            if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)           \
                continue;                                                              \
            const Shdr *st = &sh[sh[i].sh_link];                                       \
            if (sh[i].sh_offset + sh[i].sh_size > size ||                              \
                st->sh_offset + st->sh_size > size)                                    \
                return nn_error_set(err, NN_EFORMAT, "%s: truncated ELF file", path);  \
            const Sym *sym = (const Sym *)(buf + sh[i].sh_offset);                     \
            size_t ns = sh[i].sh_size / sizeof(Sym);                                   \
            const char *strs = buf + st->sh_offset;                                    \
            for (size_t k = 1; k < ns; k++) {                                          \
                int bind = ST_BIND(sym[k].st_info);                                    \
                int vis = ST_VISIBILITY(sym[k].st_other);                              \
                if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name >= st->sh_size ||   \
                    (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) || \
                    (vis != STV_DEFAULT && vis != STV_PROTECTED))                      \
                    continue;                                                          \
                extra_name(strs + sym[k].st_name, names, cap, count);                  \
            }                                                                          \
        }                                                                              \
        return NN_OK;                                                                  \
    }

DEFINE_ELF_SCAN(scan_elf64, Elf64_Ehdr, Elf64_Shdr, Elf64_Sym, ELF64_ST_BIND,
                ELF64_ST_VISIBILITY)
DEFINE_ELF_SCAN(scan_elf32, Elf32_Ehdr, Elf32_Shdr, Elf32_Sym, ELF32_ST_BIND,
                ELF32_ST_VISIBILITY)

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorts the space-separated names in place, so messages do not depend on the link order */
static void sort_names(char *names, size_t cap)
{
    char *copy = strdup(names), *v[128], *save = NULL;
    int n = 0;
    for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t && n < 128;
         t = strtok_r(NULL, " ", &save))
        v[n++] = t;
    if (n > 1) {
        qsort(v, (size_t)n, sizeof *v, cmp_name);
        size_t used = 0;
        for (int i = 0; i < n && used < cap; i++)
            used += (size_t)snprintf(names + used, cap - used, "%s%s", i ? " " : "", v[i]);
    }
    free(copy);
}

int nn_plugin_extra_symbols(const char *path, char *names, size_t cap, nn_error *err)
{
    if (cap)
        names[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_error_set(err, NN_EIO, "cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t size = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *nb = realloc(buf, size + got);
        if (!nb) {
            free(buf);
            fclose(f);
            return nn_error_set(err, NN_ENOMEM, "out of memory reading %s", path);
        }
        buf = nb;
        memcpy(buf + size, chunk, got);
        size += got;
    }
    fclose(f);
    int count = 0, rc = NN_OK;
    if (size < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0)
        rc = nn_error_set(err, NN_EFORMAT, "%s is not an ELF file", path);
    else if (buf[EI_CLASS] == ELFCLASS64)
        rc = scan_elf64(buf, size, path, names, cap, &count, err);
    else if (buf[EI_CLASS] == ELFCLASS32)
        rc = scan_elf32(buf, size, path, names, cap, &count, err);
    else
        rc = nn_error_set(err, NN_EFORMAT, "%s: unknown ELF class", path);
    free(buf);
    if (cap)
        sort_names(names, cap);
    return rc < 0 ? rc : count;
}

/* ---- values for required keys ---- */

/* Candidate values of a required key, most likely to work first; returns their number (0:
 * none can be guessed, such as a path). Small integers keep derived shapes small. */
int pt_candidates(const nn_param_spec *s, char vals[][24], int max)
{
    static const char *const ints[] = {"2", "3", "1", "4"};
    static const char *const floats[] = {"0.5", "1", "0.1", "2"};
    int n = 0;
    nn_params *p = NULL;
    switch (s->type) {
    case NN_PARAM_INT:
    case NN_PARAM_INT_LIST:
    case NN_PARAM_FLOAT:
    case NN_PARAM_FLOAT_LIST: {
        int is_int = s->type == NN_PARAM_INT || s->type == NN_PARAM_INT_LIST;
        /* -1 first where allowed: in a list it usually means "infer" (reshape) */
        const char *first = is_int && s->type == NN_PARAM_INT_LIST ? "-1" : NULL;
        for (int i = -1; i < 4 && n < max; i++) {
            const char *v = i < 0 ? first : (is_int ? ints[i] : floats[i]);
            if (!v)
                continue;
            nn_param_spec one[2] = {*s, {0}};
            one[0].required = 0;
            one[0].def = NULL;
            nn_kv kv = {s->name, v, NULL, 0};
            if (nn_params_parse(one, &kv, 1, "", &p, NULL) == NN_OK)
                snprintf(vals[n++], 24, "%s", v);
            nn_params_free(p);
            p = NULL;
        }
        break;
    }
    case NN_PARAM_BOOL:
        snprintf(vals[n++], 24, "false");
        break;
    case NN_PARAM_ENUM: {
        size_t l = strcspn(s->choices, "|");
        snprintf(vals[n++], 24, "%.*s", (int)(l < 23 ? l : 23), s->choices);
        break;
    }
    default:
        break; /* text and paths cannot be guessed */
    }
    return n;
}

int pt_given_key(const char *const *given, const char *key)
{
    size_t l = strlen(key);
    for (int i = 0; given && given[i]; i++) {
        const char *g = given[i];
        while (*g == ' ')
            g++;
        if (strncmp(g, key, l) == 0 && (g[l] == '=' || g[l] == ' '))
            return 1;
    }
    return 0;
}

int pt_required_params(const nn_plugin_desc *d, const char *const *given, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (const nn_param_spec *s = d->params; s && s->name; s++) {
        if (!s->required || pt_given_key(given, s->name))
            continue;
        char vals[4][24];
        if (pt_candidates(s, vals, 4) == 0) {
            snprintf(buf, cap, "%s", s->name);
            return -1;
        }
        if (used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s=%s", used ? "; " : "",
                                     s->name, vals[0]);
    }
    return 0;
}

/* ---- schema ---- */

static int spec_problem(const nn_plugin_desc *d, char *why, size_t cap)
{
    const nn_test_spec *t = d->abi_minor >= 4 ? d->test : NULL;
    if (!t)
        return 0;
    if (t->struct_size < offsetof(nn_test_spec, reserved))
        return snprintf(why, cap, "test spec: struct_size %u is smaller than ABI %d.%d's %zu",
                        t->struct_size, NN_ABI_MAJOR, NN_ABI_MINOR,
                        offsetof(nn_test_spec, reserved)), 1;
    if (t->n_cases < 0 || t->n_cases > 64 || (t->n_cases && !t->cases))
        return snprintf(why, cap, "test spec: %d cases%s", t->n_cases,
                        t->cases ? "" : " but no array"), 1;
    if (pt_gc_tol_problem(t->rtol, t->atol, "test spec", why, cap))
        return 1;
    for (int i = 0; i < t->n_cases; i++) {
        pt_case c;
        nn_error err = {0};
        if (pt_case_from_test(&t->cases[i], d->kind, &c, &err) != NN_OK)
            return snprintf(why, cap, "test spec: case %d: %.400s", i, err.msg), 1;
    }
    return 0;
}

void pt_check_schema(pt_ctx *c, pt_report *r)
{
    const nn_plugin_desc *d = c->d;
    nn_error err = {0};
    char why[NN_ERROR_MSG_MAX], req[PT_TEXT];
    if (nn_schema_validate(d->params, &err) != NN_OK || nn_plugin_check_kind(d, &err) != NN_OK) {
        pt_add(r, PT_FAIL, "schema", NULL, NULL, "%s", err.msg);
        return;
    }
    if (spec_problem(d, why, sizeof why)) {
        pt_add(r, PT_FAIL, "schema", NULL, NULL, "%s", why);
        return;
    }
    int n = 0, nreq = 0;
    for (const nn_param_spec *s = d->params; s && s->name; s++, n++)
        nreq += s->required;
    if (pt_required_params(d, NULL, req, sizeof req) == 0) {
        /* every default, parsed together as a model file without the key would be */
        nn_params *p = NULL;
        nn_kv kvs[PT_MAX_KV];
        int nk;
        char *text;
        int rc = pt_kv_from_text(req, NULL, kvs, PT_MAX_KV, &nk, &text, &err);
        if (rc == NN_OK)
            rc = nn_params_parse(d->params, kvs, nk, "[schema]", &p, &err);
        nn_params_free(p);
        free(text);
        if (rc) {
            pt_add(r, PT_FAIL, "schema", NULL, NULL, "the defaults do not parse: %s", err.msg);
            return;
        }
    }
    /* a number key without a range takes every value (0, negatives, 1e300): said, so that an
     * author who forgot one sees it; "(-inf, inf)" says any value is meant */
    char open_keys[200] = "";
    for (const nn_param_spec *s = d->params; s && s->name; s++)
        if ((s->type == NN_PARAM_INT || s->type == NN_PARAM_FLOAT) && (!s->range || !*s->range))
            snprintf(open_keys + strlen(open_keys), sizeof open_keys - strlen(open_keys),
                     "%s'%s'", *open_keys ? ", " : "", s->name);
    pt_add(r, PT_PASS, "schema", NULL, NULL,
           "%d key%s, each documented; defaults parse and lie in their ranges%s%s%s%s%s%s", n,
           n == 1 ? "" : "s", nreq ? "; required: " : "", nreq ? req : "",
           d->kind == NN_KIND_OPTIMIZER ? "; has float 'lr'" : "",
           *open_keys ? "; note: no range declared for " : "", open_keys,
           *open_keys ? ", so every number is accepted (declare one, or \"(-inf, inf)\" to "
                        "mean any)" : "");
}

void pt_check_exports(pt_ctx *c, pt_report *r)
{
    char names[512];
    nn_error err = {0};
    int n = nn_plugin_extra_symbols(c->e->path, names, sizeof names, &err);
    if (n < 0)
        pt_add(r, PT_FAIL, "exports", NULL, "1", "%s", err.msg);
    else if (n > 0)
        pt_add(r, PT_FAIL, "exports", NULL, "1",
               "exports %d symbol%s besides " NN_PLUGIN_SYMBOL_NAME ": %s; a plugin exports only "
               "its descriptor list (build with -fvisibility=hidden; a second descriptor belongs "
               "in NN_PLUGIN_EXPORT(&a, &b))", n, n == 1 ? "" : "s", names);
    else
        pt_add(r, PT_PASS, "exports", "1", "1", NN_PLUGIN_SYMBOL_NAME " only");
    if (n > 0)
        snprintf(r->rows[r->n_rows - 1].worst, sizeof r->rows[0].worst, "%d", n + 1);
}

/* ---- create/destroy cycles ---- */

#define PT_CYCLES 1000
#define PT_PLAN_CYCLES 100

static int cycle_plans(pt_ctx *c, int n, nn_error *err)
{
    for (int i = 0; i < n; i++) {
        int rc;
        if (c->d->kind == NN_KIND_LAYER) {
            pt_layer L;
            rc = pt_layer_open(&L, c->dev, c->d, &c->cases[0], c->o->params, 1, ~0u, c->seed,
                               err);
            pt_layer_close(&L);
        } else {
            pt_loss L;
            rc = pt_loss_open(&L, c->dev, c->d, &c->cases[0], c->o->params, c->seed, err);
            pt_loss_close(&L);
        }
        if (rc)
            return rc;
    }
    return NN_OK;
}

void pt_check_lifecycle(pt_ctx *c, pt_report *r)
{
    char params[PT_TEXT];
    int guessed = !c->n_cases;
    if (c->n_cases)
        snprintf(params, sizeof params, "%s", c->cases[0].params);
    else if (pt_required_params(c->d, c->o->params, params, sizeof params) != 0) {
        pt_add(r, PT_SKIP, "lifecycle", NULL, NULL, "cannot guess required key '%s': give it "
               "with --param %s=VALUE (or a test spec)", params, params);
        return;
    }
    const nn_alloc_counter *a = c->o->alloc;
    nn_error err = {0};
    int plans = (c->d->kind == NN_KIND_LAYER || c->d->kind == NN_KIND_LOSS) && c->n_cases;
    long live0 = 0, live1 = 0, plan0 = 0, plan1 = 0;
    /* off the host, the backend's count of live device blocks around the plans (ABI 0.11) */
    int64_t dev0 = 0, dev1 = 0, bytes0 = 0, bytes1 = 0;
    int dev_counted = 0;
    if (a)
        a->track(1);
    for (int i = 0; i < PT_CYCLES + 1; i++) {
        if (i == 1 && a)
            live0 = a->live(); /* after one warm-up cycle, which may fill caches */
        nn_instance inst;
        if (pt_instance(&inst, c->d, params, c->o->params, &err) != NN_OK) {
            if (i == 0 && guessed)
                pt_add(r, PT_SKIP, "lifecycle", NULL, NULL, "create() refuses the guessed "
                       "parameters [%s]: %s; give what it needs with --param KEY=VALUE", params,
                       err.msg);
            else
                pt_add(r, PT_FAIL, "lifecycle", NULL, NULL, "create #%d failed: %s", i + 1,
                       err.msg);
            if (a)
                a->track(0);
            return;
        }
        nn_instance_destroy(&inst);
    }
    if (a)
        live1 = a->live();
    if (plans) {
        int rc = cycle_plans(c, 1, &err);
        if (a)
            plan0 = a->live();
        dev_counted = nn_dev_mem_live(c->dev, &dev0, &bytes0) == 0;
        if (rc == NN_OK)
            rc = cycle_plans(c, PT_PLAN_CYCLES, &err);
        if (a)
            plan1 = a->live();
        dev_counted = dev_counted && nn_dev_mem_live(c->dev, &dev1, &bytes1) == 0;
        if (rc) {
            if (a)
                a->track(0);
            pt_add(r, PT_FAIL, "lifecycle", NULL, NULL, "plan (create, setup, bind, destroy) "
                   "failed: %s", err.msg);
            return;
        }
    }
    if (a)
        a->track(0);
    if (dev_counted && dev1 - dev0 >= PT_PLAN_CYCLES / 2)
        pt_add(r, PT_FAIL, "device mem", NULL, "0/cycle", "100 create/setup/bind/destroy on "
               "%s left %lld device blocks (%lld bytes) behind: destroy() must free the device "
               "memory create(), setup() and bind() allocated", nn_dev_name(c->dev),
               (long long)(dev1 - dev0), (long long)(bytes1 - bytes0));
    else if (dev_counted)
        pt_add(r, PT_PASS, "device mem", NULL, "0/cycle", "100 create/setup/bind/destroy on "
               "%s: no device block left per cycle", nn_dev_name(c->dev));
    char what[160];
    snprintf(what, sizeof what, "%d create/destroy%s", PT_CYCLES,
             plans ? ", 100 create/setup/bind/destroy" : "");
    if (!a) {
        pt_add(r, PT_SKIP, "lifecycle", NULL, NULL, "%s ran; leaks not counted (this build "
               "cannot count heap blocks: a sanitizer owns malloc)", what);
        return;
    }
    long leak1 = live1 - live0, leak2 = plan1 - plan0;
    char worst[24];
    snprintf(worst, sizeof worst, "%ld", leak1 > leak2 ? leak1 : leak2);
    /* a leak in every cycle leaves at least one block per cycle; caches filled once, a few */
    if (leak1 >= PT_CYCLES / 2 || leak2 >= PT_PLAN_CYCLES / 2)
        pt_add(r, PT_FAIL, "lifecycle", worst, "0/cycle", "%s: %ld heap blocks left by "
               "create/destroy, %ld by the plans: destroy() must free what create() and "
               "setup()/bind() allocated", what, leak1, leak2);
    else
        pt_add(r, PT_PASS, "lifecycle", worst, "0/cycle", "%s: no block left per cycle", what);
}
