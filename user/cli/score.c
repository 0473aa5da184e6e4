// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the 'score' command group lands; it refuses honestly. */
#include <stdio.h>

#include "subcommands.h"
#include "exitcodes.h"

int score_main(int argc, char *argv[])
{
	(void)argc;
	fprintf(stderr, "%s: '%s' is not implemented yet\n", prog, argv[0]);
	return KT_EXIT_UNAVAILABLE;
}
