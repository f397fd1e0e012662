/* signals.c: one thread waits for SIGINT/SIGTERM/SIGHUP with sigwaitinfo(); every other thread
 * has them blocked. SIGPIPE is ignored: a closed pipe is a failed write, never a lost run. It never runs in signal context, so it may lock and print; it must never
 * exit while a checkpoint is being renamed into place. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "file_replace.h"
#include "signals.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void (*handler)(void *, int);
static void *handler_arg;
static int in_handler, critical, exit_code, first_signal, started, quiet_code;

void nn_signals_quiet_exit(int code)
{
    pthread_mutex_lock(&mu);
    quiet_code = code;
    pthread_mutex_unlock(&mu);
}

const char *nn_signals_name(int signum)
{
    return signum == SIGINT ? "SIGINT" : signum == SIGHUP ? "SIGHUP" : "SIGTERM";
}

static void watched(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP); /* the terminal closed: as SIGTERM, the run is checkpointed */
}

static void quit_now(int signum, const char *why)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg, "\nnntrain: %s received%s: quitting\n",
                     nn_signals_name(signum), why);
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
        n = 0;
    nn_file_temps_remove(); /* predictions or an export cut short leave no temp file */
    _exit(128 + signum);
}

static void *watch(void *unused)
{
    (void)unused;
    sigset_t set;
    watched(&set);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig < 0)
            continue;
        pthread_mutex_lock(&mu);
        if (quiet_code && !critical) {
            nn_file_temps_remove();
            _exit(quiet_code);
        }
        if (first_signal) {
            if (critical) {
                exit_code = 128 + sig; /* nn_signals_critical_end exits */
                pthread_mutex_unlock(&mu);
                fprintf(stderr, "\nnntrain: second signal: quitting once the checkpoint being "
                        "written is complete\n");
                continue;
            }
            quit_now(sig, " again");
        }
        first_signal = sig;
        if (!handler)
            quit_now(sig, "");
        void (*fn)(void *, int) = handler;
        void *arg = handler_arg;
        in_handler = 1;
        pthread_mutex_unlock(&mu);
        fn(arg, sig);
        pthread_mutex_lock(&mu);
        in_handler = 0;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int nn_signals_init(void)
{
    sigset_t set;
    watched(&set);
    pthread_mutex_lock(&mu);
    if (started) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &at, watch, NULL);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        pthread_mutex_unlock(&mu);
        return -1;
    }
    /* a reader that went away (`nntrain train ... | head -1`) makes writes fail with EPIPE
     * instead of killing the process without a checkpoint */
    signal(SIGPIPE, SIG_IGN);
    started = 1;
    pthread_mutex_unlock(&mu);
    return 0;
}

void nn_signals_set_handler(void (*fn)(void *arg, int signum), void *arg)
{
    pthread_mutex_lock(&mu);
    while (in_handler)
        pthread_cond_wait(&cv, &mu);
    handler = fn;
    handler_arg = arg;
    pthread_mutex_unlock(&mu);
}

void nn_signals_critical_begin(void)
{
    pthread_mutex_lock(&mu);
    critical++;
    pthread_mutex_unlock(&mu);
}

void nn_signals_critical_end(void)
{
    pthread_mutex_lock(&mu);
    if (critical > 0)
        critical--;
    int code = critical == 0 ? exit_code : 0;
    pthread_mutex_unlock(&mu);
    if (code)
        _exit(code);
}

int nn_signals_received(void)
{
    pthread_mutex_lock(&mu);
    int s = first_signal;
    pthread_mutex_unlock(&mu);
    return s;
}
