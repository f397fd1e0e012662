/* plugtest.c: `nntrain plugins test`'s driver: picks the checks of the plugin's kind, runs each
 * in a child process (a crash, exit or hang becomes a failed row naming the signal), gathers
 * the rows and prints the table. It calls no plugin function itself; only children do. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
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
#include "crash.h"
#include "pt_internal.h"

void pt_add(pt_report *r, int status, const char *check, const char *worst, const char *limit,
            const char *fmt, ...)
{
    if (r->n_rows == PT_MAX_ROWS)
        return;
    pt_row *row = &r->rows[r->n_rows++];
    row->status = status;
    snprintf(row->check, sizeof row->check, "%s", check);
    snprintf(row->worst, sizeof row->worst, "%s", worst ? worst : "-");
    snprintf(row->limit, sizeof row->limit, "%s", limit ? limit : "-");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->detail, sizeof row->detail, fmt, ap);
    va_end(ap);
}

typedef struct pt_step {
    const char *name; /* for the row of a check that died */
    pt_check_fn fn;
} pt_step;

/* every kind: these two first, then the kind's checks, then the lifecycle (which uses the
 * cases found by then) */
static const pt_step common_steps[] = {
    {"schema", pt_check_schema},
    {"exports", pt_check_exports},
};
static const pt_step lifecycle_step = {"lifecycle", pt_check_lifecycle};

static const pt_step layer_steps[] = {
    {"cases", pt_check_cases},       {"gradient", pt_check_gradient},
    {"determinism", pt_check_determinism}, {"null grads", pt_check_null_grads},
    {"allocation", pt_check_alloc},
};
static const pt_step loss_steps[] = {
    {"cases", pt_check_cases},
    {"gradient", pt_check_gradient},
    {"determinism", pt_check_determinism},
    {"reduction", pt_check_reduction},
    {"allocation", pt_check_alloc},
};
static const pt_step optim_steps[] = {{"state", pt_check_optim_state}};
static const pt_step sched_steps[] = {{"schedule", pt_check_schedule},
                                      {"state", pt_check_sched_state}};
static const pt_step dataset_steps[] = {{"dataset", pt_check_dataset}};
static const pt_step transform_steps[] = {{"cases", pt_check_cases},
                                          {"transform", pt_check_transform}};
static const pt_step logger_steps[] = {{"events", pt_check_logger}};

static const pt_step *kind_steps(int kind, int *n)
{
#define STEPS(a) (*n = (int)(sizeof a / sizeof *a), a)
    switch (kind) {
    case NN_KIND_LAYER: return STEPS(layer_steps);
    case NN_KIND_LOSS: return STEPS(loss_steps);
    case NN_KIND_OPTIMIZER: return STEPS(optim_steps);
    case NN_KIND_SCHEDULER: return STEPS(sched_steps);
    case NN_KIND_DATASET: return STEPS(dataset_steps);
    case NN_KIND_TRANSFORM: return STEPS(transform_steps);
    case NN_KIND_LOGGER: return STEPS(logger_steps);
    }
#undef STEPS
    *n = 0;
    return NULL;
}

