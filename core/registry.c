/* registry.c: scans plugin directories, probes each file in a child process, then loads and
 * validates descriptors (registry_desc.c) before any plugin function can run. It must never
 * crash or exit because of a plugin: every failure becomes a problem entry carrying its
 * reason. */
#define _GNU_SOURCE /* RTLD_NODELETE */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "crash.h"
#include "nntrain/nntrain.h"
#include "registry.h"
#include "registry_desc.h"
#include "safe_path.h"

typedef struct pending {
    char *path;
    int done;     /* loaded (or recorded as crashed) already */
    int rc;       /* its status once done */
    nn_error err; /* its first problem once done */
} pending;

struct nn_registry {
    nn_registry_opts opts;
    nn_plugin_entry *entries;
    int n_entries, cap_entries;
    nn_plugin_problem *problems;
    int n_problems, cap_problems;
    char **strings; /* owned paths and reasons */
    int n_strings, cap_strings;
    void **handles;
    int n_handles, cap_handles;
    int n_files;
    pending *pend;
    int n_pend, cap_pend;
};

#define GROW(arr, n, cap)                                                      \
    ((n) < (cap) ? 0                                                           \
                 : ((cap) = (cap) ? (cap) * 2 : 16,                            \
                    grow_ptr((void **)&(arr), (size_t)(cap) * sizeof *(arr))))

static int grow_ptr(void **p, size_t bytes)
{
    void *q = realloc(*p, bytes);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

static const char *keep(nn_registry *r, const char *s)
{
    if (GROW(r->strings, r->n_strings, r->cap_strings))
        return "(out of memory)";
    char *d = strdup(s);
    if (!d)
        return "(out of memory)";
    r->strings[r->n_strings++] = d;
    return d;
}

nn_registry *nn_registry_new(const nn_registry_opts *opts)
{
    nn_registry *r = calloc(1, sizeof *r);
    if (r && opts)
        r->opts = *opts;
    if (r && r->opts.probe_timeout_s <= 0)
        r->opts.probe_timeout_s = 10;
    return r;
}

void nn_registry_free(nn_registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_handles; i++)
        dlclose(r->handles[i]); /* RTLD_NODELETE: code stays mapped for late destructors */
    for (int i = 0; i < r->n_strings; i++)
        free(r->strings[i]);
    for (int i = 0; i < r->n_pend; i++)
        free(r->pend[i].path);
    free(r->pend);
    free(r->strings);
    free(r->handles);
    free(r->entries);
    free(r->problems);
    free(r);
}

static void add_problem(nn_registry *r, const char *path, int status, const char *reason)
{
    if (GROW(r->problems, r->n_problems, r->cap_problems))
        return;
    r->problems[r->n_problems++] =
        (nn_plugin_problem){keep(r, path), status, keep(r, reason), NULL, 0, NULL};
}

/* ssh-style check (safe_path.c): refuse what another user could have written; resolved is
 * where to load from */
static int check_secure(const nn_registry *r, const char *path, int is_dir, char *resolved,
                        nn_error *err)
{
    return nn_safe_path(path, is_dir, !r->opts.allow_insecure, resolved, err);
}

