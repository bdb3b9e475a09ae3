/*
 * daemon.h: `smtrail run`, the service. One libevent loop drives it all:
 * long-poll SQS, parse each message's notification (verifying SNS
 * signatures), stream the S3 objects it names through the scanner, match
 * rules, append alerts to the spool, fsync, delete the message, and deliver
 * from the spool to the sinks with retries. At-least-once in, exactly-once
 * out: a message is deleted only after every alert it produced is durable,
 * and an alert already in the spool's memory is never sent again.
 *
 * Signals: SIGHUP reloads configuration and rules atomically (a bad file
 * keeps the old ones); SIGTERM and SIGINT stop receiving, finish the work
 * in flight within a deadline, sync and return 0. Speaks sd_notify
 * (READY, RELOADING, STOPPING, WATCHDOG, STATUS) when run by systemd:
 * READY=1 once configuration, rules, destinations and the spool are
 * loaded, before the first receive; receive failures (network, SQS, AWS
 * credentials) do not fail the start, STATUS= says them ("receiving
 * (receive failing, N in a row: ReceiveMessage: ...)").
 */
#ifndef SMTRAIL_DAEMON_H
#define SMTRAIL_DAEMON_H

#include <stdbool.h>

#include "common.h"
#include "log.h"

struct daemon_opts {
	const char *config_path;
	const char *rules_path; /* NULL: the config's */
	enum log_level log_level;
	bool log_level_given; /* else the config's */
};

/* Runs until told to stop. Returns an exit status: 0 clean stop, 1 a
 * runtime failure (spool I/O), 2 bad configuration at start. */
int daemon_run(const struct daemon_opts *o);

#endif
