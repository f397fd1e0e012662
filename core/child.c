/* child.c: the signal reset and the cause-of-death sentence shared by the core's child
 * processes (registry probes, plugins test checks). Never forks by itself. */
#define _GNU_SOURCE /* sigabbrev_np */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "child.h"

void nn_child_default_signals(void)
{
    static const int deadly[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (size_t k = 0; k < sizeof deadly / sizeof *deadly; k++)
        sigaction(deadly[k], &dfl, NULL);
}

void nn_child_describe(int status, const char *when, char *buf, size_t cap)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(buf, cap, "crashed%s: SIG%s (%s)", when, abbrev ? abbrev : "?",
                 strsignal(sig));
    } else if (WIFEXITED(status)) {
        snprintf(buf, cap, "called exit(%d)%s (a plugin must never exit)", WEXITSTATUS(status),
                 when);
    } else {
        snprintf(buf, cap, "died%s (wait status %d)", when, status);
    }
}