/* Validates and registers the descriptors of the file at path, whose handle is h. */
static int register_descs(nn_registry *r, const char *path, void *h, const void *sym,
                          nn_error *err)
{
    if (GROW(r->handles, r->n_handles, r->cap_handles) == 0)
        r->handles[r->n_handles++] = h;
    const nn_plugin_desc *const *list = sym;
    int good = 0, n = 0;
    int rc = NN_OK;
    /* a pack whose backend is refused: its kernels cannot run with another file's backend of
     * the same device type (an override would pair them), so they go with it */
    const char *lost_dev = NULL;
    char lost_why[NN_ERROR_MSG_MAX] = "";
    for (int i = 0; i < 256 && list[i] && !lost_dev; i++) {
        const nn_plugin_desc *d = list[i];
        nn_error e = {0};
        /* only a backend's descriptor is validated here; every one is below */
        if (d->abi_major == NN_ABI_MAJOR && d->abi_minor <= NN_ABI_MINOR &&
            d->struct_size >= offsetof(nn_plugin_desc, reserved) && d->kind == NN_KIND_BACKEND &&
            nn_desc_valid_name(d->name) && nn_desc_validate(d, &e) != NN_OK) {
            lost_dev = d->name;
            snprintf(lost_why, sizeof lost_why, "%s", e.msg);
        }
    }
    for (; n < 256 && list[n]; n++) {
        const nn_plugin_desc *d = list[n];
        nn_error derr = {0};
        int drc = nn_desc_validate(d, &derr);
        const char *device = (drc == NN_OK && d->device) ? d->device : "cpu";
        if (drc == NN_OK && lost_dev && d->kind != NN_KIND_BACKEND &&
            strcmp(device, lost_dev) == 0)
            drc = nn_error_set(&derr, NN_EABI, "%s '%s' (device %s): refused with its file's "
                               "backend, which cannot run it: %s", nn_kind_name(d->kind),
                               d->name, device, lost_why);
        const nn_plugin_entry *dup = NULL;
        for (int i = 0; drc == NN_OK && i < r->n_entries; i++) {
            const nn_plugin_entry *e = &r->entries[i];
            if (e->desc->kind == d->kind && strcmp(e->desc->name, d->name) == 0 &&
                strcmp(e->device, device) == 0)
                dup = e;
        }
        if (dup && strcmp(dup->path, path) == 0) {
            drc = nn_error_set(&derr, NN_EEXIST, "duplicate %s '%s' (device %s): listed twice in "
                               "%s's descriptor list; remove one of the two",
                               nn_kind_name(d->kind), d->name, device, path);
        } else if (dup && !r->opts.allow_override) {
            drc = nn_error_set(&derr, NN_EEXIST,
                               "duplicate %s '%s' (device %s): already provided by %s; remove "
                               "one of the two files or pass --plugin-override to let the "
                               "earlier one in the search order win",
                               nn_kind_name(d->kind), d->name, device, dup->path);
        } else if (dup) {
            /* override: the earlier (higher-priority) file wins; remember the shadowed one */
            nn_plugin_entry *e = (nn_plugin_entry *)dup;
            e->shadowed_path = keep(r, path);
            good++;
            continue;
        }
        if (drc != NN_OK) {
            add_problem(r, path, drc, derr.msg);
            /* its name, once the header says the rest of the descriptor can be read */
            if (d->abi_major == NN_ABI_MAJOR && d->abi_minor <= NN_ABI_MINOR &&
                d->struct_size >= offsetof(nn_plugin_desc, reserved) &&
                nn_desc_valid_name(d->name) &&
                r->n_problems && strcmp(r->problems[r->n_problems - 1].reason, derr.msg) == 0) {
                r->problems[r->n_problems - 1].name = keep(r, d->name);
                r->problems[r->n_problems - 1].kind = d->kind;
                r->problems[r->n_problems - 1].device =
                    keep(r, d->device && nn_desc_valid_name(d->device) ? d->device : "cpu");
            }
            if (rc == NN_OK)
                rc = nn_error_set(err, drc, "%s", derr.msg);
            continue;
        }
        if (GROW(r->entries, r->n_entries, r->cap_entries))
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        r->entries[r->n_entries++] = (nn_plugin_entry){d, keep(r, path), device, NULL};
        good++;
    }
    if (n == 0) {
        rc = nn_error_set(err, NN_EABI, "entry symbol '%s' lists no descriptor",
                          NN_PLUGIN_SYMBOL_NAME);
        add_problem(r, path, rc, err->msg);
    }
    return rc;
}

/* Points stdout at /dev/null while a plugin's constructors run: a line a constructor prints
 * would sit among nntrain's own output (`plugins check`'s "ok ..." lines) as if it were
 * one. stderr stays: a plugin's diagnostics and a crash report still show. returns the saved
 * descriptor for restore_stdout, or -1 when nothing was changed. */
static int quiet_stdout(void)
{
    fflush(stdout);
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int saved = null_fd >= 0 ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
    if (saved >= 0 && dup2(null_fd, STDOUT_FILENO) < 0) {
        close(saved);
        saved = -1;
    }
    if (null_fd >= 0)
        close(null_fd);
    return saved;
}

