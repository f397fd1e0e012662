/* bench_registry.c: how long nntrain spends finding its plugins. Generates N trivial layer
 * plugins (one compile with the C compiler nntrain was built with, then N copies whose
 * descriptor names differ) and times nn_registry_add_dir over them, crash-isolating probe
 * child included, each run in a fresh process so that no run profits from libraries a
 * previous run left mapped.
 * A benchmark, not a test: it prints figures and fails only when it cannot measure. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#include "registry.h"

#ifndef NNBENCH_CC
#define NNBENCH_CC "cc"
#endif

/* a layer as small as a real one can be; it calls into libnncore, as real plugins do */
static const char plugin_src[] =
    "#include <stdlib.h>\n"
    "#include <nntrain/nntrain.h>\n"
    "static int c(const nn_params *p, void **s, nn_error *e)\n"
    "{ (void)e; *s = NULL; return nn_params_int(p, \"units\") > 0 ? NN_OK : NN_EINVAL; }\n"
    "static void d(void *s) { (void)s; }\n"
    "static int su(void *s, nn_layer_setup *x, nn_error *e)\n"
    "{ (void)s; (void)e; const nn_tensor *i = x->inputs[0];\n"
    "  nn_tensor_describe(&x->output, NN_F32, i->dl.ndim, i->shape); return NN_OK; }\n"
    "static int f(void *s, const nn_layer_io *io, nn_error *e)\n"
    "{ (void)s; (void)io; (void)e; return NN_OK; }\n"
    "static const nn_layer_vtable vt = {.struct_size = sizeof(nn_layer_vtable),\n"
    "  .create = c, .destroy = d, .setup = su, .forward = f};\n"
    "static const nn_param_spec ps[] = {\n"
    "  {.name = \"units\", .type = NN_PARAM_INT, .def = \"1\", .range = \"[1, inf)\",\n"
    "   .doc = \"outputs\"},\n"
    "  {.name = \"mode\", .type = NN_PARAM_ENUM, .def = \"a\", .choices = \"a|b\",\n"
    "   .doc = \"mode\"},\n"
    "  {.name = NULL}};\n"
    "static const nn_plugin_desc desc = NN_DESCRIPTOR(.kind = NN_KIND_LAYER,\n"
    "  .name = NAME, .version = \"1.0.0\", .license = \"MIT\", .summary = \"bench\",\n"
    "  .params = ps, .vtable = &vt);\n"
    "NN_PLUGIN_EXPORT(&desc);\n";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static double cpu_children_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-3;
}

/* One timed nn_registry_add_dir in a fresh child; returns wall milliseconds or -1, and in
 * *cpu the CPU milliseconds of that child and its probe (less sensitive to a busy machine). */
static double timed_scan(const char *dir, int no_probe, int want, double *cpu)
{
    double cpu0 = cpu_children_ms();
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL); /* or the child's probe would print our buffered lines again */
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        nn_registry_opts opts = {.no_probe = no_probe};
        double t0 = 1e3 * bench_now();
        nn_registry *r = nn_registry_new(&opts);
        nn_error err = {0};
        int rc = nn_registry_add_dir(r, dir, &err);
        double ms = 1e3 * bench_now() - t0;
        if (rc || nn_registry_count(r) != want || nn_registry_problem_count(r) != 0) {
            fprintf(stderr, "bench_registry: scan loaded %d of %d plugins, %d problems: %s\n",
                    nn_registry_count(r), want, nn_registry_problem_count(r),
                    nn_registry_problem_count(r) ? nn_registry_problem(r, 0)->reason : err.msg);
            ms = -1;
        }
        nn_registry_free(r);
        ssize_t w = write(fds[1], &ms, sizeof ms);
        _exit(w == (ssize_t)sizeof ms ? 0 : 1);
    }
    close(fds[1]);
    double ms = -1;
    if (pid < 0 || read(fds[0], &ms, sizeof ms) != (ssize_t)sizeof ms)
        ms = -1;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    *cpu = cpu_children_ms() - cpu0;
    return ms;
}

static int report(const char *what, const char *dir, int no_probe, int n, int runs)
{
    double t[64], c[64];
    for (int i = 0; i < runs; i++)
        if ((t[i] = timed_scan(dir, no_probe, n, &c[i])) < 0)
            return 1;
    qsort(t, (size_t)runs, sizeof *t, bench_cmp_double);
    qsort(c, (size_t)runs, sizeof *c, bench_cmp_double);
    printf("  %-27s wall median %7.2f ms (min %7.2f, max %7.2f)   cpu median %7.2f ms\n", what,
           t[runs / 2], t[0], t[runs - 1], c[runs / 2]);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 50, runs = argc > 2 ? atoi(argv[2]) : 15;
    if (n < 1 || n > 1000 || runs < 1 || runs > 64) {
        fprintf(stderr, "usage: bench_registry [PLUGINS (1..1000, 50)] [RUNS (1..64, 15)] "
                        "[DIR of PLUGINS generated before]\n");
        return 2;
    }
    umask(022); /* group-writable plugins would be refused, and the scan cut short */
    if (argc > 3) { /* a directory generated before (say, on another machine): time only */
        printf("nn_registry_add_dir over %d plugins in %s, %d runs, each in a fresh process:\n",
               n, argv[3], runs);
        int rc = report("with probe child (default)", argv[3], 0, n, runs);
        return rc ? rc : report("without probe (no_probe)", argv[3], 1, n, runs);
    }
    char dir[] = "/tmp/nnbench-registry.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_registry: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char path[512], cmd[4096];
    snprintf(path, sizeof path, "%s/plugin.c", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(plugin_src, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "bench_registry: cannot write %s\n", path);
        return 1;
    }
    /* One compile; then N copies that differ in the descriptor's name, patched in place
     * (same length), so the scan sees N distinct files and N distinct plugins. */
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -O2 -fPIC -shared -fvisibility=hidden -DNAME='\"bench_000\"' "
             "-I%s -I%s -o %s/template.so.bin %s -L%s -lnncore",
             NNBENCH_CC, NNBENCH_SDK_INC, NNBENCH_BUILD_INC, dir, path, NNBENCH_CORE_DIR);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_registry: compiling the plugin failed: %s\n", cmd);
        nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
        return 1;
    }
    snprintf(path, sizeof path, "%s/template.so.bin", dir);
    f = fopen(path, "rb");
    static char img[1 << 20];
    size_t len = f ? fread(img, 1, sizeof img, f) : 0;
    if (f)
        fclose(f);
    char *mark = len ? memmem(img, len, "bench_000", 9) : NULL;
    if (!mark || memmem(mark + 1, len - (size_t)(mark + 1 - img), "bench_000", 9)) {
        fprintf(stderr, "bench_registry: the name is not in %s exactly once\n", path);
        nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "bench_%03d", i);
        memcpy(mark, name, 9);
        snprintf(path, sizeof path, "%s/%s.so", dir, name);
        f = fopen(path, "wb");
        if (!f || fwrite(img, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "bench_registry: cannot write %s\n", path);
            return 1;
        }
    }
    int rc;
    printf("nn_registry_add_dir over %d plugins, %d runs, each in a fresh process:\n", n, runs);
    rc = report("with probe child (default)", dir, 0, n, runs);
    if (!rc)
        rc = report("without probe (no_probe)", dir, 1, n, runs);
    if (getenv("NNBENCH_KEEP"))
        printf("kept the plugins in %s\n", dir);
    else
        nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
