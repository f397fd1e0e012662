/* crash.c: a per-thread record of the plugin call (or plugin file load) in progress, the
 * fatal-signal handler that prints it, and the exit guard that prints it when a plugin calls
 * exit(). The handler runs on an alternate stack and is async-signal-safe: write(2) and
 * raise() only, no stdio, no malloc, no locks. It never returns control to the crashed code:
 * it restores the default action and re-raises, so the exit status shows the signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"

#define CRASH_DEPTH 8
#define ALTSTACK_BYTES (256 * 1024)

/* kind NULL: a plugin file being loaded (path), no instance yet */
typedef struct crash_frame {
    const char *kind, *name, *path, *origin, *call;
} crash_frame;

typedef struct crash_thread {
    int depth; /* may exceed CRASH_DEPTH: deeper frames are counted, not recorded */
    int ready;    /* alternate signal stack and stack bounds looked at */
    uintptr_t stack_lo, stack_hi; /* this thread's stack, 0 when unknown */
    crash_frame f[CRASH_DEPTH];
} crash_thread;

/* initial-exec: the handler must reach it without __tls_get_addr, which may allocate */
static _Thread_local crash_thread tls __attribute__((tls_model("initial-exec")));

static atomic_int installed;
/* 0 until a thread starts reporting, 1 while it does, 2 when it is done */
static atomic_int reporting;
/* the installing (main) thread's record: a crash on a thread that entered no plugin (an
 * OpenMP worker inside a layer's forward) is reported with what the main thread was doing */
static crash_thread *_Atomic main_thread;

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* Once per thread: an alternate signal stack, so that the handler can run when the thread's
 * own stack is exhausted, and that stack's bounds, to recognise an overflow. */
static int thread_setup(void)
{
    tls.ready = 1;
    pthread_attr_t at;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &at) == 0) {
        if (pthread_attr_getstack(&at, &lo, &size) == 0) {
            tls.stack_lo = (uintptr_t)lo;
            tls.stack_hi = (uintptr_t)lo + size;
        }
        pthread_attr_destroy(&at);
    }
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return 0; /* someone (a sanitizer runtime) gave the thread one already */
    /* mmap, not malloc: the stack lives as long as its thread, and no allocator is involved */
    void *mem = mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (mem == MAP_FAILED)
        return -1;
    stack_t st = {.ss_sp = mem, .ss_size = ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&st, NULL) != 0) {
        int e = errno;
        munmap(mem, ALTSTACK_BYTES);
        errno = e;
        return -1;
    }
    return 0;
}

/* nn_crash_mirror's buffer */
static char *_Atomic mirror;
static size_t mirror_cap;

void nn_crash_mirror(char *buf, size_t cap)
{
    mirror_cap = cap;
    atomic_store(&mirror, cap ? buf : NULL);
}

static void mirror_call(const char *call)
{
    char *m = atomic_load_explicit(&mirror, memory_order_relaxed);
    if (m)
        snprintf(m, mirror_cap, "%s", call ? call : "");
}

static void push(const char *kind, const char *name, const char *path, const char *origin,
                 const char *call)
{
    crash_thread *t = &tls;
    if (!t->ready && atomic_load_explicit(&installed, memory_order_relaxed))
        thread_setup(); /* loader pool and loop threads get theirs here */
    if (t->depth < CRASH_DEPTH)
        t->f[t->depth] = (crash_frame){kind, name, path, origin, call};
    /* the frame is complete before the handler can see it */
    atomic_signal_fence(memory_order_release);
    t->depth++;
    mirror_call(call);
}

void nn_crash_enter(const nn_instance *inst, const char *call)
{
    push(inst->desc ? nn_kind_name(inst->desc->kind) : "plugin",
         inst->desc ? inst->desc->name : "?", inst->path, inst->origin, call);
}

void nn_crash_enter_file(const char *path, const char *call)
{
    push(NULL, NULL, path, NULL, call);
}

void nn_crash_leave(void)
{
    if (tls.depth > 0)
        tls.depth--;
    int d = tls.depth;
    mirror_call(d > 0 && d <= CRASH_DEPTH ? tls.f[d - 1].call : "");
}