static void restore_stdout(int saved)
{
    if (saved < 0)
        return;
    fflush(stdout); /* what the constructor left in stdio's buffer goes to /dev/null too */
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

/* dlopen + dlsym + validation of every descriptor; registers the good ones. Runs in the
 * probe child too (record == 0), where only surviving it matters. */
static int load_file(nn_registry *r, const char *path, int record, nn_error *err)
{
    nn_error local = {0};
    if (!err)
        err = &local;
    char resolved[PATH_MAX];
    int rc = check_secure(r, path, 0, resolved, err);
    if (rc)
        goto fail;
    dlerror();
    /* the checked file itself: a symlink on the way could be changed after the check */
    nn_crash_enter_file(path, "loading it (dlopen runs its ELF constructors)");
    int saved_out = quiet_stdout();
    void *h = dlopen(resolved, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    restore_stdout(saved_out);
    nn_crash_leave();
    if (!h) {
        const char *e = dlerror();
        rc = nn_error_set(err, NN_EDLOPEN, "cannot load: %s", e ? e : "dlopen failed");
        dlerror(); /* a second call frees glibc's thread-local message */
        goto fail;
    }
    dlerror();
    void *sym = dlsym(h, NN_PLUGIN_SYMBOL_NAME);
    if (!sym) {
        const char *e = dlerror();
        rc = nn_error_set(err, NN_EABI,
                          "no entry symbol '%s' (is this an nntrain plugin? build it with "
                          "NN_PLUGIN_EXPORT): %s", NN_PLUGIN_SYMBOL_NAME, e ? e : "");
        dlerror();
        dlclose(h);
        goto fail;
    }
    if (!record) { /* the child only proves that loading and reading do not crash */
        const nn_plugin_desc *const *l = sym;
        for (int i = 0; i < 256 && l[i]; i++)
            nn_desc_validate(l[i], NULL);
        return NN_OK;
    }
    /* a descriptor pointing at nothing faults here: name the file */
    nn_crash_enter_file(path, "reading its descriptors");
    rc = register_descs(r, path, h, sym, err);
    nn_crash_leave();
    return rc;
fail:
    if (record)
        add_problem(r, path, rc, err->msg);
    return rc;
}


/* Loads pending file i in this process and records its outcome. */
static void load_pending(nn_registry *r, int i)
{
    pending *p = &r->pend[i];
    p->rc = load_file(r, p->path, 1, &p->err);
    p->done = 1;
}

/* Probes pending files [from, n) in one child. The child reports "B i" before and "E i" after
 * each file; a file the child got through is loaded here at once, while the child goes on
 * with the next one, so probing costs little more wall time than loading. Returns the index
 * after the file the child died or hung on (recorded as a problem), or n when it got through.
 * When no child can be made, returns from unchanged: the caller loads the rest unprobed. */
static int probe_from(nn_registry *r, int from)
{
    int fds[2];
    if (pipe(fds) != 0)
        return from;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return from;
    }
    if (pid == 0) {
        close(fds[0]);
        nn_child_default_signals(); /* die of the signal itself, so the parent can name it */
        /* what a constructor prints here would read as nntrain's own lines, printed once
         * more by the load in process: the parent reports how the child ended instead */
        int null_fd = open("/dev/null", O_WRONLY);
        if (null_fd >= 0) {
            dup2(null_fd, STDOUT_FILENO);
            dup2(null_fd, STDERR_FILENO);
            close(null_fd);
        }
        for (int i = from; i < r->n_pend; i++) {
            char line[32];
            int len = snprintf(line, sizeof line, "B %d\n", i);
            if (write(fds[1], line, (size_t)len) < 0)
                _exit(3);
            load_file(r, r->pend[i].path, 0, NULL);
            len = snprintf(line, sizeof line, "E %d\n", i);
            if (write(fds[1], line, (size_t)len) < 0)
                _exit(3);
        }
        _exit(0);
    }
    close(fds[1]);
    int begun = -1, ended = -1, timed_out = 0;
    char buf[256];
    size_t have = 0;
    struct pollfd pfd = {fds[0], POLLIN, 0};
    for (;;) {
        int prc = poll(&pfd, 1, (int)(r->opts.probe_timeout_s * 1000));
        if (prc == 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        if (prc < 0 && errno == EINTR)
            continue;
        ssize_t got = read(fds[0], buf + have, sizeof buf - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = 0;
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = 0;
            int idx;
            if (sscanf(buf, "B %d", &idx) == 1 && idx >= from && idx < r->n_pend) {
                begun = idx;
            } else if (sscanf(buf, "E %d", &idx) == 1 && idx == begun) {
                ended = idx;
                load_pending(r, idx); /* proven harmless: load it while the child goes on */
            }
            size_t used = (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have - used + 1);
            have -= used;
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (begun >= 0 && ended != begun) {
        char why[200];
        if (timed_out)
            snprintf(why, sizeof why, "hung while loading (killed after %g s)",
                     r->opts.probe_timeout_s);
        else
            nn_child_describe(status, " while loading", why, sizeof why);
        pending *p = &r->pend[begun];
        p->rc = nn_error_set(&p->err, NN_ECANCELED, "%s", why);
        p->done = 1;
        add_problem(r, p->path, p->rc, why);
        return begun + 1;
    }
    if (begun < 0)
        return from; /* the child could not even start: the caller loads unprobed */
    /* it died between two files (not in a plugin): probe the rest in a new child */
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && ended + 1 < r->n_pend)
        return ended + 1;
    return r->n_pend;
}

static int add_pending(nn_registry *r, const char *path)
{
    if (GROW(r->pend, r->n_pend, r->cap_pend))
        return NN_ENOMEM;
    memset(&r->pend[r->n_pend], 0, sizeof *r->pend);
    r->pend[r->n_pend].path = strdup(path);
    if (!r->pend[r->n_pend].path)
        return NN_ENOMEM;
    r->n_pend++;
    return NN_OK;
}

/* Probes and loads all pending files in order; returns the first failing file's status
 * with its message in err (for add_file). */
static int flush_pending(nn_registry *r, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; !r->opts.no_probe && i < r->n_pend;) {
        int next = probe_from(r, i);
        if (next == i)
            break; /* no child possible: load in process */
        i = next;
    }
    for (int i = 0; i < r->n_pend; i++) {
        pending *p = &r->pend[i];
        if (!p->done)
            load_pending(r, i);
        r->n_files++;
        if (p->rc && rc == NN_OK) {
            rc = p->rc;
            if (err)
                *err = p->err;
        }
        free(p->path);
    }
    r->n_pend = 0;
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 (with the reason in why) when the *.so entry at path is not a regular file, or a link to
 * one: a directory, a FIFO (which open() would block on), a device (/dev/zero), a socket, a
 * dangling link or a link loop. Looked at with stat() only: nothing here opens it. */
static int not_a_plugin_file(const char *path, char *why, size_t cap)
{
    struct stat st, lst;
    char target[PATH_MAX] = "", via[PATH_MAX + 40] = "";
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        ssize_t tl = readlink(path, target, sizeof target - 1);
        target[tl > 0 ? tl : 0] = 0;
        snprintf(via, sizeof via, " (a symbolic link to '%s')", target);
    }
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ELOOP)
            snprintf(why, cap, "a symbolic link loop%s: %s; not a plugin file", via,
                     strerror(e));
        else if (e == ENOENT && *via)
            snprintf(why, cap, "a dangling symbolic link: '%s' does not exist", target);
        else
            snprintf(why, cap, "cannot look at it%s: %s", via, strerror(e));
        return 1;
    }
    const char *what = S_ISREG(st.st_mode)    ? NULL
                       : S_ISDIR(st.st_mode)  ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device file"
                                                                    : "not a regular file";
    if (!what)
        return 0;
    snprintf(why, cap, "%s%s, not a plugin file (a plugin is a regular file); not opened", what,
             via);
    return 1;
}

