/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every pinnet tool uses: a monotonic clock in seconds and
 * a stop flag set by SIGINT/SIGTERM.
 */
#ifndef PINNET_TOOLS_UTIL_H
#define PINNET_TOOLS_UTIL_H

#include <signal.h>
#include <time.h>

/* Set by SIGINT or SIGTERM once stop_on_signals() ran: one flag for the
 * whole program, whichever of its files reads it (util.c). */
extern volatile sig_atomic_t stop;

/* The handler that sets stop, for a tool that installs it itself. */
void on_stop_signal(int sig);

/* SIGINT and SIGTERM set stop. */
void stop_on_signals(void);

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
