/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every pinnet tool uses: a monotonic clock in seconds and
 * a stop flag set by SIGINT/SIGTERM.
 */
#ifndef PINNET_TOOLS_UTIL_H
#define PINNET_TOOLS_UTIL_H

#include <signal.h>
#include <time.h>

/* Set by SIGINT or SIGTERM once stop_on_signals() ran. */
static volatile sig_atomic_t stop;

static inline void on_stop_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static inline void stop_on_signals(void)
{
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