/* Queues dir's *.so files (sorted); returns an error only for the directory itself. */
static int queue_dir(nn_registry *r, const char *dir, nn_error *err)
{
    char resolved[PATH_MAX];
    int rc = check_secure(r, dir, 1, resolved, err);
    if (rc)
        return rc;
    DIR *d = opendir(resolved);
    if (!d)
        return nn_error_set(err, NN_EIO, "cannot read plugin directory %s: %s", dir,
                            strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0)
            continue;
        if (GROW(names, n, cap))
            break;
        names[n] = malloc(strlen(dir) + l + 2);
        if (!names[n])
            break;
        sprintf(names[n], "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) /* an empty directory has no list at all: qsort(NULL) is undefined */
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char why[PATH_MAX + 160];
        if (not_a_plugin_file(names[i], why, sizeof why)) {
            add_problem(r, names[i], NN_EIO, why);
            r->n_files++; /* looked at, and counted by `plugins check` */
        } else
            add_pending(r, names[i]);
        free(names[i]);
    }
    free(names);
    return NN_OK;
}

int nn_registry_add_dir(nn_registry *r, const char *dir, nn_error *err)
{
    int rc = queue_dir(r, dir, err);
    if (rc) {
        add_problem(r, dir, rc, err ? err->msg : "directory refused");
        return rc;
    }
    flush_pending(r, NULL);
    return NN_OK;
}

