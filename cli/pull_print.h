/* An image pull (ImagePull: an executor's GetStatus, a create's
 * Sandbox.image_pull) as `ak status` and `ak sandbox info` print it. */
#pragma once

#include <stdio.h>

#include "lib/json/writer.h"
#include "protos/ak/v1/sandbox.pb-c.h"

/* {"image","state","bytes_done","bytes_total","error"} into w. */
void cli_pull_json(struct json_writer *w, const Ak__V1__ImagePull *p);

/* "IMAGE: STATE, DONE of TOTAL bytes[: ERROR]" (no newline) to f. */
void cli_pull_print(FILE *f, const Ak__V1__ImagePull *p);
