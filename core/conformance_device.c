/* conformance_device.c: the device conformance run (`nntrain devices test TYPE[:N]`) and the
 * device-type probe behind `nntrain devices`. It lists the checks, runs each in a child
 * process (the pack's code may crash or hang: that is a result, never the end of nntrain),
 * and prints the table. It never runs plugin code in its own process. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "conformance_internal.h"

/* what a child leaves for its parent: shared memory survives the child's crash */
typedef struct shared {
    char phase[256];
    int kernel; /* the phase is a device kernel's (nn_conf_kernel_phase) */
    nn_conf_result res;
    nn_devtype_info info;
} shared;

static shared *g_shared; /* in a child: where to report */

void nn_conf_phase(const char *fmt, ...)
{
    if (!g_shared)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_shared->phase, sizeof g_shared->phase, fmt, ap);
    va_end(ap);
    g_shared->kernel = 0;
}

void nn_conf_kernel_phase(void)
{
    if (g_shared)
        g_shared->kernel = 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef void (*child_fn)(void *arg, shared *sh);

/* Runs fn in a child with a fresh shared page; returns 0 when the child finished, or fills
 * why (a signal, an exit, a hang) and returns -1. */
static int in_child(child_fn fn, void *arg, double timeout_s, shared *sh, char *why,
                    size_t cap)
{
    int fds[2];
    memset(sh, 0, sizeof *sh);
    if (pipe(fds) != 0) {
        snprintf(why, cap, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(why, cap, "cannot fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        nn_child_default_signals(); /* die of the signal itself, so the parent can name it */
        g_shared = sh;
        fn(arg, sh);
        fflush(NULL);
        if (write(fds[1], "k", 1) != 1)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    struct pollfd pfd = {fds[0], POLLIN, 0};
    char ok = 0;
    double end = now_s() + (timeout_s > 0 ? timeout_s : 120);
    int hung = 0;
    for (;;) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0) {
            hung = 1;
            break;
        }
        int prc = poll(&pfd, 1, left);
        if (prc < 0 && errno == EINTR)
            continue;
        if (prc == 0) {
            hung = 1;
            break;
        }
        ssize_t got = read(fds[0], &ok, 1);
        if (got < 0 && errno == EINTR)
            continue;
        break;
    }
    if (hung)
        kill(pid, SIGKILL);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sh->phase[sizeof sh->phase - 1] = 0;
    if (hung) {
        snprintf(why, cap, "did not finish within %.0f s (killed) while running %s", timeout_s,
                 sh->phase[0] ? sh->phase : "setup");
        return -1;
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *ab = sigabbrev_np(sig);
        snprintf(why, cap, "CRASH: SIG%s (%s) in %s%s", ab ? ab : "?", strsignal(sig),
                 sh->phase[0] ? sh->phase : "the check's setup",
                 sh->kernel && (sig == SIGSEGV || sig == SIGBUS)
                     ? "; a plugin that dereferences device memory on the host faults like this"
                     : "");
        return -1;
    }
    if (ok != 'k' || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, cap, "the check's process exited with status %d in %s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 sh->phase[0] ? sh->phase : "the check's setup");
        return -1;
    }
    return 0;
}

/* ---- `nntrain devices`: one device type --------------------------------------------------- */

static void host_line(char *buf, size_t cap)
{
    char model[160] = "";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *v = strchr(line, ':');
            snprintf(model, sizeof model, "%s", v ? v + 2 : "");
            model[strcspn(model, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(buf, cap, "the host: %ld core%s%s%s", cores, cores == 1 ? "" : "s",
             model[0] ? ", " : "", model);
}

typedef struct probe_arg {
    nn_registry *reg;
    const char *type;
    int index;
} probe_arg;

static void probe_child(void *arg, shared *sh)
{
    const probe_arg *a = arg;
    nn_devtype_info *info = &sh->info;
    nn_dev *d = NULL;
    nn_error err = {0};
    char spec[64];
    snprintf(spec, sizeof spec, "%s:%d", a->type, a->index);
    nn_conf_phase("the %s backend's create and device_count", a->type);
    for (int i = 0; i < nn_registry_count(a->reg); i++) {
        const nn_plugin_entry *e = nn_registry_entry(a->reg, i);
        if (e->desc->kind != NN_KIND_BACKEND || strcmp(e->device, a->type) != 0)
            continue;
        const nn_backend_vtable *vt = e->desc->vtable;
        nn_instance inst;
        if (e->desc->abi_minor < 4 || !vt->device_count) {
            snprintf(info->line, sizeof info->line, "built for ABI %u.%u: rebuild it against "
                     "this SDK", e->desc->abi_major, e->desc->abi_minor);
            return;
        }
        if (nn_instance_create(&inst, e->desc, NULL, 0, spec, &err) != NN_OK) {
            snprintf(info->line, sizeof info->line, "%s", err.msg);
            return;
        }
        info->count = vt->device_count(inst.self, &err);
        nn_instance_destroy(&inst);
        if (info->count < 0) {
            char buf[96];
            const char *msg;
            nn_plugin_failure(info->count, &err, &msg, buf, sizeof buf);
            snprintf(info->line, sizeof info->line, "cannot count its devices: device_count(): "
                     "%s", msg);
            info->count = -1;
            return;
        }
        break;
    }
    if (info->count <= a->index) {
        snprintf(info->line, sizeof info->line, "%s", info->count ? "no such device"
                                                                   : "no device on this machine");
        return;
    }
    nn_conf_phase("the %s backend's open and describe", a->type);
    if (nn_dev_open(a->reg, spec, &d, &err) != NN_OK) {
        snprintf(info->line, sizeof info->line, "%s", err.msg);
        return;
    }
    nn_dev_describe(d, info->line, sizeof info->line);
    nn_dev_close(d);
}

void nn_devtype_probe(nn_registry *reg, const char *type, int index, nn_devtype_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->type, sizeof info->type, "%s", type);
    if (strcmp(type, "cpu") == 0) {
        info->count = 1;
        host_line(info->line, sizeof info->line);
        return;
    }
    for (int i = 0; i < nn_registry_count(reg); i++) {
        const nn_plugin_entry *e = nn_registry_entry(reg, i);
        if (e->desc->kind == NN_KIND_BACKEND && strcmp(e->device, type) == 0)
            info->path = e->path;
    }
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (sh == MAP_FAILED) {
        info->count = -1;
        snprintf(info->line, sizeof info->line, "cannot map shared memory");
        return;
    }
    probe_arg a = {reg, type, index};
    char why[320];
    if (in_child(probe_child, &a, 30, sh, why, sizeof why) == 0) {
        info->count = sh->info.count;
        memcpy(info->line, sh->info.line, sizeof info->line);
    } else {
        info->count = -1;
        snprintf(info->line, sizeof info->line, "%s", why);
    }
    munmap(sh, sizeof *sh);
}

/* ---- the schema row --------------------------------------------------------------------- */

/* text equal after removing blanks: "0.9, 0.999" = "0.9,0.999" */
static int same_text(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (*a != *b)
            return 0;
        if (!*a)
            return 1;
        a++;
        b++;
    }
}

static void addf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void addf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 3 >= cap)
        return;
    if (used)
        used += (size_t)snprintf(buf + used, cap - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

int nn_conf_run_schema(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    (void)dev;
    if (!c->cpu) {
        res->status = NN_CONF_SKIP;
        snprintf(res->msg, sizeof res->msg, "no CPU plugin named '%s' to compare with",
                 c->name);
        return res->status;
    }
    const nn_param_spec *a = c->cpu->desc->params, *b = c->pack->desc->params;
    char diff[sizeof res->msg] = "";
    static const char *const f[] = {"type differs", "default differs", "range differs",
                                    "choices differ", "required differs"};
    for (const nn_param_spec *s = a; s && s->name; s++) {
        const nn_param_spec *t = b;
        while (t && t->name && strcmp(t->name, s->name) != 0)
            t++;
        if (!t || !t->name) {
            addf(diff, sizeof diff, "the pack lacks key '%s'", s->name);
            continue;
        }
        const char *x[5][2] = {{NULL, NULL}, {s->def, t->def}, {s->range, t->range},
                               {s->choices, t->choices}, {NULL, NULL}};
        for (int k = 0; k < 5; k++) {
            int same = k == 0 ? s->type == t->type
                       : k == 4 ? !s->required == !t->required
                                : same_text(x[k][0], x[k][1]);
            if (!same && (k == 0 || k == 4))
                addf(diff, sizeof diff, "key '%s': %s (cpu %d, pack %d)", s->name,
                     f[k], k ? s->required : (int)s->type, k ? t->required : (int)t->type);
            else if (!same)
                addf(diff, sizeof diff, "key '%s': %s (cpu \"%s\", pack \"%s\")",
                     s->name, f[k], x[k][0] ? x[k][0] : "none", x[k][1] ? x[k][1] : "none");
        }
    }
    for (const nn_param_spec *t = b; t && t->name; t++) {
        const nn_param_spec *s = a;
        while (s && s->name && strcmp(s->name, t->name) != 0)
            s++;
        if (!s || !s->name)
            addf(diff, sizeof diff, "key '%s' is the pack's only", t->name);
    }
    if (c->kind == NN_KIND_LAYER &&
        (c->cpu->desc->caps & NN_CAP_BACKWARD) && !(c->pack->desc->caps & NN_CAP_BACKWARD))
        addf(diff, sizeof diff, "the CPU plugin can be trained through (backward), the pack's "
             "cannot");
    if (diff[0])
        nn_conf_fail(res, "%s", diff);
    return res->status;
}

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct run_arg {
    nn_registry *reg;
    const char *spec;
    const nn_conf_check *check;
} run_arg;

static void check_child(void *arg, shared *sh)
{
    const run_arg *a = arg;
    nn_dev *dev = NULL;
    nn_error err = {0};
    nn_conf_phase("opening device %s", a->spec);
    if (nn_dev_open(a->reg, a->spec, &dev, &err) != NN_OK) {
        nn_conf_fail(&sh->res, "cannot open the device: %s", err.msg);
        return;
    }
    a->check->run(a->check, dev, &sh->res);
    nn_conf_phase("closing device %s", a->spec);
    nn_dev_close(dev);
}

static const char *kind_col(const nn_conf_check *c)
{
    if (c->kind)
        return nn_kind_name(c->kind);
    return c->run == nn_conf_run_backend ? "backend" : "ops";
}

static int cmp_entries(const void *x, const void *y)
{
    const nn_plugin_entry *a = *(const nn_plugin_entry *const *)x;
    const nn_plugin_entry *b = *(const nn_plugin_entry *const *)y;
    if (a->desc->kind != b->desc->kind)
        return a->desc->kind - b->desc->kind;
    return strcmp(a->desc->name, b->desc->name);
}

/* the checks: backend and ops, then each layer, loss and optimizer of the type, by name;
 * with `only`, just the rows of that name */
static int list_checks(nn_registry *reg, const char *type, const char *only,
                       nn_conf_check **list, int *n, int *cap)
{
    if (nn_conf_device_checks(list, n, cap))
        return NN_ENOMEM;
    int total = nn_registry_count(reg), m = 0;
    const nn_plugin_entry **packs = calloc((size_t)total + 1, sizeof *packs);
    if (!packs)
        return NN_ENOMEM;
    for (int i = 0; i < total; i++) {
        const nn_plugin_entry *e = nn_registry_entry(reg, i);
        int k = e->desc->kind;
        if ((k == NN_KIND_LAYER || k == NN_KIND_LOSS || k == NN_KIND_OPTIMIZER) &&
            strcmp(e->device, type) == 0)
            packs[m++] = e;
    }
    qsort(packs, (size_t)m, sizeof *packs, cmp_entries);
    int rc = NN_OK;
    for (int i = 0; i < m && rc == NN_OK; i++) {
        const nn_plugin_entry *cpu = nn_registry_find(reg, packs[i]->desc->kind,
                                                      packs[i]->desc->name, "cpu", NULL);
        rc = nn_conf_plugin_checks(packs[i], cpu, list, n, cap);
    }
    free(packs);
    int kept = 0;
    for (int i = 0; i < *n; i++)
        if (!only || strcmp((*list)[i].name, only) == 0)
            (*list)[kept++] = (*list)[i];
    *n = kept;
    return rc;
}

int nn_conformance_run(nn_registry *reg, const nn_conformance_opts *o, FILE *out,
                       int *n_checks, int *n_failed, nn_error *err)
{
    *n_checks = *n_failed = 0;
    const char *spec = o->device;
    char type[48];
    int index;
    if (nn_dev_spec_parse(spec, type, sizeof type, &index) != 0)
        return nn_error_set(err, NN_EINVAL, "devices test '%s': " NN_DEV_SPEC_RULE, spec);
    if (strcmp(type, "cpu") == 0)
        return nn_error_set(err, NN_EINVAL, "devices test: the CPU plugins are the reference "
                            "the other devices are checked against; name a device type such "
                            "as sim or cuda");
    /* the spec is checked here without opening the device: that happens in the children */
    int has_backend = 0;
    for (int i = 0; i < nn_registry_count(reg); i++) {
        const nn_plugin_entry *e = nn_registry_entry(reg, i);
        has_backend |= e->desc->kind == NN_KIND_BACKEND && strcmp(e->device, type) == 0;
    }
    if (!has_backend) {
        char subject[80];
        snprintf(subject, sizeof subject, "devices test %s", spec);
        return nn_dev_type_missing(reg, subject, type, err);
    }
    /* two packs of the type: training refuses the ambiguity, so checking one would pass a
     * pack that cannot be used */
    const nn_plugin_problem *dup = nn_registry_conflict(reg, type);
    if (dup)
        return nn_error_set(err, NN_EEXIST, "devices test %s: %s: %s (training refuses it too; "
                            "with --plugin-override both check and train the earlier one in the "
                            "search order)", spec, dup->path, dup->reason);
    nn_devtype_info info;
    nn_devtype_probe(reg, type, (int)index, &info);
    if (info.count < 0)
        return nn_error_set(err, NN_EINVAL, "devices test %s: the %s backend (%s): %s", spec,
                            type, info.path ? info.path : "?", info.line);
    if (index < 0 || index >= info.count)
        return nn_error_set(err, NN_ENOTFOUND, "devices test %s: the %s backend has %d "
                            "device%s", spec, type, info.count, info.count == 1 ? "" : "s");
    nn_conf_check *list = NULL;
    int n = 0, cap = 0;
    if (list_checks(reg, type, o->only, &list, &n, &cap) != NN_OK) {
        free(list);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    if (o->only && n == 0) {
        free(list);
        return nn_error_set(err, NN_ENOTFOUND, "devices test: device type '%s' has no plugin "
                            "and no op named '%s'", type, o->only);
    }
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (sh == MAP_FAILED) {
        free(list);
        return nn_error_set(err, NN_ENOMEM, "cannot map shared memory");
    }
    fprintf(out, "device %s: %s\n\n%-9s %-14s %-58s %-6s %-9s %s\n", spec, info.line, "KIND",
            "NAME", "CHECK", "RESULT", "WORST", "TOL");
    double t0 = now_s();
    int passed = 0, skipped = 0;
    for (int i = 0; i < n; i++) {
        const nn_conf_check *c = &list[i];
        nn_conf_result res = {0};
        char why[sizeof res.msg];
        int finished = 0;
        if (!c->run) {
            res.status = NN_CONF_SKIP;
        } else {
            run_arg a = {reg, spec, c};
            if ((finished = in_child(check_child, &a, o->timeout_s, sh, why, sizeof why) == 0)) {
                res = sh->res;
                res.msg[sizeof res.msg - 1] = 0;
            } else {
                res.status = NN_CONF_FAIL;
                memcpy(res.msg, why, sizeof res.msg);
            }
        }
        const char *r = res.status == NN_CONF_PASS ? "pass"
                        : res.status == NN_CONF_SKIP ? "skip"
                                                     : "FAIL";
        char worst[16] = "", tol[16] = "";
        int numeric = c->run && c->run != nn_conf_run_schema && c->run != nn_conf_run_backend;
        if (numeric && finished && res.status != NN_CONF_SKIP) {
            /* a failure that is not an error beyond the tolerance (a refusal, a write past
             * a tensor) measured nothing worth showing: "-", not a reassuring 0 */
            if (res.status == NN_CONF_FAIL && !(res.worst > c->tol))
                snprintf(worst, sizeof worst, "-");
            else
                snprintf(worst, sizeof worst, "%.2g", res.worst);
            if (c->tol > 0)
                snprintf(tol, sizeof tol, "%.0g", c->tol);
            else
                snprintf(tol, sizeof tol, "exact");
        }
        char row[512];
        int len = snprintf(row, sizeof row, "%-9s %-14s %-58s %-6s %-9s %s", kind_col(c),
                           c->name, c->label, r, worst, tol);
        while (len > 0 && (size_t)len < sizeof row && row[len - 1] == ' ')
            row[--len] = 0;
        fprintf(out, "%s\n", row);
        if (res.status != NN_CONF_PASS && res.msg[0])
            fprintf(out, "%-9s %-14s   %s\n", "", "", res.msg);
        fflush(out);
        passed += res.status == NN_CONF_PASS;
        skipped += res.status == NN_CONF_SKIP;
        *n_failed += res.status == NN_CONF_FAIL;
    }
    *n_checks = n;
    fprintf(out, "\n%d check%s on %s: %d passed, %d failed, %d skipped (%.1f s)\n", n,
            n == 1 ? "" : "s", spec, passed, *n_failed, skipped, now_s() - t0);
    munmap(sh, sizeof *sh);
    free(list);
    return NN_OK;
}