int nn_registry_add_file(nn_registry *r, const char *path, nn_error *err)
{
    if (add_pending(r, path))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = flush_pending(r, err);
    if (rc && err)
        nn_error_prefix(err, "%s", path);
    return rc;
}

int nn_registry_scan(nn_registry *r, const char *const *dirs, int ndirs, const char *install_dir,
                     nn_error *err)
{
    for (int i = 0; i < ndirs; i++) {
        nn_error derr = {0};
        int rc = queue_dir(r, dirs[i], &derr);
        if (rc) {
            nn_error_set(err, rc, "--plugin-dir %s: %s", dirs[i], derr.msg);
            flush_pending(r, NULL);
            return rc;
        }
    }
    const char *env = getenv("NNTRAIN_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok;
             tok = strtok_r(NULL, ":", &save)) {
            nn_error derr = {0};
            if (tok[0] != '/') {
                /* resolved against whatever directory nntrain happens to run in: anyone who
                 * can choose that directory could choose the plugins */
                add_problem(r, tok, NN_EPERM, "NNTRAIN_PLUGIN_PATH entry is a relative path "
                            "(it would be looked up in the working directory); ignored: use "
                            "an absolute path");
                continue;
            }
            if (queue_dir(r, tok, &derr) != NN_OK) {
                char why[NN_ERROR_MSG_MAX + 32];
                snprintf(why, sizeof why, "NNTRAIN_PLUGIN_PATH: %s", derr.msg);
                add_problem(r, tok, derr.status, why);
            }
        }
        free(copy);
    }
    struct stat st;
    if (install_dir && stat(install_dir, &st) == 0) {
        nn_error derr = {0};
        if (queue_dir(r, install_dir, &derr) != NN_OK)
            add_problem(r, install_dir, derr.status, derr.msg);
    }
    flush_pending(r, NULL);
    return NN_OK;
}

int nn_registry_count(const nn_registry *r) { return r->n_entries; }
const nn_plugin_entry *nn_registry_entry(const nn_registry *r, int i) { return &r->entries[i]; }
int nn_registry_problem_count(const nn_registry *r) { return r->n_problems; }

const nn_plugin_problem *nn_registry_problem_named(const nn_registry *r, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < r->n_problems; i++) {
        const nn_plugin_problem *p = nn_registry_problem(r, i);
        const char *base = strrchr(p->path, '/') ? strrchr(p->path, '/') + 1 : p->path;
        if ((p->name && strcmp(p->name, name) == 0) ||
            (strncmp(base, name, nl) == 0 && strcmp(base + nl, ".so") == 0))
            return p;
    }
    return NULL;
}
const nn_plugin_problem *nn_registry_problem(const nn_registry *r, int i)
{
    return &r->problems[i];
}
int nn_registry_file_count(const nn_registry *r) { return r->n_files; }

/* 1 when the file at path is named after a plugin: NAME.so or libNAME.so */
static int file_named(const char *path, const char *name)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char plain[300], lib[300];
    snprintf(plain, sizeof plain, "%s.so", name);
    snprintf(lib, sizeof lib, "lib%s.so", name);
    return strcmp(base, plain) == 0 || strcmp(base, lib) == 0;
}

