/* exit_guard.c: the executable's own exit(), _exit() and _Exit(). The dynamic linker looks in
 * the executable first, so a plugin's call binds here: from inside a plugin call or plugin
 * file load (for exit(): whenever main has not returned) it is reported (crash.c) and ends
 * nntrain with NN_EXIT_PLUGIN_EXIT; every other caller (main returning, nntrain's own _exit
 * after a second SIGINT, a probe child) reaches the C library's, or a sanitizer's, with its
 * status unchanged. exit() is checked before the C library runs any atexit handler: those
 * registered after the guard's (oneDNN's, OpenMP's) ran first and tore down what a loader
 * thread's exit() left the other threads using (a SIGSEGV instead of the report). _exit and
 * _Exit must never allocate or lock. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "crash.h"

typedef void (*exit_fn)(int);
static exit_fn next_exit, next_Exit;

void nn_cli_exit_guard_init(void)
{
    /* looked up once, here: dlsym may lock, which a forked child must never need */
    *(void **)&next_exit = dlsym(RTLD_NEXT, "_exit"); /* POSIX's way to a function */
    *(void **)&next_Exit = dlsym(RTLD_NEXT, "_Exit");
}

static _Noreturn void leave(exit_fn next, int status)
{
    if (next)
        next(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

void exit(int status)
{
    nn_crash_check_exit();
    static exit_fn next_exit_c;
    if (!next_exit_c) /* main's own return reaches the C library's directly */
        *(void **)&next_exit_c = dlsym(RTLD_NEXT, "exit");
    if (next_exit_c)
        next_exit_c(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

void _exit(int status)
{
    leave(next_exit, nn_crash_quick_exit_status("_exit()", status));
}

void _Exit(int status)
{
    leave(next_Exit, nn_crash_quick_exit_status("_Exit()", status));
}
