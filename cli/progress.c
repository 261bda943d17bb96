#include "cli/progress.h"
#include "lib/base/time.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

void cli_progress_init(struct cli_progress *p)
{
        p->tty = isatty(2);
        p->shown = false;
        p->start_ms = ak_mono_ms();
}

void cli_progress_report(void *userdata, const char *phase, const char *detail)
{
        struct cli_progress *p = userdata;
        if (!p->tty)
                return;
        struct winsize ws;
        int width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
        char line[512];
        long long s = (ak_mono_ms() - p->start_ms) / 1000;
        snprintf(line, sizeof(line), "[%3llds] %s: %s", s, phase, detail);
        if ((int)strlen(line) >= width)
                line[width - 1] = 0;
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        p->shown = true;
}

void cli_progress_done(struct cli_progress *p)
{
        if (p->tty && p->shown)
                fputs("\r\033[K", stderr);
        p->shown = false;
}
