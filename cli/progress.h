/* Progress for long operations (image builds, first boots): on a terminal,
 * one line on stderr rewritten in place ("[phase] detail", elapsed time);
 * elsewhere nothing, so logs and pipes stay clean. */
#pragma once

#include <stdbool.h>

struct cli_progress {
        bool tty;
        bool shown;
        long long start_ms;
};

void cli_progress_init(struct cli_progress *p);
/* An image_progress.report callback: userdata is a struct cli_progress. */
void cli_progress_report(void *userdata, const char *phase, const char *detail);
/* Clears the line (if one was shown). */
void cli_progress_done(struct cli_progress *p);