/* In the child: open the device, run the check. */
static void run_here(pt_ctx *c, const pt_step *s, pt_report *r)
{
    nn_error err = {0};
    c->dev = NULL;
    if (c->o->device && strcmp(c->o->device, "cpu") != 0 &&
        nn_dev_open(c->reg, c->o->device, &c->dev, &err) != NN_OK) {
        pt_add(r, PT_FAIL, s->name, NULL, NULL, "cannot open device %s: %s", c->o->device,
               err.msg);
        return;
    }
    s->fn(c, r);
    nn_dev_close(c->dev);
    c->dev = NULL;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

#define CALL_BYTES 64

/* Runs s in a child and fills r; a dead or hung child becomes one failed row. */
static void run_forked(pt_ctx *c, const pt_step *s, pt_report *r, double timeout_s)
{
    int fds[2];
    if (pipe(fds) != 0) {
        pt_add(r, PT_FAIL, s->name, NULL, NULL, "cannot make a pipe: %s", strerror(errno));
        return;
    }
    /* the plugin call the child is in (crash.h), shared so that a death names it */
    char *call = mmap(NULL, CALL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                      0);
    if (call == MAP_FAILED)
        call = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        if (call)
            munmap(call, CALL_BYTES);
        pt_add(r, PT_FAIL, s->name, NULL, NULL, "cannot fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        nn_child_default_signals(); /* die of the signal itself, so the parent can name it */
        if (call)
            nn_crash_mirror(call, CALL_BYTES);
        run_here(c, s, r);
        fflush(NULL);
        _exit(write_all(fds[1], r, sizeof *r) ? 3 : 0);
    }
    close(fds[1]);
    size_t got = 0;
    int timed_out = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < sizeof *r) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = timeout_s - (double)(now.tv_sec - t0.tv_sec) -
                      (double)(now.tv_nsec - t0.tv_nsec) * 1e-9;
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int prc = left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;
        if (prc == 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        if (prc < 0 && errno == EINTR)
            continue;
        ssize_t n = read(fds[0], (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char in_call[CALL_BYTES + 32] = "";
    if (call && call[0])
        snprintf(in_call, sizeof in_call, " in its %.*s() call", CALL_BYTES - 1, call);
    if (call)
        munmap(call, CALL_BYTES);
    if (got == sizeof *r && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    char why[200];
    if (timed_out)
        snprintf(why, sizeof why, "hung%s: killed after %g s", in_call, timeout_s);
    else
        nn_child_describe(status, in_call, why, sizeof why);
    memset(r, 0, sizeof *r);
    pt_add(r, PT_FAIL, s->name, NULL, NULL, "%s", why);
}

static void print_row(FILE *f, const pt_row *row)
{
    static const char *const word[] = {"pass", "FAIL", "skip"};
    fprintf(f, "  %-12s %-5s %-10s %-10s ", row->check, word[row->status], row->worst,
            row->limit);
    /* continuation lines of a detail line up under its first */
    for (const char *p = row->detail; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(f, "%.*s\n", len, p);
        if (!nl)
            return;
        p = nl + 1;
        if (*p)
            fprintf(f, "  %-12s %-5s %-10s %-10s ", "", "", "", "");
    }
    fputc('\n', f);
}

int nn_plugtest_run(nn_registry *reg, const nn_plugin_entry *e, const nn_plugtest_opts *o,
                    nn_plugtest_summary *sum, nn_error *err)
{
    nn_plugtest_summary local;
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    FILE *f = o->out ? o->out : stdout;
    pt_ctx *c = calloc(1, sizeof *c);
    pt_report *r = malloc(sizeof *r);
    if (!c || !r) {
        free(c);
        free(r);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    c->reg = reg;
    c->e = e;
    c->d = e->desc;
    c->o = o;
    c->seed = o->seed ? o->seed : 1;
    const nn_test_spec *spec = c->d->abi_minor >= 4 ? c->d->test : NULL;
    /* refused tolerances (the schema row fails on them) judge no gradient */
    if (spec && spec->struct_size >= offsetof(nn_test_spec, reserved) &&
        !pt_gc_tol_problem(spec->rtol, spec->atol, "the test spec", c->tol_refused,
                           sizeof c->tol_refused)) {
        c->rtol = spec->rtol;
        c->atol = spec->atol;
    }
    fprintf(f, "%s %s %s (device %s): %s\n", nn_kind_name(c->d->kind), c->d->name,
            c->d->version, e->device, e->path);
    fprintf(f, "  %-12s %-5s %-10s %-10s %s\n", "CHECK", "", "WORST", "LIMIT", "DETAILS");
    int n_kind;
    const pt_step *ks = kind_steps(c->d->kind, &n_kind);
    int total = 3 + n_kind;
    double timeout = o->timeout_s > 0 ? o->timeout_s : 120;
    /* rows of the kind's own checks that ran (passed or failed), and why the first one that
     * did not run was skipped: schema and exports alone prove nothing about the code */
    int exercised = 0;
    char first_skip[sizeof r->rows[0].detail + 32] = "";
    for (int i = 0; i < total; i++) {
        const pt_step *s = i < 2 ? &common_steps[i] : i < 2 + n_kind ? &ks[i - 2] : &lifecycle_step;
        memset(r, 0, sizeof *r);
        if (o->no_fork)
            run_here(c, s, r);
        else
            run_forked(c, s, r, timeout);
        if (r->n_cases > 0) {
            c->n_cases = r->n_cases < PT_MAX_CASES ? r->n_cases : PT_MAX_CASES;
            memcpy(c->cases, r->cases, sizeof c->cases);
        }
        for (int k = 0; k < r->n_rows; k++) {
            pt_row *row = &r->rows[k];
            row->status = row->status < PT_PASS || row->status > PT_SKIP ? PT_FAIL : row->status;
            print_row(f, row);
            sum->passed += row->status == PT_PASS;
            sum->failed += row->status == PT_FAIL;
            sum->skipped += row->status == PT_SKIP;
            int own = i >= 2 && i < 2 + n_kind;
            exercised += own && row->status != PT_SKIP;
            if (own && row->status == PT_SKIP && !first_skip[0])
                snprintf(first_skip, sizeof first_skip, "%s: %s", row->check, row->detail);
        }
        fflush(f);
    }
    fprintf(f, "%d check%s passed, %d failed, %d skipped\n", sum->passed,
            sum->passed == 1 ? "" : "s", sum->failed, sum->skipped);
    free(c);
    free(r);
    if (sum->failed)
        return nn_error_set(err, NN_EINVAL, "%s %s: %d check%s failed", nn_kind_name(e->desc->kind),
                            e->desc->name, sum->failed, sum->failed == 1 ? "" : "s");
    if (n_kind > 0 && exercised == 0) {
        sum->unchecked = 1;
        return nn_error_set(err, NN_EINVAL, "%s %s: nothing could be checked, so it does not "
                            "pass: every %s check was skipped (%s)", nn_kind_name(e->desc->kind),
                            e->desc->name, nn_kind_name(e->desc->kind), first_skip);
    }
    return NN_OK;
}
