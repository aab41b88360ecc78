/* SPDX-License-Identifier: MIT */
/*
 * The stop flag of tools/util.h, defined once: a tool made of several
 * files has one flag, set by the handler and seen by every loop.
 */
#include "util.h"

volatile sig_atomic_t stop;

void on_stop_signal(int sig)
{
	(void)sig;
	stop = 1;
}

void stop_on_signals(void)
{
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
}