/* The problem of a file that failed to load and declared (kind, name), else of one named after
 * name whose descriptor could not be read: why a lookup of name finds nothing. */
static const nn_plugin_problem *failed_file_named(const nn_registry *r, int kind,
                                                  const char *name)
{
    for (int i = 0; i < r->n_problems; i++)
        if (r->problems[i].name && r->problems[i].kind == kind &&
            strcmp(r->problems[i].name, name) == 0)
            return &r->problems[i];
    for (int i = 0; i < r->n_problems; i++)
        if (!r->problems[i].name && file_named(r->problems[i].path, name))
            return &r->problems[i];
    return NULL;
}

const nn_plugin_problem *nn_registry_conflict(const nn_registry *r, const char *device)
{
    for (int i = 0; i < r->n_problems; i++)
        if (r->problems[i].status == NN_EEXIST && r->problems[i].device &&
            strcmp(r->problems[i].device, device) == 0)
            return &r->problems[i];
    return NULL;
}

const nn_plugin_problem *nn_registry_refused(const nn_registry *r, int kind,
                                             const char *device)
{
    for (int i = 0; i < r->n_problems; i++)
        if (r->problems[i].kind == kind && r->problems[i].device &&
            strcmp(r->problems[i].device, device) == 0)
            return &r->problems[i];
    return NULL;
}

const nn_plugin_entry *nn_registry_find(const nn_registry *r, int kind, const char *name,
                                        const char *device, nn_error *err)
{
    if (!device)
        device = "cpu";
    const nn_plugin_entry *found = NULL;
    for (int i = 0; i < r->n_entries; i++) {
        const nn_plugin_entry *e = &r->entries[i];
        if (e->desc->kind == kind && strcmp(e->desc->name, name) == 0 &&
            strcmp(e->device, device) == 0)
            found = e;
    }
    /* a duplicate recorded as a problem makes the name ambiguous: refuse to guess */
    char needle[128];
    snprintf(needle, sizeof needle, "duplicate %s '%s' (device %s)", nn_kind_name(kind), name,
             device);
    for (int i = 0; i < r->n_problems; i++)
        if (strncmp(r->problems[i].reason, needle, strlen(needle)) == 0) {
            nn_error_set(err, NN_EEXIST, "%s: %s", r->problems[i].path, r->problems[i].reason);
            return NULL;
        }
    if (found)
        return found;
    /* same name on another device? */
    for (int i = 0; i < r->n_entries; i++) {
        const nn_plugin_entry *e = &r->entries[i];
        if (e->desc->kind == kind && strcmp(e->desc->name, name) == 0) {
            nn_error_set(err, NN_ENOTFOUND,
                         "%s '%s' exists for device '%s' but not for '%s' (%s)",
                         nn_kind_name(kind), name, e->device, device, e->path);
            return NULL;
        }
    }
    const nn_plugin_problem *why = failed_file_named(r, kind, name);
    if (why) {
        nn_error_set(err, NN_ENOTFOUND, "no %s plugin named '%s': %s failed to load: %s",
                     nn_kind_name(kind), name, why->path, why->reason);
        return NULL;
    }
    const char **cands = malloc(((size_t)r->n_entries + 1) * sizeof *cands);
    int nc = 0;
    for (int i = 0; cands && i < r->n_entries; i++)
        if (r->entries[i].desc->kind == kind)
            cands[nc++] = r->entries[i].desc->name;
    const char *near = cands ? nn_closest(name, cands, nc) : NULL;
    if (near)
        nn_error_set(err, NN_ENOTFOUND, "no %s plugin named '%s' (did you mean '%s'?)",
                     nn_kind_name(kind), name, near);
    else if (r->n_problems)
        nn_error_set(err, NN_ENOTFOUND,
                     "no %s plugin named '%s'; %d plugin file(s) failed to load, see "
                     "`nntrain plugins check`", nn_kind_name(kind), name, r->n_problems);
    else
        nn_error_set(err, NN_ENOTFOUND, "no %s plugin named '%s'; `nntrain plugins --kind %s` "
                     "lists them", nn_kind_name(kind), name, nn_kind_name(kind));
    free(cands);
    return NULL;
}