int nn_crash_leave_rc(int rc)
{
    nn_crash_leave();
    return rc;
}

/* ---- the handler: everything below must stay async-signal-safe ---- */

typedef struct out_buf {
    char b[2048];
    size_t n;
} out_buf;

static void put(out_buf *o, const char *s)
{
    for (; s && *s && o->n < sizeof o->b - 1; s++)
        o->b[o->n++] = *s;
}

static void put_int(out_buf *o, long v)
{
    char d[24];
    int n = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < (int)sizeof d);
    if (v < 0)
        put(o, "-");
    while (n > 0 && o->n < sizeof o->b - 1)
        o->b[o->n++] = d[--n];
}

static void flush(out_buf *o)
{
    size_t off = 0;
    while (off < o->n) {
        ssize_t w = write(STDERR_FILENO, o->b + off, o->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    o->n = 0;
}

static const char *signal_words(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (aborted)";
    }
    return "a fatal signal";
}

static void put_frame(out_buf *o, const crash_frame *f)
{
    if (!f->kind) {
        put(o, "plugin file ");
        put(o, f->path ? f->path : "(unknown)");
        put(o, ", while ");
        put(o, f->call);
        return;
    }
    put(o, f->kind);
    put(o, " plugin '");
    put(o, f->name);
    put(o, "' (");
    put(o, f->path ? f->path : "file unknown");
    put(o, "), in its ");
    put(o, f->call);
    put(o, "() call");
    if (f->origin && *f->origin) {
        put(o, " for ");
        put(o, f->origin);
    }
}

/* writes the frames of t, innermost first; returns how many were recorded */
static int put_frames(out_buf *o, const crash_thread *t, const char *lead)
{
    int depth = t->depth;
    atomic_signal_fence(memory_order_acquire);
    int shown = depth < CRASH_DEPTH ? depth : CRASH_DEPTH;
    for (int i = shown - 1; i >= 0; i--) {
        put(o, i == shown - 1 ? lead : "nntrain:   called from ");
        put_frame(o, &t->f[i]);
        put(o, "\n");
    }
    return shown;
}

/* The default action, then the same signal again: it is delivered when the handler returns,
 * so the process dies of it (a core dump where enabled, 128+sig for a shell). */
static void die_of(int sig)
{
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_fatal(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int idle = 0;
    if (!atomic_compare_exchange_strong(&reporting, &idle, 1)) {
        /* another thread crashed first (loader threads running the same bad get() do): let
         * its report finish; it ends the process. A fault inside this handler never gets
         * here: the signal is blocked while it runs, so the kernel kills the process. */
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 300 && atomic_load(&reporting) != 2; i++)
            nanosleep(&ms10, NULL);
        die_of(sig);
        return;
    }
    int saved = errno;
    out_buf o;
    o.n = 0;
    put(&o, "\nnntrain: fatal signal ");
    put(&o, signal_words(sig));
    if (sig == SIGSEGV || sig == SIGBUS) {
        static const char hex[] = "0123456789abcdef";
        unsigned long a = (unsigned long)si->si_addr;
        char h[2 + 2 * sizeof a + 1];
        int n = 0;
        h[n++] = '0';
        h[n++] = 'x';
        int started = 0;
        for (int s = (int)(8 * sizeof a) - 4; s >= 0; s -= 4) {
            int d = (int)((a >> s) & 15);
            if (d || started || s == 0) {
                h[n++] = hex[d];
                started = 1;
            }
        }
        h[n] = 0;
        put(&o, " at address ");
        put(&o, h);
        /* just below the stack, in its guard pages: the stack ran out */
        if (tls.stack_lo && a < tls.stack_lo + 4096 && a + 1024 * 1024 >= tls.stack_lo)
            put(&o, ": the thread's stack overflowed (unbounded recursion or a huge local "
                    "array?)");
    }
    put(&o, "\n");
    flush(&o);
    const crash_thread *main_t = atomic_load_explicit(&main_thread, memory_order_relaxed);
    if (put_frames(&o, &tls, "nntrain: it happened in ") > 0) {
        put(&o, "nntrain: this is a bug in that plugin (or memory it was given); report it "
                "to the plugin's authors with the model file\n");
    } else if (main_t && main_t != &tls && main_t->depth > 0) {
        put(&o, "nntrain: it happened on a helper thread (thread id ");
        put_int(&o, (long)gettid());
        put(&o, ") while the main thread was in a plugin call:\n");
        put_frames(&o, main_t, "nntrain: ");
    } else {
        put(&o, "nntrain: no plugin call was running on the crashing thread: this looks like "
                "a bug in nntrain itself\n");
    }
    flush(&o);
    errno = saved;
    atomic_store(&reporting, 2);
    die_of(sig);
}

int nn_crash_install(void)
{
    if (thread_setup() != 0)
        return -1;
    atomic_store(&main_thread, &tls);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    /* no SA_RESETHAND: two threads may crash at once, and the second must not die before
     * the first has said why */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        if (sigaction(fatal_signals[i], &sa, NULL) != 0)
            return -1;
    atomic_store(&installed, 1);
    return 0;
}

/* ---- the exit guard: exit() is not the crash handler's business, but the same report ---- */

static pid_t guard_pid;
static int guard_status;
static atomic_int exit_allowed;

/* 0 until a report of an exit was written (once: the _exit that ends it must pass) */
static atomic_int exit_reported;

/* Writes the report of an exit()/_exit() (how) and returns guard_status; own_only: only this
 * thread's calls count (an _exit from a thread in no plugin call is nntrain's own, as the
 * signal watcher's second-SIGINT exit) */
static int report_exit(const char *how, int own_only)
{
    const crash_thread *main_t = atomic_load_explicit(&main_thread, memory_order_relaxed);
    int helper = !own_only && main_t && main_t != &tls && main_t->depth > 0;
    if (own_only && tls.depth == 0)
        return -1;
    int no = 0;
    if (!atomic_compare_exchange_strong(&exit_reported, &no, 1))
        return -1;
    out_buf o;
    o.n = 0;
    put(&o, "\nnntrain: ");
    put(&o, how);
    put(&o, " was called while nntrain was still running\n");
    if (put_frames(&o, &tls, "nntrain: it happened in ") > 0) {
        put(&o, "nntrain: that plugin ended the process; a plugin must report an error as a "
                "status, never exit\n");
    } else if (helper) {
        put(&o, "nntrain: it happened on a helper thread (thread id ");
        put_int(&o, (long)gettid());
        put(&o, ") while the main thread was in a plugin call:\n");
        put_frames(&o, main_t, "nntrain: ");
    } else {
        put(&o, "nntrain: no plugin call was running on that thread (a plugin's own thread or "
                "destructor, or a library nntrain uses)\n");
    }
    put(&o, "nntrain: the command did not finish: exit status ");
    put_int(&o, guard_status);
    put(&o, "\n");
    flush(&o);
    return guard_status;
}

/* main returning, or a forked child (a probe, whose parent reads its exit status itself) */
static int exit_is_ours(void)
{
    return !guard_pid || atomic_load(&exit_allowed) || getpid() != guard_pid;
}

void nn_crash_check_exit(void)
{
    if (exit_is_ours())
        return;
    fflush(NULL); /* what the run printed so far is kept */
    int status = report_exit("exit()", 0);
    _exit(status >= 0 ? status : guard_status);
}

static void on_exit_call(void)
{
    nn_crash_check_exit();
}

int nn_crash_quick_exit_status(const char *how, int status)
{
    if (exit_is_ours())
        return status;
    int mine = report_exit(how, 1);
    return mine >= 0 ? mine : status;
}

int nn_crash_guard_exit(int status)
{
    guard_pid = getpid();
    guard_status = status;
    return atexit(on_exit_call) == 0 ? 0 : -1;
}

void nn_crash_allow_exit(void)
{
    atomic_store(&exit_allowed, 1);
}
